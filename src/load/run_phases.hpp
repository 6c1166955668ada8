// RunPhases: the timeline of one huddle-load run, without I/O or threads.
//
// A run goes through connect (the ramp of --connect-rate), warm-up (sending, not
// measured), the measured window (--duration), drain (senders stopped, deliveries still
// counted) and close. The connect phase has no fixed end: it ends when every stable
// client's first connect is over (made or failed), or at a deadline, and only then are
// the other phases' times fixed and published to the clients. After the drain the
// clients close; a run that has not ended a grace period later is cut short.
//
// The runner's monitor thread calls tick() every few milliseconds with the time and the
// number of first connects still pending; tick() says what to do: publish the phases,
// stop the workers, take a progress sample. Times are nanoseconds since the run's start.
#pragma once

#include <cstdint>

#include "load/options.hpp"

namespace huddle::load {

inline constexpr std::uint64_t k_never = UINT64_MAX;

std::uint64_t seconds_to_ns(double seconds) noexcept;

// When each phase begins; fixed once, when the connect phase ends.
struct Phases {
  std::uint64_t warmup_begin = k_never;
  std::uint64_t measure_begin = k_never;
  std::uint64_t measure_end = k_never;
  std::uint64_t drain_end = k_never;
};

// "connecting" (no phases yet), "warm-up", "measuring", "draining" or "closing".
char const* phase_name(Phases const* phases, std::uint64_t now_ns) noexcept;

class RunPhases {
public:
  // `stable_clients`: the clients that join once and stay (not churners), ramped in at
  // --connect-rate.
  RunPhases(Options const& options, std::uint64_t stable_clients);

  // When the i-th client first connects: i / --connect-rate, or 0 for all at once.
  std::uint64_t connect_at_ns(std::uint64_t client_index) const noexcept;

  struct Tick {
    bool publish = false; // the phases are fixed now: publish phases()
    bool stop = false;    // the grace period after the drain is over: stop the workers
    bool sample = false;  // a progress sample is due (one per second)
  };
  Tick tick(std::uint64_t now_ns, std::int64_t pending_connects) noexcept;

  // Set once tick() said publish.
  Phases const* phases() const noexcept { return published_ ? &phases_ : nullptr; }
  bool stopped() const noexcept { return stopped_; }

private:
  std::uint64_t warmup_ns_;
  std::uint64_t duration_ns_;
  std::uint64_t drain_ns_; // 0 without senders: nothing to drain
  double connect_rate_;
  std::uint64_t connect_deadline_ns_;
  std::uint64_t close_grace_ns_;
  Phases phases_;
  bool published_ = false;
  bool stopped_ = false;
  std::uint64_t hard_deadline_ns_ = k_never;
  std::uint64_t next_sample_ns_ = 1'000'000'000;
};

} // namespace huddle::load
