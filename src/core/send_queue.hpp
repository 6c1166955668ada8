// SendQueue: one connection's bounded queue of outbound frames, and its policy.
//
// Producers (ChatManager broadcasts, from any thread) push; the connection's single writer
// takes everything queued at once and reports the bytes it wrote. The queue counts bytes
// from push until written, and refuses a frame that would take it over its limit: the
// queue then closes itself as `overflowed`, which is how a slow reader is detected without
// anyone waiting on its socket. Thread-safe; push never blocks on I/O.
#pragma once

#include <huddle/message.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace huddle::core {

class SendQueue {
public:
  enum class Push {
    queued,       // queued behind frames the writer already knows of
    queued_first, // queued into an empty queue: wake the writer
    flush_due,    // queued, and the queue just passed its flush threshold: a writer holding
                  // its next write back (net/write_coalescing.hpp) should write now
    overflow,     // refused: over the byte limit; the queue is now closed
    closed,       // refused: the queue was closed before
  };

  // Past `flush_bytes` queued (none by default), what is queued should not wait any more.
  explicit SendQueue(std::size_t byte_limit, std::size_t flush_bytes = SIZE_MAX)
      : byte_limit_(byte_limit), flush_bytes_(flush_bytes) {}

  // A frame bigger than the whole limit is still taken when nothing else is queued, so a
  // single large frame never counts as a slow consumer.
  Push push(Frame frame);

  struct State {
    bool closed = false;
    bool overflowed = false;
  };

  // Moves everything queued into `out` (cleared first). Their bytes stay counted until
  // written() is called for them. Returns the state seen under the same lock, so the writer
  // takes the lock once per look instead of once per question.
  State take(std::vector<Frame>& out);
  void written(std::size_t bytes);

  // Refuses all further pushes. Frames already queued can still be taken.
  void close();
  bool closed() const;
  // Closed, or past the flush threshold: what is queued should be written without delay.
  bool urgent() const;
  bool overflowed() const;
  std::size_t queued_bytes() const;

private:
  mutable std::mutex mutex_;
  const std::size_t byte_limit_;
  const std::size_t flush_bytes_;
  std::size_t bytes_ = 0; // queued or being written
  std::vector<Frame> frames_;
  bool closed_ = false;
  bool overflowed_ = false;
};

} // namespace huddle::core
