// WsSession: one upgraded WebSocket connection, and the ChatManager's Member for it.
//
// While a connection is idle it holds one pending operation, a wait for bytes to read, no
// buffer and no coroutine frame; work starts from it (issue 13; docs/benchmarks.md, "Idle
// connections"). On the session's executor (its io_context's one thread in the io_context
// pool, or its own strand: include/huddle/server.hpp):
// - the read: once the socket is readable, it takes what the socket holds into a buffer
//   of its thread's and parses all of it with a sans-I/O FrameReader (net/frame_reader.hpp), which
//   keeps per connection only the bytes of a frame not yet complete. With permessage-deflate
//   (ServerConfig::deflate) it inflates compressed messages with its thread's inflater, bounded
//   by max_message_bytes (net/permessage_deflate.hpp). It answers protocol
//   violations (1002, 1007, 1009), asks the writer for pongs and close replies, and hands
//   the messages to a coroutine that sends them through the broker, one after another,
//   before the next read; the ack is offered when the broker reports a message stored;
// - the writer: a wake-up writes what the socket takes at once, without a coroutine, when
//   the queue holds a frame or two and nothing else is due (write_at_once(): light traffic);
//   otherwise writer(), a coroutine that runs while there is something to write and ends
//   when there is not; between them, the socket's only writer. Each drains the SendQueue,
//   writing everything queued as one gather write of pre-framed messages (with
//   permessage-deflate, each frame's shared compressed form where it has one); while frames
//   stream in, the coroutine holds each write back for up to ServerConfig::write_coalesce
//   to gather more (net/write_coalescing.hpp); it also writes pongs, pings and the close frame.
//   With ?since=ID its first run writes the welcome, then the stored messages after ID up to the
//   welcome's last_id (page by page, at most ServerConfig::replay_limit), then what was queued live
//   meanwhile: no gap, no duplicate;
// - the watchdog: the session keeps its nearest deadline (ping, idle, token expiry, a
//   closing handshake's bound) in an atomic that the server's sweep reads, one timer for
//   all sessions (ServerState::watch_timeouts()); on_watchdog() asks for a ping after
//   ping_interval of silence, drops the peer after idle_timeout, closes with 1008 "token
//   expired" when the caller's token expires, and closes the socket hard when a close
//   handshake takes too long.
// offer() is called by broadcasts on any thread: it only pushes onto the SendQueue and,
// when the writer is not running, posts its start, so it never waits for the socket.
// The session ends when its read does (the peer went, or the closing handshake ended).
#pragma once

#include "core/protocol.hpp"
#include "core/rate_limiter.hpp"
#include "core/send_queue.hpp"
#include "net/address_limits.hpp"
#include "net/frame_header.hpp"
#include "net/frame_reader.hpp"
#include "net/http_response.hpp"
#include "net/target.hpp"
#include "net/tls_connection.hpp"
#include "net/write_coalescing.hpp"

#include <huddle/chat_manager.hpp>
#include <huddle/member.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace huddle::net {

class ServerState;

// What the handshake established about the caller's right to be in the group.
struct SessionAccess {
  // Membership comes from the database (not a token's groups claim): revocations apply.
  bool from_memberships = false;
  // ServerState::access_revision_seen() before the membership was checked.
  std::int64_t revision = 0;
  // When the caller's token expires; none with AuthMode::none.
  std::optional<std::chrono::system_clock::time_point> expires_at;
};

// What the session keeps of its upgrade request's target (net/target.hpp): the name and the
// token were used up by the handshake.
struct SessionTarget {
  GroupId group = 0;
  bool echo = false;
  std::optional<MessageId> since;
  std::unique_ptr<const std::string> epoch; // rare: kept out of line
};

class WsSession : public Member, public std::enable_shared_from_this<WsSession> {
public:
  // Sessions share ownership of the state: they may outlive Server::run() by a few handlers.
  // The session holds the connection slot the caller reserved (ServerState), released when
  // it is destroyed, and the client address's admission.
  // `tls`: the connection's TLS, none for plain ws.
  WsSession(boost::asio::ip::tcp::socket socket, std::unique_ptr<TlsConnection> tls,
            std::shared_ptr<ServerState> state, const WsTarget& target, std::string user,
            SessionAccess access, AddressLimits::Admission admission);
  ~WsSession() override;

