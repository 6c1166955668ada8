// ServerState: what every connection of one Server shares: its config, the broker (the
// ChatManager and the history: broker/broker.hpp), access control (accounts, tokens), the
// registry of open WebSocket sessions (net/session_registry.hpp), the connection slots and
// the drain at stop(), and the two watchers that walk the sessions (revocations, timeouts).
// It also says which executor a group's sessions move to at the upgrade (the io_context
// pool), and tells MemoryTrim when connections come and go (net/memory_trim.hpp).
// Thread-safe: connections on any thread of the server's io_context(s) touch it.
#pragma once

#include "auth/access_control.hpp"
#include "broker/broker.hpp"
#include "core/protocol_error.hpp"
#include "net/address_limits.hpp"
#include "net/client_address.hpp"
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
#include <boost/asio/experimental/concurrent_channel.hpp>

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
  bool stopping() const noexcept { return stopping_.load(); }
  std::size_t session_count() const noexcept { return slots_.load(); }
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

  // In an io_context pool (include/huddle/server.hpp), the executor every session of
  // `group` runs on; none when sessions stay where they were accepted (one executor).
  // Set once, before the first connection.
  void set_group_executors(std::vector<boost::asio::any_io_executor> executors) {
    broker_->set_group_executors(executors);
    group_executors_ = std::move(executors);
  }
  std::optional<boost::asio::any_io_executor> executor_for_group(GroupId group) const {
    if (group_executors_.empty()) return std::nullopt;
    return group_executors_[static_cast<std::uint64_t>(group) % group_executors_.size()];
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
  std::atomic<std::size_t> slots_{0};
  MemoryTrim memory_trim_; // follows slots_
  std::atomic<std::uint64_t> guests_{0};
  std::atomic<bool> stopping_{false};
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> drained_;
  std::vector<boost::asio::any_io_executor> group_executors_;
  ServerMetrics metrics_;
};

} // namespace huddle::net
