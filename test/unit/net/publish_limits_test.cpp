// Unit tests of PublishLimits (src/net/publish_limits.{hpp,cpp}): a token bucket per caller,
// callers independent, and a table that stays bounded. The clock is an argument: no sleeping.
#include "net/publish_limits.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

namespace {

using huddle::net::PublishLimits;
using namespace std::chrono_literals;

const PublishLimits::Clock::time_point t0{std::chrono::hours(1)};

} // namespace

TEST_CASE("a caller may publish a burst, then at the rate; others are not affected") {
  PublishLimits limits({10, 3});
  for (int i = 0; i < 3; ++i)
    CHECK(limits.try_take("crm", t0) == 0ms);
  const auto wait = limits.try_take("crm", t0);
  CHECK(wait > 0ms);
  CHECK(wait <= 100ms);
  CHECK(limits.try_take("billing", t0) == 0ms);
  CHECK(limits.try_take("crm", t0 + 100ms) == 0ms);
}

TEST_CASE("rate 0 is no limit; a rate needs a burst") {
  PublishLimits off({0, 1});
  for (int i = 0; i < 1000; ++i)
    CHECK(off.try_take("crm", t0) == 0ms);
  CHECK(off.tracked() == 0);
  CHECK_THROWS_AS(PublishLimits({5, 0}), std::invalid_argument);
}

TEST_CASE("the callers table stays bounded") {
  PublishLimits limits({1, 1, 100});
  for (int i = 0; i < 10'000; ++i)
    limits.try_take("caller" + std::to_string(i), t0);
  CHECK(limits.tracked() <= 100);
}
