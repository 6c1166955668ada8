// Accounting: who should have received what, and what each receiver saw.
//
// Groups have a fixed number of senders; sender ids are global and contiguous per group
// (id = group * senders_per_group + k), so a marker's sender names its group too. Each
// sender numbers its messages 0, 1, 2, .... Deliveries are deduplicated by (receiver,
// sender, sequence number), in any order: a sender that reconnects may see its last
// message of the old connection broadcast after its first of the new one, and a replay
// after a reconnect (?since=) may repeat what was live. A repeat is a `duplicate`,
// counted apart, never a second delivery.
//
// What is expected: a message counts for the run ("measured") when its send time is in
// the measured window; it is expected at every *accountable* receiver of its group that
// was ready (registered by the server) before the message was claimed, i.e. whose
// snapshot of the sender's next sequence number, taken at ready(), is <= seq. A receiver
// that leaves of its own accord (churn) is not accountable: what it got counts as
// delivered, not what it missed. A receiver the server dropped stays accountable, so
// what it missed is lost. lost = expected - delivered to accountable receivers.
// A receiver that reconnects keeps its ledger (the runner does not call ready() again):
// what the server replays fills its gaps; what it does not, is lost.
// A message whose write failed is withdrawn: owed to nobody, delivered if it arrives.
//
// Threads: senders and receivers are created before the run. During it, each sender's
// methods are called from one thread and each receiver's from one thread (possibly
// another); the only shared state is each sender's atomic next sequence number, read by
// ready(). tally() is for after the run, once every thread has joined.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "load/marker.hpp"
#include "load/sequence_set.hpp"

namespace huddle::load {

// Send times, nanoseconds since the run's start, [begin, end).
struct MeasuredWindow {
  std::uint64_t begin_ns = 0;
  std::uint64_t end_ns = UINT64_MAX;
  bool contains(std::uint64_t t) const noexcept { return t >= begin_ns && t < end_ns; }
};

enum class Arrival {
  counted,        // measured, from a sender of this group: a delivery
  unmeasured,     // warm-up or after the window: fine, not counted
  duplicate,      // (sender, sequence number) already seen by this receiver
  foreign,        // marker of a sender in another group, or of no known sender
  unexpected_self // own message without --echo
};

struct Tally {
  std::uint64_t sent = 0;                  // measured messages written successfully
  std::uint64_t expected = 0;              // deliveries due to accountable receivers
  std::uint64_t delivered = 0;             // measured deliveries to any receiver
  std::uint64_t delivered_accountable = 0; // of those, the ones that were expected
  std::uint64_t lost = 0;                  // expected - delivered_accountable
  std::uint64_t duplicates = 0;            // repeats of a delivery, all phases: a server bug
};

class Accounting {
public:
  using SenderId = std::uint32_t;
  using ReceiverId = std::uint32_t;

  Accounting(std::uint32_t groups, std::uint32_t senders_per_group, bool echo);

  // Fixed before any message is sent; arrivals are judged by the same rule.
  void set_window(MeasuredWindow window) noexcept { window_ = window; }
  MeasuredWindow window() const noexcept { return window_; }

  std::uint32_t groups() const noexcept { return groups_; }
  std::uint32_t senders_per_group() const noexcept { return senders_per_group_; }
  SenderId sender_id(std::uint32_t group, std::uint32_t k) const noexcept {
    return group * senders_per_group_ + k;
  }

  // A receiver of `group`; `own_sender` when the same client also sends.
  ReceiverId add_receiver(std::uint32_t group, std::optional<SenderId> own_sender,
                          bool accountable = true);

  // Sender side. claim() hands out the next sequence number; sent() records that
  // it was written, with the send time that went into its marker; withdrawn() that its
  // write failed, so no receiver is owed it.
  std::uint64_t claim(SenderId sender) noexcept;
  void sent(SenderId sender, std::uint64_t seq, std::uint64_t send_ns) noexcept;
  void withdrawn(SenderId sender, std::uint64_t seq);

  // Receiver side. ready(): the server has registered it (welcome seen, or settled);
  // called again, it starts a new membership (churn: nothing seen before is kept). A
  // reconnect that resumes the membership (?since=, or a stable member that carries on)
  // calls nothing. left(): leaving on purpose.
  void ready(ReceiverId receiver) noexcept;
  void left(ReceiverId receiver) noexcept;
  Arrival arrived(ReceiverId receiver, Marker const& marker) noexcept;

  Tally tally() const noexcept;

private:
  struct SenderLedger {
    std::atomic<std::uint64_t> next_seq{0};
    // Measured range [first, end) of successfully written messages.
    std::uint64_t measured_first = UINT64_MAX;
    std::uint64_t measured_end = 0;
    std::uint64_t measured_sent = 0;
    std::vector<std::uint64_t> withdrawn; // claimed, write failed; increasing
  };
  struct FromSender {
    std::uint64_t snapshot = UINT64_MAX; // nothing accountable until ready()
    SequenceSet seen;                    // every sequence number seen, all phases
    std::uint64_t delivered = 0;         // measured, any sequence number
    std::uint64_t duplicates = 0;        // all phases
  };
  struct ReceiverLedger {
    std::uint32_t group = 0;
    std::optional<SenderId> own_sender;
    bool accountable = true;
    bool was_ready = false;
    std::vector<FromSender> from; // indexed by k, the sender's place in the group
  };

  std::uint32_t groups_;
  std::uint32_t senders_per_group_;
  bool echo_;
  MeasuredWindow window_;
  std::unique_ptr<SenderLedger[]> senders_;
  std::vector<ReceiverLedger> receivers_;
};

} // namespace huddle::load
