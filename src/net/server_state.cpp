#include "net/server_state.hpp"

#include "core/log.hpp"
#include "core/use_tuple.hpp"
#include "net/ws_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace huddle::net {

namespace {

std::vector<AddressRange> parse_trusted_proxies(const ServerConfig& config) {
  try {
    return parse_address_ranges(config.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("ServerConfig::trusted_proxies: ") + e.what());
  }
}

AddressLimits::Config address_limits_config(const ServerConfig& config) {
  if (config.upgrade_rate_per_address > 0 && config.upgrade_burst_per_address == 0)
    throw std::invalid_argument("ServerConfig::upgrade_burst_per_address must be at least 1");
  AddressLimits::Config limits;
  limits.max_connections = config.max_connections_per_address;
  limits.upgrade_rate = config.upgrade_rate_per_address;
  limits.upgrade_burst = config.upgrade_burst_per_address;
  return limits;
}

std::unique_ptr<TlsContext> make_tls_context(const ServerConfig& config) {
  if (config.tls_certificate_file.empty() && config.tls_key_file.empty()) return nullptr;
  if (config.tls_certificate_file.empty() || config.tls_key_file.empty())
    throw std::invalid_argument("TLS needs both a certificate file and a key file");
  return std::make_unique<TlsContext>(config.tls_certificate_file, config.tls_key_file);
}

} // namespace

ServerState::ServerState(boost::asio::any_io_executor executor, ServerConfig config)
    : config_(core::log::with_logger(std::move(config))),
      broker_(broker::make_broker(executor, config_)), access_(config_),
      trusted_proxies_(parse_trusted_proxies(config_)),
      address_limits_(std::make_shared<AddressLimits>(address_limits_config(config_))),
      idempotency_keys_({config_.idempotency_window, config_.idempotency_keys}),
      publish_limits_({config_.publish_rate, config_.publish_burst}),
      tls_(make_tls_context(config_)), watch_strand_(boost::asio::make_strand(executor)),
      watch_timer_(watch_strand_), timeout_strand_(boost::asio::make_strand(executor)),
      timeout_timer_(timeout_strand_), memory_trim_(executor), drained_(executor, 1) {
  if (config_.message_rate > 0 && config_.message_burst == 0)
    throw std::invalid_argument("ServerConfig::message_burst must be at least 1");
}

bool ServerState::try_reserve_slot() noexcept {
  if (stopping_) return false;
  const std::size_t before = slots_.fetch_add(1);
  if (before < config_.max_connections) {
    memory_trim_.opened(before + 1);
    return true;
  }
  release_slot();
  return false;
}

void ServerState::release_slot() noexcept {
  const std::size_t open = slots_.fetch_sub(1) - 1;
  if (open == 0 && stopping_) {
    drained_.try_send(boost::system::error_code{});
    end_timeout_watch();
  }
  memory_trim_.closed(open);
}

bool ServerState::add(WsSession& session) {
  return sessions_.add(session, [&] {
    // A revocation check ran between this session's membership check and now, without it.
    if (session.access_from_memberships() && session.access_revision() != revision_seen_)
      recheck_ = true;
  });
}

void ServerState::remove(WsSession& session) {
  sessions_.remove(session);
}

void ServerState::stop() {
  if (stopping_.exchange(true)) return;
  sessions_.close_all_for_good(protocol::Error::server_shutdown);
  if (slots_ == 0) {
    drained_.try_send(boost::system::error_code{});
    end_timeout_watch();
  }
  boost::asio::post(watch_strand_, [self = shared_from_this()] { self->watch_timer_.cancel(); });
}

boost::asio::awaitable<void> ServerState::watch_revocations() {
  namespace asio = boost::asio;
  if (access_.mode() == AuthMode::none) co_return;
  co_await asio::dispatch(watch_strand_, asio::use_awaitable);
  auto self = shared_from_this();
  // Polling one integer is cheap, and it sees changes made by `huddle group revoke` in another
  // process, which no in-process notification would.
  std::int64_t seen = -1; // a failed first read: the first check reads every membership
  try {
    seen = co_await access_.async_access_revision();
  } catch (const std::exception& e) {
    HUDDLE_LOG(logger(), warning, "access.watch_failed", {{"error", e.what()}});
  }
  while (!stopping_) {
    watch_timer_.expires_after(config_.access_check_interval);
    co_await watch_timer_.async_wait(use_tuple);
    if (stopping_) break;
    std::int64_t revision = 0;
    std::set<std::pair<GroupId, std::string>> members;
    try {
      revision = co_await access_.async_access_revision();
      if (revision == seen && !recheck_.exchange(false)) continue;
      members = co_await access_.async_memberships();
    } catch (const std::exception& e) { // a busy or failing database: try again next time
      HUDDLE_LOG(logger(), warning, "access.watch_failed", {{"error", e.what()}});
      continue;
    }
    seen = revision;
    // The revision is recorded under the registry's lock: add() compares against it there.
    sessions_.with_sessions([&](const SessionRegistry::Sessions& all) {
      revision_seen_ = revision;
      for (WsSession* session : all) {
        if (!session->access_from_memberships()) continue;
        if (members.contains({session->group(), session->user()})) continue;
        HUDDLE_LOG(logger(), info, "access.revoked",
                   {{"group", session->group()}, {"user", session->user()}});
        session->close(protocol::Error::access_revoked);
      }
    });
  }
}

void ServerState::end_timeout_watch() noexcept {
  boost::asio::post(timeout_strand_,
                    [self = shared_from_this()] { self->timeout_timer_.cancel(); });
}

std::chrono::milliseconds ServerState::timeout_tick() const noexcept {
  const auto shortest = std::min({config_.ping_interval, config_.idle_timeout,
                                  config_.handshake_timeout, config_.shutdown_timeout});
  return std::clamp(shortest / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
}

boost::asio::awaitable<void> ServerState::watch_timeouts() {
  namespace asio = boost::asio;
  co_await asio::dispatch(timeout_strand_, asio::use_awaitable);
  auto self = shared_from_this();
  std::vector<std::shared_ptr<WsSession>> due;
  // After stop() the sessions still close (their handshakes bounded by the watchdog); the
  // last one's end cuts the wait short (release_slot()).
  while (!stopping_ || slots_ > 0) {
    timeout_timer_.expires_after(timeout_tick());
    co_await timeout_timer_.async_wait(use_tuple);
    const auto now = std::chrono::steady_clock::now();
    sessions_.with_sessions([&](const SessionRegistry::Sessions& all) {
      for (WsSession* session : all)
        if (session->watchdog_due(now))
          if (auto alive = session->weak_from_this().lock()) due.push_back(std::move(alive));
    });
    for (auto& session : due) {
      auto executor = session->executor();
      asio::post(executor, [session = std::move(session)] { session->on_watchdog(); });
    }
    due.clear();
  }
}

boost::asio::awaitable<void> ServerState::wait_drained() {
  if (slots_ == 0) co_return;
  co_await drained_.async_receive(use_tuple);
}

} // namespace huddle::net
