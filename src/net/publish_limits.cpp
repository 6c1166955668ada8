#include "net/publish_limits.hpp"

#include <stdexcept>

namespace huddle::net {

PublishLimits::PublishLimits(Config config) : config_(config) {
  if (config_.rate > 0 && config_.burst < 1)
    throw std::invalid_argument("ServerConfig::publish_burst must be at least 1");
  if (config_.max_tracked < 1)
    throw std::invalid_argument("PublishLimits: max_tracked must be at least 1");
}

std::chrono::milliseconds PublishLimits::try_take(const std::string& caller,
                                                  Clock::time_point now) {
  if (config_.rate == 0) return std::chrono::milliseconds(0);
  std::lock_guard lock(mutex_);
  auto found = buckets_.find(caller);
  if (found == buckets_.end()) {
    if (buckets_.size() >= config_.max_tracked) {
      std::erase_if(buckets_, [now](const auto& entry) { return entry.second.full(now); });
      if (buckets_.size() >= config_.max_tracked) buckets_.clear();
    }
    found = buckets_.emplace(caller, core::RateLimiter(config_.rate, config_.burst, now)).first;
  }
  return found->second.try_take(now);
}

std::size_t PublishLimits::tracked() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

} // namespace huddle::net
