// Rate limits as token buckets, with the clock as an argument so tests drive them without
// sleeping (test/unit/core/rate_limiter_test.cpp).
//
// RateLimiter: up to `burst` events back to back, then `rate` per second on average. Each
// event takes a token; tokens come back continuously at `rate`, up to `burst`. A refused
// event takes nothing and learns how long until a token is back (the retry hint).
//
// MessageRateLimiter: the per-connection message limit (ServerConfig::message_rate,
// message_burst, rate_limit_close_after, docs/operations.md "Limits"): a RateLimiter plus
// the rule for a client that keeps sending while refused: the `close_after`-th refusal in a
// row, with no accepted message in between, closes the connection.
//
// Not thread-safe: one owner (a session's executor), or a mutex around it.
#pragma once

#include <chrono>
#include <cstdint>

namespace huddle::core {

class RateLimiter {
public:
  using Clock = std::chrono::steady_clock;

  // rate > 0 and burst >= 1 (std::invalid_argument otherwise). Starts full.
  RateLimiter(double rate_per_second, double burst, Clock::time_point now);

  // Takes a token and returns zero, or, with none left, takes nothing and returns how long
  // until one is back (at least 1 ms).
  std::chrono::milliseconds try_take(Clock::time_point now) noexcept;

  // Whether the bucket is full at `now`: it holds nothing a new one would not.
  bool full(Clock::time_point now) const noexcept;

private:
  double tokens_at(Clock::time_point now) const noexcept;

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point updated_;
};

class MessageRateLimiter {
public:
  using Clock = RateLimiter::Clock;

  struct Config {
    unsigned rate = 0;        // messages per second; 0: no limit
    unsigned burst = 1;       // messages back to back (at least 1 when rate > 0)
    unsigned close_after = 0; // refusals in a row that close the connection; 0: never
  };

  enum class Verdict {
    accepted, // handle the message
    refused,  // drop it and tell the sender to retry after `retry_after`
    close,    // drop it and close the connection (returned once)
    dropped,  // after `close`: drop it, say nothing
  };
  struct Decision {
    Verdict verdict;
    std::chrono::milliseconds retry_after{0}; // with `refused`
  };

  MessageRateLimiter(Config config, Clock::time_point now);

  // One message arrived at `now`.
  Decision on_message(Clock::time_point now) noexcept;

private:
  Config config_;
  RateLimiter bucket_; // unused when config_.rate is 0
  unsigned refused_in_a_row_ = 0;
  bool closed_ = false;
};

} // namespace huddle::core
