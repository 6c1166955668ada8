// Histogram: a log-bucketed latency histogram with bounded relative error.
//
// Values (nanoseconds, or any non-negative integer) below 128 are kept exactly; above,
// each power of two is split into 64 buckets, so a reported value is at most 1/64
// (1.6 %) above the true one, whatever the range, in a fixed 30 KiB array. That is
// the HdrHistogram idea cut down to what huddle-load needs: record on the hot path
// without allocation, merge per-thread copies at the end, read percentiles.
//
// Not thread-safe: each load thread records into its own and `merge` combines them.
#pragma once

#include <array>
#include <cstdint>

namespace huddle::load {

class Histogram {
public:
  static constexpr int k_sub_bucket_bits = 6;
  static constexpr std::uint64_t k_sub_buckets = std::uint64_t{1} << k_sub_bucket_bits;
  // Values below this are their own bucket.
  static constexpr std::uint64_t k_exact_limit = 2 * k_sub_buckets;
  static constexpr std::size_t k_bucket_count =
      k_exact_limit + (64 - k_sub_bucket_bits - 1) * k_sub_buckets;

  void record(std::uint64_t value) noexcept;
  void merge(Histogram const& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;

  // The smallest recorded value v such that at least `percent` % of the values are <= v,
  // reported as the upper edge of its bucket (never above max()); 0 when empty.
  std::uint64_t percentile(double percent) const noexcept;

  static std::size_t bucket_of(std::uint64_t value) noexcept;
  static std::uint64_t bucket_upper(std::size_t bucket) noexcept;

private:
  std::array<std::uint64_t, k_bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Sum for the mean; long double keeps it exact far past 2^64 ns of total latency.
  long double sum_ = 0;
};

} // namespace huddle::load
