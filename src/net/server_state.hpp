// ServerState: what every connection of one Server shares: its config and logger, the broker
// (the ChatManager and the history: broker/broker.hpp), access control (accounts, tokens), the
// limits and the publish API's state, and the parts with a job each: the upgraded sessions
// (SessionRegistry), the connection slots and the drain (ConnectionSlots), the two walks on a
// timer (RevocationWatcher, TimeoutSweep), the heap give-back (MemoryTrim) and the io_context
// pool's routing (GroupExecutors). What is left here is how stop() ends them together.
// Thread-safe: connections on any thread of the server's io_context(s) touch it.
#pragma once

#include "auth/access_control.hpp"
#include "broker/broker.hpp"
#include "core/protocol_error.hpp"
#include "net/address_limits.hpp"
#include "net/client_address.hpp"
#include "net/connection_slots.hpp"
#include "net/group_executors.hpp"
#include "net/idempotency_keys.hpp"
#include "net/memory_trim.hpp"
#include "net/metrics.hpp"
#include "net/publish_limits.hpp"
#include "net/revocation_watcher.hpp"
#include "net/session_registry.hpp"
#include "net/timeout_sweep.hpp"
#include "net/tls_context.hpp"

#include <huddle/chat_manager.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace huddle::net {

class WsSession;

class ServerState : public std::enable_shared_from_this<ServerState> {
public:
  // Opens the history and the accounts (throws std::runtime_error when it cannot, and
  // std::invalid_argument for access settings that cannot work).
  ServerState(boost::asio::any_io_executor executor, ServerConfig config);

  const ServerConfig& config() const noexcept { return config_; }
  // ServerConfig::logger, or the default one when the app gave none.
  Logger& logger() const noexcept { return *config_.logger; }
  ChatManager& chat() noexcept { return broker_->chat(); }
  broker::Broker& broker() noexcept { return *broker_; }
  auth::AccessControl& access() noexcept { return access_; }
  AddressLimits& address_limits() noexcept { return *address_limits_; }
  // ServerConfig::trusted_proxies, parsed.
  const std::vector<AddressRange>& trusted_proxies() const noexcept { return trusted_proxies_; }

  // The publish API's (net/publish_routes.hpp) memory of Idempotency-Keys, and its rate.
  IdempotencyKeys& idempotency_keys() noexcept { return idempotency_keys_; }
  PublishLimits& publish_limits() noexcept { return publish_limits_; }
  // The certificate and TLS settings; none without TLS (ServerConfig::tls_certificate_file).
  TlsContext* tls() noexcept { return tls_.get(); }

  // The upgraded sessions (what the admin routes, /metrics and the broker's epoch change reach).
  SessionRegistry& sessions() noexcept { return sessions_; }

  // Claims a connection slot; false when max_connections are open or the server stops.
  bool try_reserve_slot() noexcept;
  void release_slot() noexcept;

  // A session registers once upgraded, so stop() can close it. Returns false (and does not
  // register it) when the server is already stopping.
  bool add(WsSession& session);
  void remove(WsSession& session);

  // Closes every registered session with 1001; later add() calls fail.
  void stop();
  bool stopping() const noexcept { return slots_.closed(); }
  std::size_t session_count() const noexcept { return slots_.held(); }
  // The counters sessions and routes update (GET /metrics).
  ServerMetrics& metrics() noexcept { return metrics_; }
  const ServerMetrics& metrics() const noexcept { return metrics_; }

  // Completes once stop() was called and every slot is released.
  boost::asio::awaitable<void> wait_drained();

  // Until stop(): the RevocationWatcher (net/revocation_watcher.hpp).
  boost::asio::awaitable<void> watch_revocations();
  // Until stop() and the last session's end: the TimeoutSweep (net/timeout_sweep.hpp).
  boost::asio::awaitable<void> watch_timeouts();

  std::uint64_t next_guest_number() noexcept { return ++guests_; }

  // The io_context pool's routing (net/group_executors.hpp); the broker's lanes follow it.
  // Set once, before the first connection.
  void set_group_executors(std::vector<boost::asio::any_io_executor> executors) {
    broker_->set_group_executors(executors);
    group_executors_.set(std::move(executors));
  }
  std::optional<boost::asio::any_io_executor> executor_for_group(GroupId group) const {
    return group_executors_.of(group);
  }

  // The access revision the last revocation check saw: a session records it before its
  // membership is checked, so add() knows whether a check ran in between.
  std::int64_t access_revision_seen() const noexcept { return revocations_.revision_seen(); }

private:
  const ServerConfig config_;
  const std::shared_ptr<broker::Broker> broker_;
  auth::AccessControl access_;
  const std::vector<AddressRange> trusted_proxies_;
  const std::shared_ptr<AddressLimits> address_limits_;
  IdempotencyKeys idempotency_keys_;
  PublishLimits publish_limits_;
  const std::unique_ptr<TlsContext> tls_;
  SessionRegistry sessions_;
  RevocationWatcher revocations_; // walks sessions_
  TimeoutSweep timeouts_;         // walks sessions_
  ConnectionSlots slots_;         // closed by stop()
  MemoryTrim memory_trim_;        // follows slots_
  std::atomic<std::uint64_t> guests_{0};
  GroupExecutors group_executors_;
  ServerMetrics metrics_;
};

} // namespace huddle::net
