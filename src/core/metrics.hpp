// Metrics: counters and fixed-bucket histograms that the hot path updates for free, and the
// writer of the Prometheus text exposition format (version 0.0.4) that a scrape reads them
// through (net/metrics.hpp collects the server's).
//
// Counter::add() is one relaxed fetch_add on a cache line of the calling thread's own (a
// shard picked once per thread), so I/O threads counting deliveries never contend for a
// line; value() sums the shards. Histogram::observe() is a short scan of its bounds and two
// relaxed fetch_adds: for writers that are few (the history's writer thread). Neither
// locks nor allocates. A scrape reads without stopping the writers: each value is a
// snapshot of its own, and a histogram's buckets are made cumulative from one read of each,
// so they never decrease along `le` (docs/operations.md, "Metrics").
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace huddle::core {

namespace detail {
inline constexpr std::size_t k_counter_shards = 8;
// The calling thread's shard, assigned round-robin on its first use.
std::size_t counter_shard() noexcept;
} // namespace detail

class Counter {
public:
  void add(std::uint64_t n = 1) noexcept {
    shards_[detail::counter_shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    std::uint64_t sum = 0;
    for (const Shard& shard : shards_)
      sum += shard.value.load(std::memory_order_relaxed);
    return sum;
  }

private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Shard, detail::k_counter_shards> shards_;
};

// Observations in integer units (microseconds, bytes) counted into buckets with fixed upper
// bounds; the exposition scales them (Exposition::histogram()).
class Histogram {
public:
  // `bounds`: increasing upper bounds; a last bucket (+Inf) takes what is above them.
  explicit Histogram(std::span<const std::uint64_t> bounds);

  void observe(std::uint64_t value) noexcept {
    std::size_t bucket = 0;
    while (bucket < bounds_.size() && value > bounds_[bucket])
      ++bucket;
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<std::uint64_t> bounds;
    std::vector<std::uint64_t> cumulative; // one per bound, then +Inf: the count
    std::uint64_t sum = 0;
  };
  Snapshot snapshot() const;

private:
  const std::vector<std::uint64_t> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_; // bounds_.size() + 1
  std::atomic<std::uint64_t> sum_{0};
};

enum class MetricType { counter, gauge, histogram };

struct Label {
  std::string_view name;
  std::string_view value; // escaped by the writer
};

// Builds one exposition (https://prometheus.io/docs/instrumenting/exposition_formats/):
// a family's HELP and TYPE lines, then its samples. Names are the caller's constants and
// must be valid metric names; label values and help texts are escaped here.
class Exposition {
public:
  static constexpr std::string_view k_content_type = "text/plain; version=0.0.4; charset=utf-8";

  // Starts a family: its HELP and TYPE lines. Its samples follow, before the next family.
  void family(std::string_view name, MetricType type, std::string_view help);
  void sample(std::string_view name, double value, std::initializer_list<Label> labels = {});
  void sample(std::string_view name, std::uint64_t value, std::initializer_list<Label> labels = {});

  // A family of one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);
  // A histogram family: name_bucket{le=...} (cumulative), name_sum and name_count; bounds
  // and sum are divided by `units_per_base` (microseconds to seconds: 1e6). Dividing, not
  // multiplying by 1e-6, gives the double nearest the decimal: 0.001, not 0.0010000000000000002.
  void histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                 double units_per_base = 1);

  const std::string& text() const noexcept { return text_; }

private:
  void sample_prefix(std::string_view name, std::initializer_list<Label> labels,
                     std::string_view le = {});
  std::string text_;
};

// `value` as a label value may hold it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);
// A sample value as Prometheus reads it: shortest round-trip form, +Inf, -Inf, NaN.
std::string format_value(double value);

} // namespace huddle::core
