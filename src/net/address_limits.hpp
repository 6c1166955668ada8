// AddressLimits: the per-client-address limits on WebSocket upgrades (ServerConfig::
// max_connections_per_address, upgrade_rate_per_address, upgrade_burst_per_address;
// docs/operations.md "Limits"). The address is the client's as net/client_address.hpp
// finds it, so behind a trusted proxy each client counts, not the proxy.
//
// try_admit() is called for every upgrade request, before any token is checked: it takes a
// token from the address's upgrade bucket and claims one of its connection slots, or
// refuses (HTTP 429 with Retry-After). The slot is held by the returned Admission until it
// is destroyed, when the connection ends.
//
// Memory is bounded: an address is tracked while it holds connections or its bucket is not
// full yet. Past `max_tracked` addresses a prune forgets those with no connection and a full
// bucket; if that is not enough (a flood from very many addresses), also those with no
// connection and a bucket still refilling: they start afresh, which only lets such an
// address try a little sooner. A prune runs once the table has doubled since the last
// one, so its cost is amortised O(1) per request.
// Thread-safe (one mutex; a request takes it once, a closing connection once).
#pragma once

#include "core/rate_limiter.hpp"

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>

namespace huddle::net {

class AddressLimits : public std::enable_shared_from_this<AddressLimits> {
public:
  using Clock = core::RateLimiter::Clock;

  struct Config {
    std::size_t max_connections = 0; // open WebSocket connections per address; 0: no limit
    unsigned upgrade_rate = 0;       // upgrade requests per second per address; 0: no limit
    unsigned upgrade_burst = 1;      // upgrade requests back to back (>= 1 when rate > 0)
    std::size_t max_tracked = 65'536;
  };

  // One connection counted against its address; releases it when destroyed. Counts nothing
  // when there is no per-address connection limit, but names the address all the same.
  class Admission {
  public:
    // The client's address (unspecified for a default-constructed one).
    const boost::asio::ip::address& address() const noexcept { return address_; }
    Admission() = default;
    Admission(Admission&& other) noexcept;
    Admission& operator=(Admission&& other) noexcept;
    ~Admission();
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;

  private:
    friend class AddressLimits;
    Admission(std::shared_ptr<AddressLimits> limits, boost::asio::ip::address address)
        : limits_(std::move(limits)), address_(address) {}
    std::shared_ptr<AddressLimits> limits_;
    boost::asio::ip::address address_;
  };

  struct Refusal {
    enum class Reason { upgrade_rate, connections } reason;
    std::chrono::seconds retry_after; // for the Retry-After header, at least 1 s
  };

  // Make it with std::make_shared: admissions share ownership of it.
  explicit AddressLimits(Config config);

  // One upgrade request from `address` at `now`.
  std::variant<Admission, Refusal> try_admit(const boost::asio::ip::address& address,
                                             Clock::time_point now = Clock::now());

  // Addresses tracked now (for tests: the table stays bounded).
  std::size_t tracked() const;

private:
  struct Entry {
    std::size_t open = 0;
    std::optional<core::RateLimiter> upgrades;
  };

  void release(const boost::asio::ip::address& address) noexcept;
  // With the mutex held.
  void prune(Clock::time_point now);
  bool idle(const Entry& entry, Clock::time_point now) const;

  const Config config_;
  mutable std::mutex mutex_;
  std::unordered_map<boost::asio::ip::address, Entry> entries_;
  std::size_t prune_at_;
};

} // namespace huddle::net
