#include "load/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace huddle::load {

std::size_t Histogram::bucket_of(std::uint64_t value) noexcept {
  if (value < k_exact_limit) return static_cast<std::size_t>(value);
  int const msb = 63 - std::countl_zero(value); // >= k_sub_bucket_bits + 1
  int const shift = msb - k_sub_bucket_bits;    // keeps the top 7 bits
  std::uint64_t const top = value >> shift;     // in [64, 128)
  return static_cast<std::size_t>(k_exact_limit +
                                  static_cast<std::uint64_t>(shift - 1) * k_sub_buckets +
                                  (top - k_sub_buckets));
}

std::uint64_t Histogram::bucket_upper(std::size_t bucket) noexcept {
  if (bucket < k_exact_limit) return bucket;
  std::uint64_t const rest = bucket - k_exact_limit;
  int const shift = static_cast<int>(rest / k_sub_buckets) + 1;
  std::uint64_t const top = k_sub_buckets + rest % k_sub_buckets;
  std::uint64_t const lower = top << shift;
  return lower + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t value) noexcept {
  ++counts_[bucket_of(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void Histogram::merge(Histogram const& other) noexcept {
  for (std::size_t i = 0; i < k_bucket_count; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() noexcept {
  *this = Histogram{};
}

double Histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t Histogram::percentile(double percent) const noexcept {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The epsilon keeps 99.9 % of 1000 at rank 999: 0.999 * 1000 is 999.0000000000001.
  auto rank =
      static_cast<std::uint64_t>(std::ceil(percent * static_cast<double>(count_) / 100.0 - 1e-9));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < k_bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

} // namespace huddle::load
