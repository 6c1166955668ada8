#include "net/idempotency_keys.hpp"

namespace huddle::net {

IdempotencyKeys::Claim IdempotencyKeys::claim(const std::string& key, std::uint64_t fingerprint,
                                              Clock::time_point now) {
  if (!enabled()) return Claim{};
  std::lock_guard lock(mutex_);
  expire(now);
  if (auto found = entries_.find(key); found != entries_.end()) {
    const Entry& entry = found->second;
    if (entry.fingerprint != fingerprint) return Claim{Claim::Outcome::mismatch};
    if (entry.id == 0) return Claim{Claim::Outcome::in_progress};
    return Claim{Claim::Outcome::done, entry.id};
  }
  const std::uint64_t serial = ++serials_;
  entries_.emplace(key, Entry{fingerprint, serial, 0});
  order_.push_back(Claimed{now, serial, key});
  expire(now); // max_keys
  return Claim{Claim::Outcome::fresh, 0, serial};
}

void IdempotencyKeys::complete(const std::string& key, std::uint64_t serial,
                               MessageId id) noexcept {
  std::lock_guard lock(mutex_);
  if (auto found = entries_.find(key); found != entries_.end() && found->second.serial == serial)
    found->second.id = id;
}

void IdempotencyKeys::abandon(const std::string& key, std::uint64_t serial) noexcept {
  std::lock_guard lock(mutex_);
  if (auto found = entries_.find(key); found != entries_.end() && found->second.serial == serial)
    entries_.erase(found);
}

std::size_t IdempotencyKeys::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void IdempotencyKeys::expire(Clock::time_point now) {
  // order_ also holds claims abandoned since: bounded too, at twice max_keys.
  while (!order_.empty() &&
         (order_.front().at + config_.window <= now || entries_.size() > config_.max_keys ||
          order_.size() > 2 * config_.max_keys)) {
    const Claimed& oldest = order_.front();
    if (auto found = entries_.find(oldest.key);
        found != entries_.end() && found->second.serial == oldest.serial)
      entries_.erase(found);
    order_.pop_front();
  }
}

} // namespace huddle::net
