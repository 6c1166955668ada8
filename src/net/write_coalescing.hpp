// WriteCoalescing: when a connection's writer should hold its next write back.
//
// On loopback or a LAN most of a small write's cost is per sendmsg (the TCP transmit path,
// and on loopback the receiver's side too), not per byte. A connection whose queue fills
// faster than k_busy_frames per `interval` (ServerConfig::write_coalesce), and already
// gathering that many per write, therefore writes at most once per interval: frames wait up to
// `interval` and go out together. Below that rate (a quiet room, or a burst after a pause) every
// write goes out at once, so only a connection that is already receiving a stream of frames pays
// the latency. Measured in docs/performance-journal.md, "8. Fanout: a busy connection writes
// at most once per 4 ms".
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace huddle::net {

class WriteCoalescing {
public:
  using Clock = std::chrono::steady_clock;

  // Frames per interval from which a queue counts as busy.
  static constexpr std::size_t k_busy_frames = 4;

  // Bytes a hold may gather for a connection whose send queue is limited to `queue_limit`
  // (SendQueue's flush threshold). A batch this large gains nothing more from waiting, and
  // what waits in the queue is not yet in the socket's buffer, so a hold that gathered much
  // of the limit could turn a reader that keeps up into a slow consumer.
  static constexpr std::size_t held_bytes(std::size_t queue_limit) noexcept {
    return std::min<std::size_t>(queue_limit / 4, 16 * 1024);
  }

  // `interval` zero: never hold. `start`: when the connection began taking frames.
  WriteCoalescing(Clock::duration interval, Clock::time_point start) noexcept
      : interval_(interval), last_take_(start) {}

  // The writer took `frames` (at least one) from its queue at `now`.
  void took(std::size_t frames, Clock::time_point now) noexcept {
    // Busy: this take gathered k_busy_frames or more, and at a rate of at least
    // k_busy_frames per interval (frames / (now - last_take) >= k_busy_frames / interval,
    // without a division). One frame that happens to follow another closely is no stream.
    const bool busy = interval_ > Clock::duration::zero() && frames >= k_busy_frames &&
                      frames * interval_ >= k_busy_frames * (now - last_take_);
    hold_until_ = busy ? now + interval_ : Clock::time_point{};
    last_take_ = now;
  }

  // The next take should wait for this time; in the past when it need not wait.
  Clock::time_point hold_until() const noexcept { return hold_until_; }

private:
  Clock::duration interval_;
  Clock::time_point last_take_;
  Clock::time_point hold_until_{};
};

} // namespace huddle::net
