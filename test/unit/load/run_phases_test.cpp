#include "load/run_phases.hpp"

#include <doctest/doctest.h>

#include <string_view>

using namespace huddle::load;

namespace {

constexpr std::uint64_t k_ms = 1'000'000;
constexpr std::uint64_t k_s = 1'000'000'000;

Options options_for_test() {
  Options options;
  options.groups = 2;
  options.clients = 100;
  options.connect_rate = 100; // the 200 stable clients connect over 2 s
  options.connect_timeout_s = 10;
  options.warmup_s = 1;
  options.duration_s = 5;
  options.drain_s = 2;
  return options;
}

} // namespace

TEST_CASE("the connect ramp opens client i at i / --connect-rate, or all at once with 0") {
  auto options = options_for_test();
  RunPhases const ramp(options, 200);
  CHECK(ramp.connect_at_ns(0) == 0);
  CHECK(ramp.connect_at_ns(50) == 500 * k_ms);
  CHECK(ramp.connect_at_ns(199) == 1990 * k_ms);
  options.connect_rate = 0;
  RunPhases const at_once(options, 200);
  CHECK(at_once.connect_at_ns(199) == 0);
}

TEST_CASE("the phases are fixed when the last first connect is over, from that moment") {
  RunPhases timeline(options_for_test(), 200);
  CHECK(timeline.phases() == nullptr);
  CHECK_FALSE(timeline.tick(1 * k_s, 3).publish);
  CHECK(timeline.phases() == nullptr);
  auto const tick = timeline.tick(1500 * k_ms, 0);
  CHECK(tick.publish);
  REQUIRE(timeline.phases() != nullptr);
  auto const& phases = *timeline.phases();
  CHECK(phases.warmup_begin == 1500 * k_ms);
  CHECK(phases.measure_begin == 2500 * k_ms);
  CHECK(phases.measure_end == 7500 * k_ms);
  CHECK(phases.drain_end == 9500 * k_ms);
  CHECK_FALSE(timeline.tick(1600 * k_ms, 0).publish); // once
}

TEST_CASE("a connect phase that does not end by itself ends at its deadline") {
  // The ramp's last connect (2 s), plus --connect-timeout (10 s), plus a second.
  RunPhases timeline(options_for_test(), 200);
  CHECK_FALSE(timeline.tick(13 * k_s - 1, 7).publish);
  CHECK(timeline.tick(13 * k_s, 7).publish);
}

TEST_CASE("without senders there is nothing to drain") {
  auto options = options_for_test();
  options.idle = true;
  RunPhases timeline(options, 200);
  timeline.tick(0, 0);
  REQUIRE(timeline.phases() != nullptr);
  CHECK(timeline.phases()->drain_end == timeline.phases()->measure_end);
}

TEST_CASE("a run still going a grace period after the drain is stopped, once") {
  // Grace: the larger of 3 s and --connect-timeout plus a second per 5000 connections.
  RunPhases timeline(options_for_test(), 200);
  timeline.tick(0, 0); // drain ends at 8 s
  std::uint64_t const grace = 10 * k_s + 200 * k_s / 5000;
  CHECK_FALSE(timeline.tick(8 * k_s + grace - 1, 0).stop);
  CHECK_FALSE(timeline.stopped());
  CHECK(timeline.tick(8 * k_s + grace, 0).stop);
  CHECK(timeline.stopped());
  CHECK_FALSE(timeline.tick(8 * k_s + grace + 10 * k_ms, 0).stop);
}

TEST_CASE("no stop before the phases are fixed, however long connecting takes") {
  RunPhases timeline(options_for_test(), 200);
  CHECK_FALSE(timeline.tick(12 * k_s, 1).stop);
}

TEST_CASE("a progress sample is due once a second") {
  RunPhases timeline(options_for_test(), 200);
  CHECK_FALSE(timeline.tick(500 * k_ms, 1).sample);
  CHECK(timeline.tick(1000 * k_ms, 1).sample);
  CHECK_FALSE(timeline.tick(1990 * k_ms, 1).sample);
  CHECK(timeline.tick(2010 * k_ms, 1).sample);
  CHECK_FALSE(timeline.tick(2020 * k_ms, 1).sample);
  CHECK(timeline.tick(3000 * k_ms, 1).sample); // on the second, not drifting with late ticks
}

TEST_CASE("the progress line names the phase the run is in") {
  Phases const phases{1 * k_s, 2 * k_s, 3 * k_s, 4 * k_s};
  CHECK(std::string_view(phase_name(nullptr, 0)) == "connecting");
  CHECK(std::string_view(phase_name(&phases, 1 * k_s)) == "warm-up");
  CHECK(std::string_view(phase_name(&phases, 2 * k_s)) == "measuring");
  CHECK(std::string_view(phase_name(&phases, 3 * k_s)) == "draining");
  CHECK(std::string_view(phase_name(&phases, 4 * k_s)) == "closing");
}
