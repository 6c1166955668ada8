// Report: the result of a run, and its two renderings: a table for a person and one
// JSON object for scripts (scripts/loadtest, scripts/bench read the JSON). Pure: built
// after the run from merged per-thread figures.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "load/accounting.hpp"
#include "load/error_kind.hpp"
#include "load/histogram.hpp"
#include "load/options.hpp"

namespace huddle::load {

// One progress tick, kept for the deliveries-over-time plot.
struct Sample {
  double t_s = 0;              // since the run started
  std::uint64_t connected = 0; // open now
  std::uint64_t sent = 0;      // cumulative, all phases
  std::uint64_t delivered = 0; // cumulative, all phases
  std::uint64_t errors = 0;    // cumulative
};

struct Report {
  Options options;
  std::uint64_t planned_connections = 0;
  std::uint64_t connected = 0;        // open when sending started
  std::uint64_t failed_connects = 0;  // attempts that did not reach an open socket
  std::uint64_t connects = 0;         // successful, churn reconnects included
  std::uint64_t reconnects = 0;       // of those, stable members back after losing theirs
  std::uint64_t deflate_connects = 0; // --deflate: of `connects`, those the server gave it
  std::uint64_t peak_connected = 0;
  double connect_phase_s = 0;
  double measured_s = 0; // length of the measured window
  double elapsed_s = 0;
  Tally tally;
  // Every marker seen, warm-up and drain included: what the server sent in the whole run
  // (scripts/bench divides the server's bytes by it).
  std::uint64_t delivered_all_phases = 0;
  Histogram latency_ns; // measured deliveries
  ErrorCounts errors{};
  std::array<std::string, k_error_kinds> error_examples; // first message per kind
  std::vector<Sample> timeline;

  std::uint64_t error_total() const noexcept;
  double deliveries_per_s() const noexcept;
  double sends_per_s() const noexcept;

  std::string to_json() const;
  std::string to_table() const;
};

// Latency percentiles reported everywhere, in this order.
inline constexpr double k_report_percentiles[] = {50, 75, 90, 95, 99, 99.9, 99.99};

} // namespace huddle::load
