#include "load/run_phases.hpp"

#include <algorithm>

namespace huddle::load {

std::uint64_t seconds_to_ns(double seconds) noexcept {
  return static_cast<std::uint64_t>(seconds * 1e9);
}

char const* phase_name(Phases const* phases, std::uint64_t now_ns) noexcept {
  if (phases == nullptr) return "connecting";
  if (now_ns < phases->measure_begin) return "warm-up";
  if (now_ns < phases->measure_end) return "measuring";
  if (now_ns < phases->drain_end) return "draining";
  return "closing";
}

RunPhases::RunPhases(Options const& options, std::uint64_t stable_clients)
    : warmup_ns_(seconds_to_ns(options.warmup_s)), duration_ns_(seconds_to_ns(options.duration_s)),
      drain_ns_(seconds_to_ns(options.senders_per_group() > 0 ? options.drain_s : 0)),
      connect_rate_(options.connect_rate) {
  double const last_connect_s =
      connect_rate_ > 0 ? static_cast<double>(stable_clients) / connect_rate_ : 0;
  connect_deadline_ns_ = seconds_to_ns(last_connect_s + options.connect_timeout_s + 1);
  // Closing thousands of sockets takes a moment; after this the run is cut short.
  close_grace_ns_ = seconds_to_ns(std::max(
      3.0, options.connect_timeout_s + static_cast<double>(options.connections()) / 5000.0));
}

std::uint64_t RunPhases::connect_at_ns(std::uint64_t client_index) const noexcept {
  return connect_rate_ > 0 ? seconds_to_ns(static_cast<double>(client_index) / connect_rate_) : 0;
}

RunPhases::Tick RunPhases::tick(std::uint64_t now_ns, std::int64_t pending_connects) noexcept {
  Tick tick;
  if (!published_ && (pending_connects <= 0 || now_ns >= connect_deadline_ns_)) {
    phases_.warmup_begin = now_ns;
    phases_.measure_begin = now_ns + warmup_ns_;
    phases_.measure_end = phases_.measure_begin + duration_ns_;
    phases_.drain_end = phases_.measure_end + drain_ns_;
    hard_deadline_ns_ = phases_.drain_end + close_grace_ns_;
    published_ = true;
    tick.publish = true;
  }
  if (now_ns >= hard_deadline_ns_ && !stopped_) {
    stopped_ = true;
    tick.stop = true;
  }
  if (now_ns >= next_sample_ns_) {
    next_sample_ns_ += 1'000'000'000;
    tick.sample = true;
  }
  return tick;
}

} // namespace huddle::load
