// PublishLimits: the rate of POST /api/groups/{id}/messages per caller (the token's subject;
// the client's address with AuthMode::none), a token bucket each (ServerConfig::publish_rate,
// publish_burst; docs/operations.md "Limits"), as a connection's --message-rate is per
// connection. Over it the request is answered 429 with Retry-After.
//
// Memory is bounded: at most `max_tracked` callers; past it, those whose bucket is full (they
// hold nothing a new bucket would not) are forgotten, and if that is not enough, all are (they
// start afresh, which only lets them publish a little sooner).
// Thread-safe (one mutex, taken once per request).
#pragma once

#include "core/rate_limiter.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace huddle::net {

class PublishLimits {
public:
  using Clock = core::RateLimiter::Clock;

  struct Config {
    unsigned rate = 0;  // publishes per second per caller; 0: no limit
    unsigned burst = 1; // back to back (at least 1 when rate > 0)
    std::size_t max_tracked = 10'000;
  };

  // std::invalid_argument for a rate without a burst.
  explicit PublishLimits(Config config);

  // Zero when `caller` may publish now (the publish is counted), else how long until it may.
  std::chrono::milliseconds try_take(const std::string& caller,
                                     Clock::time_point now = Clock::now());

  std::size_t tracked() const;

private:
  const Config config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, core::RateLimiter> buckets_;
};

} // namespace huddle::net