  // Accepts `request` (which net/ws_handshake.hpp's refuse_handshake() passed) and joins the
  // group; returns once the connection is left to its read, its writer and its watchdog.
  // `request` is released once answered.
  boost::asio::awaitable<void> run(Request request);

  // Where the session's coroutines run.
  boost::asio::any_io_executor executor() noexcept { return socket_.get_executor(); }

  bool offer(const Frame& frame) noexcept override;
  const std::string& user() const noexcept override { return user_; }
  GroupId group() const noexcept { return target_.group; }
  // Bytes queued and not yet written (any thread).
  std::size_t queued_bytes() const { return queue_.queued_bytes(); }
  // The client's address (behind a trusted proxy, the one it forwarded); stable while the
  // session is registered with the ServerState.
  const boost::asio::ip::address& client_address() const noexcept { return admission_.address(); }
  bool access_from_memberships() const noexcept { return access_.from_memberships; }
  std::int64_t access_revision() const noexcept { return access_.revision; }

  // For the server's sweep (any thread): whether the watchdog's deadline passed; true once
  // per deadline, so the sweep posts on_watchdog() once.
  bool watchdog_due(std::chrono::steady_clock::time_point now) noexcept;
  // On the session's executor: acts on the deadlines that passed and sets the next.
  void on_watchdog();

  // Thread-safe: sends whatever is queued, then a close frame with `reason`'s close code and
  // wire string (core/protocol_error.hpp; the frame reader's violations carry their own).
  // The first close requested wins.
  void close(protocol::Error reason) noexcept {
    close(protocol::info(reason).close_code, protocol::info(reason).wire);
  }

private:
  using Clock = std::chrono::steady_clock;

  // How the connection ends once the writer has written the close frame.
  enum class Closing : unsigned char {
    handshake, // we asked: wait for the peer's close frame (bounded by the watchdog)
    replied,   // the peer asked, or broke the protocol: close the socket
  };

  void close(std::uint16_t code, std::string_view reason,
             Closing how = Closing::handshake) noexcept;

  // What is left of a gather write.
  using Buffers = boost::beast::buffers_suffix<std::span<const boost::asio::const_buffer>>;
  // The connection's bytes, through TLS when it has it; non-blocking (would_block).
  std::size_t read_some(std::span<unsigned char> into, boost::system::error_code& ec);
  std::size_t write_some(const Buffers& buffers, boost::system::error_code& ec);
  // Writes what write_some() left, waiting for the socket; the error, if any.
  boost::asio::awaitable<boost::system::error_code> write_rest(const Buffers& rest);

  // The wait of an idle connection for bytes to read, and what its completion does: reads
  // what the socket holds into the thread's buffer and acts on it.
  void read();
  void on_readable(boost::system::error_code ec);
  // Acts on all of `input` at once (the thread's buffer is free again when it returns),
  // gathering the messages to send; false when the closing handshake we began is complete.
  bool handle_input(std::span<unsigned char> input, std::vector<protocol::ClientMessage>& sends);
  // The inflated payload of a compressed message (valid until the next), or none when it
  // broke the limit or the protocol: then the connection is closing (1009, 1007).
  std::optional<std::string_view> inflate(bool text, std::string_view compressed);
  // A message's rate limit and parse; what to send, if anything (refusals are answered here).
  std::optional<protocol::ClientMessage> take_message(bool text, std::string_view payload);
  // Sends them in order through the broker, then reads again.
  boost::asio::awaitable<void> send_all(std::vector<protocol::ClientMessage> sends);
  boost::asio::awaitable<void> send(protocol::ClientMessage& message);
  // Ends the session once its read has: closes everything and leaves the group.
  void end();
  // Gives back the connection slot and the address's admission, once: when the session
  // ended, or was destroyed without (a failed upgrade or join). Not at destruction alone:
  // a pending ack may keep the session alive past a shutdown that waits for the slots.
  void release() noexcept;
  boost::asio::awaitable<void> leave();

