#include "core/duration.hpp"

#include <doctest/doctest.h>

using huddle::core::Duration;
using huddle::core::k_max_duration;
using huddle::core::parse_duration;
using namespace std::chrono_literals;

TEST_CASE("a duration is a decimal number and a unit; a bare number is seconds") {
  CHECK(parse_duration("250ms") == Duration{250ms});
  CHECK(parse_duration("10") == Duration{10s});
  CHECK(parse_duration("10s") == Duration{10s});
  CHECK(parse_duration("1.5s") == Duration{1500ms});
  CHECK(parse_duration("0.25") == Duration{250ms});
  CHECK(parse_duration("2.5m") == Duration{150s});
  CHECK(parse_duration("5m") == Duration{5min});
  CHECK(parse_duration("12h") == Duration{12h});
  CHECK(parse_duration("30d") == Duration{720h});
  CHECK(parse_duration("0") == Duration{});
  CHECK(parse_duration("0ms") == Duration{});
  CHECK(parse_duration("007s") == Duration{7s});
  CHECK(parse_duration("36500d") == k_max_duration);
}

TEST_CASE("anything else is refused, not guessed at") {
  for (const char* bad : {"",
                          "ms",
                          "s",
                          "-1",
                          "+1",
                          "-1s",
                          "1e3",
                          "1e3ms",
                          " 1s",
                          "1s ",
                          "1 s",
                          "1.s",
                          ".5s",
                          "1..5s",
                          "1.5.5s",
                          "1,5s",
                          "1S",
                          "1sec",
                          "1y",
                          "1w",
                          "1us",
                          "0.5ms",
                          "1.0001s",
                          "soon",
                          "0x10",
                          "36501d",
                          "36500.001d",
                          "876000001h",
                          "9999999999999d",
                          "1.0000000001s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

TEST_CASE("to_string writes the largest unit that divides, and reads back") {
  CHECK(to_string(Duration{}) == "0");
  CHECK(to_string(Duration{250ms}) == "250ms");
  CHECK(to_string(Duration{1500ms}) == "1500ms");
  CHECK(to_string(Duration{10s}) == "10s");
  CHECK(to_string(Duration{90s}) == "90s");
  CHECK(to_string(Duration{60s}) == "1m");
  CHECK(to_string(Duration{12h}) == "12h");
  CHECK(to_string(Duration{720h}) == "30d");
  for (const std::chrono::milliseconds value : {1ms, 999ms, 1001ms, 61'000ms, 3'601'000ms}) {
    CAPTURE(value.count());
    const Duration duration{value};
    CHECK(parse_duration(to_string(duration)) == duration);
  }
}
