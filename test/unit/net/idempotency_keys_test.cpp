// Unit tests of IdempotencyKeys (src/net/idempotency_keys.{hpp,cpp}): a claimed key answers
// retries with "in progress", then the stored id; an abandoned one may be claimed again; other
// content under the same key is refused; the window and max_keys bound what is remembered.
// The clock is an argument: no sleeping.
#include "net/idempotency_keys.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

using huddle::net::IdempotencyKeys;
using Outcome = IdempotencyKeys::Claim::Outcome;
using namespace std::chrono_literals;

const IdempotencyKeys::Clock::time_point t0{std::chrono::hours(1)};

} // namespace

TEST_CASE("a key: in progress until stored, then the same id for every retry") {
  IdempotencyKeys keys({10min, 100});
  const auto first = keys.claim("crm\n7\nk1", 42, t0);
  REQUIRE(first.outcome == Outcome::fresh);
  CHECK(keys.claim("crm\n7\nk1", 42, t0 + 1s).outcome == Outcome::in_progress);
  keys.complete("crm\n7\nk1", first.serial, 17);
  const auto retry = keys.claim("crm\n7\nk1", 42, t0 + 2s);
  CHECK(retry.outcome == Outcome::done);
  CHECK(retry.id == 17);
  CHECK(keys.claim("crm\n7\nk1", 43, t0 + 2s).outcome == Outcome::mismatch);
  CHECK(keys.claim("crm\n7\nk2", 42, t0 + 2s).outcome == Outcome::fresh); // another key
}

TEST_CASE("an abandoned key (nothing sent) may be claimed again") {
  IdempotencyKeys keys({10min, 100});
  const auto first = keys.claim("k", 1, t0);
  keys.abandon("k", first.serial);
  const auto second = keys.claim("k", 1, t0);
  CHECK(second.outcome == Outcome::fresh);
  // The first attempt's late calls do not touch the second claim.
  keys.complete("k", first.serial, 5);
  keys.abandon("k", first.serial);
  CHECK(keys.claim("k", 1, t0).outcome == Outcome::in_progress);
}

TEST_CASE("keys are forgotten after the window, and past max_keys the oldest first") {
  IdempotencyKeys keys({10min, 3});
  for (int i = 0; i < 3; ++i) {
    auto claim = keys.claim("k" + std::to_string(i), 1, t0 + std::chrono::seconds(i));
    keys.complete("k" + std::to_string(i), claim.serial, i + 1);
  }
  CHECK(keys.claim("k0", 1, t0 + 5s).outcome == Outcome::done);
  CHECK(keys.claim("k3", 1, t0 + 5s).outcome == Outcome::fresh); // k0 goes
  CHECK(keys.size() == 3);
  CHECK(keys.claim("k0", 1, t0 + 6s).outcome == Outcome::fresh);
  CHECK(keys.claim("k2", 1, t0 + 10min + 3s).outcome == Outcome::fresh); // past its window
  CHECK(keys.size() <= 3);
  // Claims abandoned in a flood leave nothing behind.
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "flood" + std::to_string(i);
    keys.abandon(key, keys.claim(key, 1, t0 + 11min).serial);
  }
  CHECK(keys.size() <= 3);
}

TEST_CASE("a window of 0 (or no keys) remembers nothing") {
  IdempotencyKeys off({0ms, 100});
  CHECK_FALSE(off.enabled());
  auto first = off.claim("k", 1, t0);
  off.complete("k", first.serial, 9);
  CHECK(off.claim("k", 1, t0).outcome == Outcome::fresh);
  CHECK(off.size() == 0);
  CHECK_FALSE(IdempotencyKeys({10min, 0}).enabled());
}
