// LoginThrottle: slows repeated failed logins from one address. A token bucket per address:
// each failure takes a token, tokens come back at `refill_per_second`; with the bucket empty
// the address is refused (HTTP 429 with Retry-After) until a token is back. Successes do not
// consume. Memory is bounded: at most `max_addresses` buckets, full buckets evicted first.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace huddle::auth {

class LoginThrottle {
public:
  using Clock = std::chrono::steady_clock;

  struct Config {
    double burst = 5;               // failures allowed back to back
    double refill_per_second = 0.2; // then one more every 5 s
    std::size_t max_addresses = 10'000;
  };

  LoginThrottle() : LoginThrottle(Config{}) {}
  explicit LoginThrottle(Config config);

  // Zero when `address` may try now, else how long until it may (rounded up to a second).
  std::chrono::seconds retry_after(const std::string& address,
                                   Clock::time_point now = Clock::now());
  // A failed attempt from `address`; returns true when this failure emptied its bucket.
  bool record_failure(const std::string& address, Clock::time_point now = Clock::now());

private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  Bucket& refill(const std::string& address, Clock::time_point now);

  Config config_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

} // namespace huddle::auth
