// Unit tests of core::Counter, core::Histogram and core::Exposition (src/core/metrics.{hpp,cpp}):
// the Prometheus text format's lines, label and help escaping, value formatting, and
// histograms' cumulative _bucket / _sum / _count. The exposition is compared as text.
#include "core/metrics.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using huddle::core::Counter;
using huddle::core::Exposition;
using huddle::core::Histogram;
using huddle::core::MetricType;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

} // namespace

TEST_CASE("a counter sums what every thread added") {
  Counter counter;
  CHECK(counter.value() == 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&counter] {
      for (int i = 0; i < 1000; ++i)
        counter.add();
      counter.add(5);
    });
  for (auto& thread : threads)
    thread.join();
  CHECK(counter.value() == 4 * 1005);
}

TEST_CASE("a family has HELP and TYPE lines, then its samples") {
  Exposition out;
  out.counter("huddle_things_total", "Things counted", 42);
  out.gauge("huddle_level", "A level", 1.5);
  CHECK(out.text() == "# HELP huddle_things_total Things counted\n"
                      "# TYPE huddle_things_total counter\n"
                      "huddle_things_total 42\n"
                      "# HELP huddle_level A level\n"
                      "# TYPE huddle_level gauge\n"
                      "huddle_level 1.5\n");
}

TEST_CASE("label values escape backslash, double quote and newline; help escapes backslash and "
          "newline") {
  Exposition out;
  out.family("huddle_labelled_total", MetricType::counter, "back\\slash \"quoted\"\nnext line");
  out.sample("huddle_labelled_total", std::uint64_t{1},
             {{"version", "a\\b\"c\nd"}, {"code", "1008"}});
  const auto text = lines(out.text());
  REQUIRE(text.size() == 3);
  // The help keeps its double quotes: only label values escape them.
  CHECK(text[0] == R"(# HELP huddle_labelled_total back\\slash "quoted"\nnext line)");
  CHECK(text[2] == R"(huddle_labelled_total{version="a\\b\"c\nd",code="1008"} 1)");
  CHECK(huddle::core::escape_label_value("plain") == "plain");
}

TEST_CASE("values: integers exact, doubles shortest, infinities and NaN as Prometheus spells "
          "them") {
  using huddle::core::format_value;
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(3.0) == "3");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
  Exposition out;
  out.sample("huddle_big", std::uint64_t{18'446'744'073'709'551'615ULL});
  CHECK(out.text() == "huddle_big 18446744073709551615\n"); // no rounding through double
}

TEST_CASE("a histogram writes cumulative buckets up to +Inf, then _sum and _count") {
  static constexpr std::uint64_t bounds[] = {1'000, 10'000, 100'000};
  Histogram histogram(bounds);
  for (const std::uint64_t micros : {500, 1'000, 1'001, 20'000, 20'000, 5'000'000})
    histogram.observe(micros);
  Exposition out;
  out.histogram("huddle_commit_seconds", "Commit time", histogram, 1e6);
  CHECK(out.text() == "# HELP huddle_commit_seconds Commit time\n"
                      "# TYPE huddle_commit_seconds histogram\n"
                      "huddle_commit_seconds_bucket{le=\"0.001\"} 2\n" // a bound is inclusive
                      "huddle_commit_seconds_bucket{le=\"0.01\"} 3\n"
                      "huddle_commit_seconds_bucket{le=\"0.1\"} 5\n"
                      "huddle_commit_seconds_bucket{le=\"+Inf\"} 6\n"
                      "huddle_commit_seconds_sum 5.042501\n"
                      "huddle_commit_seconds_count 6\n");
}

TEST_CASE("histogram buckets never decrease, and _count is the +Inf bucket, while observed") {
  static constexpr std::uint64_t bounds[] = {1, 2, 4, 8, 16, 32};
  Histogram histogram(bounds);
  std::thread writer([&histogram] {
    for (std::uint64_t i = 0; i < 200'000; ++i)
      histogram.observe(i % 50);
  });
  for (int scrape = 0; scrape < 200; ++scrape) {
    const Histogram::Snapshot snapshot = histogram.snapshot();
    REQUIRE(snapshot.cumulative.size() == std::size(bounds) + 1);
    for (std::size_t i = 1; i < snapshot.cumulative.size(); ++i)
      CHECK(snapshot.cumulative[i] >= snapshot.cumulative[i - 1]);
  }
  writer.join();
  CHECK(histogram.snapshot().cumulative.back() == 200'000);
}

TEST_CASE("histogram bounds must increase") {
  static constexpr std::uint64_t bad[] = {10, 10};
  CHECK_THROWS_AS(Histogram{bad}, std::invalid_argument);
}
