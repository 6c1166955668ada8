#include "load/histogram.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using huddle::load::Histogram;

namespace {

// A reported value may sit at the top of its bucket: at most 1/64 above the true one.
bool within_bucket(std::uint64_t reported, std::uint64_t truth) {
  return reported >= truth && reported <= truth + truth / 64 + 1;
}

} // namespace

TEST_CASE("an empty histogram reports zeros") {
  Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.percentile(50) == 0);
  CHECK(h.max() == 0);
  CHECK(h.min() == 0);
  CHECK(h.mean() == 0.0);
}

TEST_CASE("small values are exact") {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.percentile(50) == 50);
  CHECK(h.percentile(90) == 90);
  CHECK(h.percentile(99) == 99);
  CHECK(h.percentile(100) == 100);
  CHECK(h.percentile(0) == 1);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == doctest::Approx(50.5));
}

TEST_CASE("percentiles of 1..1,000,000 stay within one bucket of the truth") {
  Histogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v)
    h.record(v);
  CHECK(within_bucket(h.percentile(50), 500'000));
  CHECK(within_bucket(h.percentile(90), 900'000));
  CHECK(within_bucket(h.percentile(99), 990'000));
  CHECK(within_bucket(h.percentile(99.9), 999'000));
  CHECK(h.percentile(100) == 1'000'000); // clamped to the real maximum
  CHECK(h.max() == 1'000'000);
}

TEST_CASE("a rare outlier shows in p99.9 and max, not in p99") {
  Histogram h;
  for (int i = 0; i < 999; ++i)
    h.record(1'000'000); // 1 ms in ns
  h.record(250'000'000); // one 250 ms stall
  CHECK(within_bucket(h.percentile(99), 1'000'000));
  CHECK(within_bucket(h.percentile(99.9), 1'000'000));
  CHECK(h.percentile(99.99) == 250'000'000);
  CHECK(h.max() == 250'000'000);
}

TEST_CASE("buckets cover every value and never report below it") {
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{127}, std::uint64_t{128},
                          std::uint64_t{129}, std::uint64_t{255}, std::uint64_t{256},
                          std::uint64_t{1} << 40, (std::uint64_t{1} << 40) + 12345, UINT64_MAX}) {
    auto const bucket = Histogram::bucket_of(v);
    CAPTURE(v);
    REQUIRE(bucket < Histogram::k_bucket_count);
    CHECK(Histogram::bucket_upper(bucket) >= v);
    if (bucket > 0) CHECK(Histogram::bucket_upper(bucket - 1) < v);
  }
}

TEST_CASE("merging per-thread histograms equals recording into one") {
  Histogram a, b, all;
  for (std::uint64_t v = 1; v <= 5000; ++v) {
    (v % 2 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  for (double p : {50.0, 90.0, 99.0, 99.9})
    CHECK(a.percentile(p) == all.percentile(p));
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
}
