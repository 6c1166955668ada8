#include "net/address_limits.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace huddle::net {

namespace {

// A client refused for its open connections cannot be told when one will end: a few seconds
// keeps it from spending its upgrade bucket on retries.
constexpr std::chrono::seconds k_connections_retry_after{5};

} // namespace

AddressLimits::Admission::Admission(Admission&& other) noexcept
    : limits_(std::move(other.limits_)), address_(other.address_) {}

AddressLimits::Admission& AddressLimits::Admission::operator=(Admission&& other) noexcept {
  if (this != &other) {
    if (limits_) limits_->release(address_);
    limits_ = std::move(other.limits_);
    address_ = other.address_;
  }
  return *this;
}

AddressLimits::Admission::~Admission() {
  if (limits_) limits_->release(address_);
}

AddressLimits::AddressLimits(Config config) : config_(config), prune_at_(config.max_tracked) {
  if (config_.upgrade_rate > 0 && config_.upgrade_burst < 1)
    throw std::invalid_argument("AddressLimits: upgrade_burst must be at least 1");
  if (config_.max_tracked < 1)
    throw std::invalid_argument("AddressLimits: max_tracked must be at least 1");
}

std::variant<AddressLimits::Admission, AddressLimits::Refusal>
AddressLimits::try_admit(const boost::asio::ip::address& address, Clock::time_point now) {
  if (config_.max_connections == 0 && config_.upgrade_rate == 0) return Admission(nullptr, address);
  std::lock_guard lock(mutex_);
  auto found = entries_.find(address);
  if (found == entries_.end()) {
    if (entries_.size() >= prune_at_) prune(now);
    found = entries_.emplace(address, Entry{}).first;
    if (config_.upgrade_rate > 0)
      found->second.upgrades.emplace(config_.upgrade_rate, config_.upgrade_burst, now);
  }
  Entry& entry = found->second;
  if (entry.upgrades) {
    const std::chrono::milliseconds wait = entry.upgrades->try_take(now);
    if (wait.count() > 0) {
      const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait);
      return Refusal{Refusal::Reason::upgrade_rate, std::max(seconds, std::chrono::seconds(1))};
    }
  }
  if (config_.max_connections == 0) return Admission(nullptr, address);
  if (entry.open >= config_.max_connections)
    return Refusal{Refusal::Reason::connections, k_connections_retry_after};
  ++entry.open;
  return Admission(shared_from_this(), address);
}

void AddressLimits::release(const boost::asio::ip::address& address) noexcept {
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(address);
  if (found == entries_.end() || found->second.open == 0) return; // cannot happen
  --found->second.open;
  // Forgotten at once when it holds nothing a new entry would not.
  if (found->second.open == 0 && !found->second.upgrades) entries_.erase(found);
}

bool AddressLimits::idle(const Entry& entry, Clock::time_point now) const {
  return entry.open == 0 && (!entry.upgrades || entry.upgrades->full(now));
}

void AddressLimits::prune(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& item) { return idle(item.second, now); });
  if (entries_.size() >= config_.max_tracked / 2)
    std::erase_if(entries_, [](const auto& item) { return item.second.open == 0; });
  // What is left holds connections (bounded by max_connections overall): grow rather than
  // scan again on every new address.
  prune_at_ = std::max(config_.max_tracked, 2 * entries_.size());
}

std::size_t AddressLimits::tracked() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

} // namespace huddle::net
