// ClientFsm: what one simulated member of a huddle-load run does, as a state machine
// without I/O (the way Boost.Redis keeps its reader_fsm/writer_fsm apart from sockets).
//
// Two kinds of member:
// - stable: connects at its place in the connect ramp, takes part until the drain ends
//   (a sender writes on schedule, or within its window in a closed loop), then closes.
//   A connection that ends before then (the server's doing, or --drop-every) is followed
//   by another after a short backoff, with ?since=<last id seen> on a protocol v1 server.
// - churner: from the warm-up to the end of the measured window, joins, stays a while,
//   leaves, rests, joins again.
//
// The I/O driver (load_runner.cpp) owns the socket and the timers. Its drive loop asks
// the machine what to do (an Action), does it, and reports the outcome through the call
// that names it (connected, written, waited, closed, dropped, ended), which returns the
// next Action. While a connection is open a reader, on the same thread, reports each
// frame and the read's end; either may cut the drive's current wait short. Every call
// takes a Moment: the time and the run's phases once published, so tests drive it with
// made-up clocks. What is counted goes to the ClientSink; messages to the Accounting.
//
// Threads: one thread calls a machine's methods, except SendWindow, which the member
// watching this sender's messages (maybe on another thread) updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "load/accounting.hpp"
#include "load/error_kind.hpp"
#include "load/payload.hpp"
#include "load/run_phases.hpp"

namespace huddle::load {

// Reconnecting: a stable member gives up after this many failed attempts in a row, a
// connection that ends within k_lasting_connection_ns counting as failed (so a server
// that accepts and drops at once is not hammered).
inline constexpr std::uint32_t k_reconnect_attempts = 5;
inline constexpr std::uint64_t k_lasting_connection_ns = 1'000'000'000;
// Backoff after the first failure (doubling up to 16x), and the jitter on every attempt.
inline constexpr std::uint64_t k_backoff_ns = 100'000'000;
inline constexpr std::uint64_t k_backoff_jitter_ns = 20'000'000;
// Closed loop: with nothing seen for this long, send anyway rather than stall the run.
inline constexpr std::uint64_t k_window_stall_ns = 1'000'000'000;
// --drop-every: how long a sender waits for the acks of what it wrote before dropping.
inline constexpr std::uint64_t k_ack_wait_ns = 1'000'000'000;
// Before the phases are published, how often a waiting member looks again.
inline constexpr std::uint64_t k_phase_poll_ns = 10'000'000;
// A churner's rest between visits: uniform in [0, this].
inline constexpr std::uint64_t k_churn_rest_max_ns = 50'000'000;

// What every member shares, from the options.
struct ClientConfig {
  std::uint64_t settle_ns = 0; // without a welcome, joined after this
  bool closed_loop = true;
  std::uint64_t send_period_ns = 0; // open loop
  std::uint32_t window = 8;         // closed loop: messages in flight
  std::uint64_t senders = 0;        // in the whole run: spreads the open-loop schedules
  std::uint64_t drop_every_ns = 0;  // 0: never
  std::uint64_t churn_hold_min_ns = 0;
  std::uint64_t churn_hold_max_ns = 0;
  PayloadKind payload = PayloadKind::padding;
  std::size_t size = 64;
  std::uint64_t seed = 1;
};
ClientConfig client_config(Options const& options);

// Who a member is.
struct ClientIdentity {
  std::uint32_t index = 0;         // global: seeds its randomness
  std::uint64_t connect_at_ns = 0; // stable: its place in the connect ramp
  bool churner = false;
  std::optional<Accounting::SenderId> sender;
  Accounting::ReceiverId receiver = 0;
};

// The time, and the phases once published (nullptr before).
struct Moment {
  std::uint64_t now_ns = 0;
  Phases const* phases = nullptr;
};

// Where a member's counts go: the driver's per-thread counters; a recorder in tests.
class ClientSink {
public:
  enum class Event {
    first_attempt_over, // a stable member's first connect succeeded or failed
    connected,          // a connection opened
    connect_failed,
    reconnected,     // a stable member is back after losing its connection
    deflate_granted, // --deflate: the server took up permessage-deflate
    disconnected,    // an open connection ended
    sent,            // a message written
    delivered,       // a marker seen (not a duplicate or an error)
    count_
  };
  static constexpr std::size_t k_events = static_cast<std::size_t>(Event::count_);
  virtual void count(Event event) = 0;
  // `detail` (may be empty): the first per kind is kept for the report.
  virtual void count(ErrorKind kind, std::string_view detail) = 0;
  virtual void latency(std::uint64_t ns) = 0;
  // Closed loop: the sender with global index `sender_index` waits for its window and
  // one of its messages was seen: cut its wait short (it may run on another thread).
  virtual void wake(std::uint32_t sender_index) = 0;

protected:
  ~ClientSink() = default;
};

// Closed loop, on the sender: what the member watching its messages has seen.
struct SendWindow {
  std::atomic<std::uint64_t> seen_next{0}; // one past the highest sequence number seen
  std::atomic<bool> waiting{false};        // the sender waits: wake it on the next one
};

// What the driver does next.
struct Action {
  enum class Kind {
    connect,        // open a connection (TCP, TLS, WebSocket handshake), then connected()
    write,          // write `frame` as a text message, then written()
    wait,           // until `until_ns`, or cut short; then waited()
    close,          // send a close frame and wait for the server's, then closed()
    drop,           // close the socket without a close frame, then dropped()
    end_connection, // the drive is done with this connection: when the reader is too, ended()
    done,           // the member is finished
  };
  Kind kind = Kind::done;
  std::uint64_t until_ns = 0;         // wait
  std::optional<std::uint64_t> since; // connect: resume with ?since=
  std::string_view frame;             // write: valid until the next call
};

// How a connect ended, as the driver classified it.
struct ConnectResult {
  std::optional<ErrorKind> error; // nullopt: connected
  std::string detail;
  bool deflate = false; // --deflate was offered and taken up
};

class ClientFsm {
public:
  enum class State {
    idle,            // start() not called yet
    scheduled,       // stable: waiting for its place in the connect ramp
    connecting,      // a connect is under way
    settling,        // joined without a welcome, maybe: waits --settle before counting on it
    awaiting_phases, // the connect phase is still on: the run's timeline is not fixed
    sending,         // a sender in warm-up or measured window: waiting for the next due
                     // write, or writing
    window_full,     // closed loop: waiting until what is in flight is seen (or a stall)
    holding,         // connected, not sending: until the drain ends, its leave or drop time
    awaiting_acks,   // --drop-every: a sender waits for the acks of what it wrote
    closing,         // our close frame is out
    dropping,        // our socket is being closed without a close frame
    ending,          // the drive is done with this connection; the reader may not be
    backing_off,     // stable: between connections
    resting,         // churner: before the first visit and between visits
    done,
  };

