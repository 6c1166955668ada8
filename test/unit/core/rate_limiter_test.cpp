// Unit tests of RateLimiter and MessageRateLimiter (src/core/rate_limiter.{hpp,cpp}): the
// burst, the refill, the retry hint, and the rule that closes a client that keeps sending
// while refused. The clock is an argument: no sleeping, no timing assertion.
#include "core/rate_limiter.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

namespace {

using huddle::core::MessageRateLimiter;
using huddle::core::RateLimiter;
using Verdict = MessageRateLimiter::Verdict;
using std::chrono::milliseconds;

const RateLimiter::Clock::time_point t0{std::chrono::hours(1)};

} // namespace

TEST_CASE("a rate limiter allows its burst back to back, then refuses with a retry hint") {
  RateLimiter limiter(2, 3, t0); // 2 per second, 3 back to back
  CHECK(limiter.try_take(t0) == milliseconds(0));
  CHECK(limiter.try_take(t0) == milliseconds(0));
  CHECK(limiter.try_take(t0) == milliseconds(0));
  CHECK(limiter.try_take(t0) == milliseconds(500)); // one token back in 1/2 s
  // A refusal takes nothing: the hint counts down with the clock.
  CHECK(limiter.try_take(t0 + milliseconds(200)) == milliseconds(300));
  CHECK(limiter.try_take(t0 + milliseconds(499)) == milliseconds(1));
  CHECK(limiter.try_take(t0 + milliseconds(500)) == milliseconds(0));
  CHECK(limiter.try_take(t0 + milliseconds(500)) == milliseconds(500));
}

TEST_CASE("a rate limiter refills at its rate, up to its burst") {
  RateLimiter limiter(10, 5, t0);
  for (int i = 0; i < 5; ++i)
    REQUIRE(limiter.try_take(t0) == milliseconds(0));
  CHECK_FALSE(limiter.full(t0));
  CHECK_FALSE(limiter.full(t0 + milliseconds(499)));
  CHECK(limiter.full(t0 + milliseconds(500)));
  // An hour later it holds the burst, not 36000 tokens.
  const auto later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i)
    CHECK(limiter.try_take(later) == milliseconds(0));
  CHECK(limiter.try_take(later) == milliseconds(100));
}

TEST_CASE("a rate limiter ignores a clock that goes back (another thread's earlier reading)") {
  RateLimiter limiter(1, 1, t0);
  CHECK(limiter.try_take(t0 + milliseconds(1000)) == milliseconds(0));
  CHECK(limiter.try_take(t0) == milliseconds(1000));
  CHECK(limiter.try_take(t0 + milliseconds(2000)) == milliseconds(0));
}

TEST_CASE("a rate limiter's hint stays bounded for a tiny rate") {
  RateLimiter limiter(1e-12, 1, t0);
  CHECK(limiter.try_take(t0) == milliseconds(0));
  CHECK(limiter.try_take(t0) == milliseconds(24LL * 3600 * 1000));
}

TEST_CASE("a rate limiter refuses settings that cannot work") {
  CHECK_THROWS_AS(RateLimiter(0, 1, t0), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter(-1, 1, t0), std::invalid_argument);
  CHECK_THROWS_AS(RateLimiter(1, 0.5, t0), std::invalid_argument);
}

TEST_CASE("a message rate limiter with rate 0 accepts everything") {
  MessageRateLimiter limiter({0, 1, 1}, t0);
  for (int i = 0; i < 10'000; ++i)
    REQUIRE(limiter.on_message(t0).verdict == Verdict::accepted);
}

TEST_CASE("a message rate limiter refuses over its rate and closes after N refusals in a row") {
  MessageRateLimiter limiter({1, 2, 3}, t0); // 1 per second, 2 back to back, close on the 3rd
  CHECK(limiter.on_message(t0).verdict == Verdict::accepted);
  CHECK(limiter.on_message(t0).verdict == Verdict::accepted);
  const auto refused = limiter.on_message(t0 + milliseconds(250));
  CHECK(refused.verdict == Verdict::refused);
  CHECK(refused.retry_after == milliseconds(750));
  CHECK(limiter.on_message(t0 + milliseconds(500)).verdict == Verdict::refused);
  CHECK(limiter.on_message(t0 + milliseconds(600)).verdict == Verdict::close);
  // Closed for good: later messages are dropped silently, even once tokens are back.
  CHECK(limiter.on_message(t0 + milliseconds(700)).verdict == Verdict::dropped);
  CHECK(limiter.on_message(t0 + std::chrono::hours(1)).verdict == Verdict::dropped);
}

TEST_CASE("an accepted message between refusals starts the count again") {
  MessageRateLimiter limiter({1, 1, 2}, t0);
  CHECK(limiter.on_message(t0).verdict == Verdict::accepted);
  CHECK(limiter.on_message(t0).verdict == Verdict::refused);
  CHECK(limiter.on_message(t0 + milliseconds(1000)).verdict == Verdict::accepted);
  CHECK(limiter.on_message(t0 + milliseconds(1000)).verdict == Verdict::refused);
  CHECK(limiter.on_message(t0 + milliseconds(2000)).verdict == Verdict::accepted);
  CHECK(limiter.on_message(t0 + milliseconds(2000)).verdict == Verdict::refused);
  CHECK(limiter.on_message(t0 + milliseconds(2000)).verdict == Verdict::close);
}

TEST_CASE("a message rate limiter with close_after 0 refuses forever without closing") {
  MessageRateLimiter limiter({1, 1, 0}, t0);
  CHECK(limiter.on_message(t0).verdict == Verdict::accepted);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(limiter.on_message(t0).verdict == Verdict::refused);
}
