// LoginThrottle: one token bucket per address under one mutex. Buckets are refilled lazily, when
// their address is next seen. At capacity a new address first evicts every bucket that is full
// by now (it holds nothing a fresh bucket would not), else the one nearest full: the addresses
// that are being refused are the last to go, so flooding the map from many addresses does not
// unthrottle the one that hammered. The scan is O(max_addresses) and only happens at capacity,
// next to an Argon2 verification that costs far more.
#include "auth/login_throttle.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace huddle::auth {

namespace {

// retry_after never says more than this, whatever the configuration: a refill rate near zero
// must not overflow the conversion to seconds.
constexpr double k_max_retry_seconds = 24 * 3600;

} // namespace

LoginThrottle::LoginThrottle(Config config) : config_(config) {
  if (!(config_.burst >= 1)) throw std::invalid_argument("LoginThrottle: burst must be >= 1");
  if (!(config_.refill_per_second > 0))
    throw std::invalid_argument("LoginThrottle: refill_per_second must be > 0");
  if (config_.max_addresses < 1)
    throw std::invalid_argument("LoginThrottle: max_addresses must be >= 1");
}

std::chrono::seconds LoginThrottle::retry_after(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // An address never seen, or evicted, may try: do not spend a bucket on a question.
  if (!buckets_.contains(address)) return std::chrono::seconds::zero();
  const Bucket& bucket = refill(address, now);
  if (bucket.tokens >= 1) return std::chrono::seconds::zero();
  const double wait =
      std::min((1 - bucket.tokens) / config_.refill_per_second, k_max_retry_seconds);
  // Rounded up, less a microsecond of floating-point noise (0.6 / 0.2 must be 3 s, not 4 s).
  return std::chrono::seconds(
      std::max<long long>(1, static_cast<long long>(std::ceil(wait - 1e-6))));
}

bool LoginThrottle::record_failure(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Bucket& bucket = refill(address, now);
  const bool had_token = bucket.tokens >= 1;
  // Never below zero: a failure that slipped past retry_after (a race between two attempts)
  // does not extend the wait beyond one token's refill.
  bucket.tokens = std::max(0.0, bucket.tokens - 1);
  return had_token && bucket.tokens < 1;
}

LoginThrottle::Bucket& LoginThrottle::refill(const std::string& address, Clock::time_point now) {
  // The tokens `bucket` holds at `now`, capped at burst; a clock read earlier by another thread
  // (now < updated) adds nothing.
  auto tokens_at = [&](const Bucket& bucket) {
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    return std::min(config_.burst,
                    bucket.tokens + std::max(0.0, elapsed) * config_.refill_per_second);
  };

  if (auto found = buckets_.find(address); found != buckets_.end()) {
    Bucket& bucket = found->second;
    bucket.tokens = tokens_at(bucket);
    bucket.updated = std::max(bucket.updated, now);
    return bucket;
  }

  if (buckets_.size() >= config_.max_addresses) {
    std::erase_if(buckets_,
                  [&](const auto& entry) { return tokens_at(entry.second) >= config_.burst; });
    if (buckets_.size() >= config_.max_addresses) {
      // Nearest full first; among equals, the one least recently seen.
      const auto victim =
          std::max_element(buckets_.begin(), buckets_.end(), [&](const auto& a, const auto& b) {
            const double ta = tokens_at(a.second);
            const double tb = tokens_at(b.second);
            if (ta != tb) return ta < tb;
            return a.second.updated > b.second.updated;
          });
      buckets_.erase(victim);
    }
  }
  return buckets_.emplace(address, Bucket{config_.burst, now}).first->second;
}

} // namespace huddle::auth
