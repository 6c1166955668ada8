// Unit tests of LoginThrottle (src/auth/login_throttle.cpp): the burst, the refusal with its
// Retry-After, the refill, independence of addresses and the bounded map. Time is passed in
// (a fake steady_clock instant), so nothing sleeps and nothing is timed.
#include "auth/login_throttle.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using huddle::auth::LoginThrottle;
using namespace std::chrono_literals;

namespace {

const LoginThrottle::Clock::time_point k_start = LoginThrottle::Clock::time_point{} + 1000h;

} // namespace

TEST_CASE("a burst of failures is allowed, then the address is refused until a token is back") {
  LoginThrottle throttle; // burst 5, one token per 5 s
  for (int i = 0; i < 4; ++i) {
    CHECK(throttle.retry_after("10.0.0.1", k_start) == 0s);
    CHECK_FALSE(throttle.record_failure("10.0.0.1", k_start));
  }
  CHECK(throttle.retry_after("10.0.0.1", k_start) == 0s);
  CHECK(throttle.record_failure("10.0.0.1", k_start)); // the fifth empties the bucket
  CHECK(throttle.retry_after("10.0.0.1", k_start) == 5s);
  CHECK(throttle.retry_after("10.0.0.1", k_start + 2s) == 3s);
  // Rounded up: 0.5 s left is "retry in 1 s", never 0 while refused.
  CHECK(throttle.retry_after("10.0.0.1", k_start + 4500ms) == 1s);
  CHECK(throttle.retry_after("10.0.0.1", k_start + 5s) == 0s);
}

TEST_CASE("tokens come back at the refill rate, up to the burst") {
  LoginThrottle throttle(LoginThrottle::Config{.burst = 3, .refill_per_second = 1});
  for (int i = 0; i < 3; ++i)
    throttle.record_failure("a", k_start);
  CHECK(throttle.retry_after("a", k_start) > 0s);

  // Two tokens back after 2 s: two more failures, the second empties the bucket.
  CHECK_FALSE(throttle.record_failure("a", k_start + 2s));
  CHECK(throttle.record_failure("a", k_start + 2s));
  CHECK(throttle.retry_after("a", k_start + 2s) == 1s);

  // A long quiet time refills to the burst, not beyond it.
  const auto later = k_start + 1h;
  CHECK_FALSE(throttle.record_failure("a", later));
  CHECK_FALSE(throttle.record_failure("a", later));
  CHECK(throttle.record_failure("a", later));
  CHECK(throttle.retry_after("a", later) == 1s);
}

TEST_CASE("failures beyond the burst do not push the wait further out") {
  LoginThrottle throttle(LoginThrottle::Config{.burst = 2, .refill_per_second = 0.5});
  throttle.record_failure("a", k_start);
  CHECK(throttle.record_failure("a", k_start));
  // Two more that raced past retry_after: the bucket stays at zero, not below.
  CHECK_FALSE(throttle.record_failure("a", k_start));
  CHECK_FALSE(throttle.record_failure("a", k_start));
  CHECK(throttle.retry_after("a", k_start) == 2s);
}

TEST_CASE("other addresses are not affected") {
  LoginThrottle throttle;
  for (int i = 0; i < 5; ++i)
    throttle.record_failure("10.0.0.1", k_start);
  CHECK(throttle.retry_after("10.0.0.1", k_start) > 0s);
  CHECK(throttle.retry_after("10.0.0.2", k_start) == 0s);
  CHECK(throttle.retry_after("2001:db8::1", k_start) == 0s);
  CHECK_FALSE(throttle.record_failure("10.0.0.2", k_start));
  CHECK(throttle.retry_after("10.0.0.2", k_start) == 0s);
}

TEST_CASE("a clock that steps back (another thread's older reading) adds no tokens") {
  LoginThrottle throttle(LoginThrottle::Config{.burst = 1, .refill_per_second = 1});
  CHECK(throttle.record_failure("a", k_start + 10s));
  CHECK(throttle.retry_after("a", k_start) == 1s);
  CHECK(throttle.retry_after("a", k_start + 10s) == 1s);
  CHECK(throttle.retry_after("a", k_start + 11s) == 0s);
}

TEST_CASE("the map is bounded: new addresses evict, the refused address stays refused") {
  LoginThrottle throttle(
      LoginThrottle::Config{.burst = 2, .refill_per_second = 0.1, .max_addresses = 3});
  throttle.record_failure("attacker", k_start);
  CHECK(throttle.record_failure("attacker", k_start));

  // A flood of one-failure addresses, 10 ms apart, far more than the map holds.
  for (int i = 0; i < 100; ++i)
    throttle.record_failure("flood-" + std::to_string(i), k_start + i * 10ms);
  const auto after = k_start + 1s;

  // The early flood addresses were evicted: their next failure starts from a full bucket
  // (it would empty a bucket still holding about one token).
  CHECK_FALSE(throttle.record_failure("flood-0", after));
  CHECK_FALSE(throttle.record_failure("flood-1", after));
  // The emptied bucket was the nearest empty, so it was kept: still refused.
  CHECK(throttle.retry_after("attacker", after) > 0s);
}

TEST_CASE("at capacity, buckets that are full again go first") {
  LoginThrottle throttle(
      LoginThrottle::Config{.burst = 2, .refill_per_second = 0.2, .max_addresses = 2});
  throttle.record_failure("a", k_start); // 1 token left
  throttle.record_failure("b", k_start);
  CHECK(throttle.record_failure("b", k_start)); // empty
  // 6 s later: a has refilled to 2 (full), b holds 1.2.
  CHECK_FALSE(throttle.record_failure("c", k_start + 6s));
  // b survived the eviction: one failure takes it below one token.
  CHECK(throttle.record_failure("b", k_start + 6s));
}

TEST_CASE("a configuration that could never let anyone in is refused") {
  CHECK_THROWS_AS(LoginThrottle(LoginThrottle::Config{.burst = 0.5}), std::invalid_argument);
  CHECK_THROWS_AS(LoginThrottle(LoginThrottle::Config{.refill_per_second = 0}),
                  std::invalid_argument);
  CHECK_THROWS_AS(LoginThrottle(LoginThrottle::Config{.max_addresses = 0}), std::invalid_argument);
}

TEST_CASE("concurrent failures from several threads are all counted") {
  LoginThrottle throttle(
      LoginThrottle::Config{.burst = 1000, .refill_per_second = 1, .max_addresses = 8});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&throttle] {
      for (int i = 0; i < 250; ++i)
        throttle.record_failure("shared", k_start);
    });
  for (auto& thread : threads)
    thread.join();
  // 1000 failures at one instant used up exactly the burst of 1000.
  CHECK(throttle.retry_after("shared", k_start) == 1s);
  CHECK(throttle.retry_after("shared", k_start + 1s) == 0s);
}
