#include "core/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace huddle::core {

namespace {

// A retry hint never says more than this: a rate near zero must not overflow the conversion.
constexpr double k_max_wait_ms = 24.0 * 3600 * 1000;

} // namespace

RateLimiter::RateLimiter(double rate_per_second, double burst, Clock::time_point now)
    : rate_(rate_per_second), burst_(burst), tokens_(burst), updated_(now) {
  if (!(rate_ > 0)) throw std::invalid_argument("RateLimiter: the rate must be > 0");
  if (!(burst_ >= 1)) throw std::invalid_argument("RateLimiter: the burst must be >= 1");
}

double RateLimiter::tokens_at(Clock::time_point now) const noexcept {
  // A clock read earlier by another caller (now < updated_) adds nothing.
  const double elapsed = std::chrono::duration<double>(now - updated_).count();
  return std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
}

std::chrono::milliseconds RateLimiter::try_take(Clock::time_point now) noexcept {
  tokens_ = tokens_at(now);
  updated_ = std::max(updated_, now);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return std::chrono::milliseconds(0);
  }
  const double wait_ms = std::min((1 - tokens_) / rate_ * 1000, k_max_wait_ms);
  // Rounded up, less a nanosecond of floating-point noise (1 ms must not become 2).
  return std::chrono::milliseconds(
      std::max<std::int64_t>(1, std::llround(std::ceil(wait_ms - 1e-6))));
}

bool RateLimiter::full(Clock::time_point now) const noexcept {
  return tokens_at(now) >= burst_;
}

MessageRateLimiter::MessageRateLimiter(Config config, Clock::time_point now)
    : config_(config), bucket_(std::max(1u, config.rate), std::max(1u, config.burst), now) {}

MessageRateLimiter::Decision MessageRateLimiter::on_message(Clock::time_point now) noexcept {
  if (closed_) return {Verdict::dropped};
  if (config_.rate == 0) return {Verdict::accepted};
  const std::chrono::milliseconds wait = bucket_.try_take(now);
  if (wait.count() == 0) {
    refused_in_a_row_ = 0;
    return {Verdict::accepted};
  }
  if (config_.close_after != 0 && ++refused_in_a_row_ >= config_.close_after) {
    closed_ = true;
    return {Verdict::close};
  }
  return {Verdict::refused, wait};
}

} // namespace huddle::core