  // The writer's scratch for a gather write: it lives in the writer's frame, so an idle
  // connection keeps none.
  struct WriteScratch {
    std::vector<FrameHeader> headers;
    std::vector<boost::asio::const_buffer> buffers;
  };
  // What write_at_once() leaves to the coroutine: the bytes the socket refused, and the
  // queued bytes they complete.
  struct Handover {
    std::string rest;
    std::size_t queued_bytes = 0;
  };
  // On the executor, for wake_writer(): writes at once what the socket takes, or starts the
  // coroutine.
  void start_writer();
  // The writer without a coroutine, for the common case of a few frames that the socket
  // takes at once: true when it is done and the writer stopped; false when the coroutine
  // must run (a hold, a replay, a control frame, closing, a full socket: `handover`).
  bool write_at_once(Handover& handover);
  boost::asio::awaitable<void> writer(Handover handover);
  // Whether the writer has anything to do now.
  bool writer_has_work() const;
  // Writes the welcome (with "truncated", or "reset" when target_.since cannot be honoured)
  // and then, page by page, the history after target_.since, at most replay_limit messages;
  // false when a write or the history failed.
  boost::asio::awaitable<bool> replay(WriteScratch& scratch);
  // Fills `scratch` with frames[first..]'s headers and payloads, for one gather write; with
  // `deflate`, each frame's shared compressed form where it has one.
  static void frame_buffers(const std::vector<Frame>& frames, std::size_t first, bool deflate,
                            WriteScratch& scratch);
  // Writes frames[first..] in one gather write; false when the connection failed.
  boost::asio::awaitable<bool> write_frames(const std::vector<Frame>& frames, std::size_t first,
                                            WriteScratch& scratch);
  // Writes the close frame close() asked for; false when the connection failed.
  boost::asio::awaitable<bool> write_close();
  // Writes one control frame; false when the connection failed.
  boost::asio::awaitable<bool> write_control(Opcode opcode, std::string_view payload);
  // Writes all of `buffers`, at once when the socket takes it; false when the connection
  // failed.
  boost::asio::awaitable<bool> write_buffers(std::span<const boost::asio::const_buffer> buffers);
  // Publishes the nearest deadline (ping, idle, token expiry, hard close) for the sweep.
  void arm_watchdog();
  // Starts the writer unless it runs; thread-safe.
  void wake_writer() noexcept;
  // On the session's executor: closes the socket and stops the watchdog; what is pending
  // fails and ends.
  void finish();
  // Says no more (TLS: close_notify, then FIN); the read goes on.
  void end_sending() noexcept;
  void close_socket() noexcept;

  boost::asio::ip::tcp::socket socket_;
  const std::unique_ptr<TlsConnection> tls_;
  const std::shared_ptr<ServerState> state_;
  const SessionTarget target_;
  const std::string user_;
  const SessionAccess access_;
  AddressLimits::Admission admission_; // released with the slot
  core::SendQueue queue_;
  std::atomic<bool> writer_running_{false}; // writer() runs, or its start is posted
  static constexpr Clock::rep k_no_deadline = Clock::time_point::max().time_since_epoch().count();
  std::atomic<Clock::rep> watchdog_at_{k_no_deadline}; // arm_watchdog()'s, for the sweep
  // The writer's wait under WriteCoalescing: a timer in the writer's frame, while it waits.
  boost::asio::steady_timer* hold_timer_ = nullptr;
  core::MessageRateLimiter rate_limiter_; // the reader's (ServerConfig::message_rate)

  // The first close() asked for, from any thread; read by the writer.
  struct CloseRequest {
    std::uint16_t code = 0;
    Closing how = Closing::handshake;
    std::string reason;
  };
  std::atomic<CloseRequest*> close_request_{nullptr}; // owned; set once
  std::atomic<bool> ping_due_{false};

  // State only the session's executor touches.
  FrameReader frames_;
  std::unique_ptr<std::string> pong_due_; // the last ping's payload, to answer
  WriteCoalescing coalescing_;
  JoinResult join_; // set before the writer first runs
  Clock::time_point last_heard_;
  Clock::time_point last_ping_;
  Clock::time_point hard_close_at_ = Clock::time_point::max();
  Clock::time_point token_expires_at_ = Clock::time_point::max();
  bool joined_ = false;  // join() returned: the writer may run
  bool deflate_ = false; // permessage-deflate was negotiated
  bool replay_due_ = false;
  bool gathering_ = false; // the writer's last batch had more than one frame
  bool close_sent_ = false;
  bool finished_ = false;
  bool ended_ = false;
  bool released_ = false;
};

} // namespace huddle::net