  // `config`, `accounting` and `sink` outlive the machine (the run's, shared by all).
  ClientFsm(ClientConfig const& config, ClientIdentity const& identity, Accounting& accounting,
            ClientSink& sink);

  State state() const noexcept { return state_; }
  ClientIdentity const& identity() const noexcept { return identity_; }
  bool open() const noexcept { return open_; }
  // Closed loop, on the member that watches: the senders of its group by place k
  // (nullptr for those another member watches).
  void watch(std::uint32_t k, ClientFsm* sender);

  // The drive: each call reports what came of the last Action and returns the next.
  Action start(Moment m);
  Action connected(Moment m, ConnectResult const& result);
  Action written(Moment m, std::optional<std::string_view> error); // error: why it failed
  Action waited(Moment m, bool cut);
  Action closed(Moment m, bool timed_out);
  Action dropped(Moment m);
  Action ended(Moment m); // the connection is over: the reader has stopped too

  // The reader. frame(): true when the drive's wait is to be cut short.
  bool frame(Moment m, std::string_view text);
  // The read failed: the connection is over; the drive's wait is to be cut short.
  // `kind` and `detail` say why, as the driver classified it; not counted when we closed.
  void read_ended(ErrorKind kind, std::string_view detail);

private:
  // How this member's side ended the connection, if it did.
  enum class Ending { none, closed, dropped };

  Action next(Moment m);
  Action connect();
  Action wait(std::uint64_t until_ns) noexcept;
  Action after_connect(Moment m);
  Action take_part(Moment m);
  Action send_open_loop(Moment m);
  Action send_closed_loop(Moment m);
  Action write(Moment m);
  Action hold(Moment m);
  Action after_connection(Moment m, bool lasting);
  Action churn_rest(Moment m);
  void mark_ready();
  void plan_drop(Moment m);
  bool reconnect_due(Moment m) const;
  std::uint64_t in_flight() const noexcept;
  void notify_sender(Marker const& marker);

  ClientConfig const& config_;
  ClientIdentity identity_;
  Accounting& accounting_;
  ClientSink& sink_;
  std::minstd_rand random_; // churn, drop and backoff timing; 8 bytes, not mt19937's 2.5 KB
  State state_ = State::idle;

  SendWindow send_window_;
  std::vector<ClientFsm*> watched_;

  // Across connections.
  bool first_attempt_ = true;
  bool registered_ = false;              // accounting.ready() called for this membership
  bool v1_ = false;                      // a welcome came: the server speaks protocol v1
  std::optional<std::uint64_t> last_id_; // newest message id seen, or passed at the join
  std::uint32_t failures_ = 0;           // in a row: failed connects, short connections
  std::uint64_t drop_at_ = k_never;      // --drop-every: when this connection is dropped
  std::uint64_t next_drop_interval_ = 0;
  std::uint64_t claimed_ = 0;         // closed loop: messages this sender claimed
  std::uint64_t forgiven_ = 0;        // closed loop: after a stall, no longer waited for
  std::uint64_t next_send_ = k_never; // open loop: the schedule, once started
  std::uint64_t deadline_ = 0;        // the end of the current settle, rest, backoff or ack wait

  // Per connection.
  bool open_ = false;
  Ending ending_ = Ending::none;
  bool ready_ = false;
  bool greeted_ = false; // the first frame came (a welcome or not)
  bool resumed_ = false; // connected with ?since=
  std::uint64_t began_ = 0;
  std::uint64_t leave_at_ = 0;          // churner
  std::uint64_t replay_until_ = 0;      // resumed: ids up to this one are the server's replay
  std::uint64_t written_ = 0;           // messages written on this connection
  std::uint64_t acked_ = 0;             // their acks (protocol v1)
  std::optional<PayloadMaker> payload_; // while sending
  bool write_failed_ = false;
  std::uint64_t pending_seq_ = 0; // the message being written
  std::uint64_t pending_send_ns_ = 0;
  std::uint64_t seen_before_ = 0; // window_full: seen_next when the wait began
};

} // namespace huddle::load
