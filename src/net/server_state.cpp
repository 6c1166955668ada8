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

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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

#if defined(__GLIBC__)
// How long after the crowd left the trim runs. release_slot() is called while the departing
// session still holds its memory (its owner frees it when the call returns, on that
// session's thread), and the crowd leaves in a burst over every io thread: a trim at once
// missed what the last sessions held (docs/performance-journal.md, "4. Churn: giving memory
// back"), and one burst asked for several trims, each walking every arena under its lock.
constexpr std::chrono::milliseconds k_trim_delay{100};

// malloc_trim works on the whole process (every thread's arena), so one waiting trim is
// enough for every server in it.
std::atomic<bool> trim_waiting{false};

struct WaitingTrim {
  explicit WaitingTrim(const boost::asio::any_io_executor& executor)
      : timer(executor, k_trim_delay) {}
  ~WaitingTrim() { trim_waiting = false; } // also when its io_context goes without running it
  WaitingTrim(const WaitingTrim&) = delete;
  WaitingTrim& operator=(const WaitingTrim&) = delete;
  boost::asio::steady_timer timer;
};

void trim_soon(const boost::asio::any_io_executor& executor) noexcept {
  if (trim_waiting.exchange(true)) return; // the waiting one will return this memory too
  try {
    auto waiting = std::make_shared<WaitingTrim>(executor);
    // The handler owns `waiting`: the flag clears when it has run (or is destroyed unrun).
    waiting->timer.async_wait([waiting](const boost::system::error_code&) { malloc_trim(0); });
  } catch (const std::exception&) { // no memory for the timer: trim now rather than never
    trim_waiting = false;
    malloc_trim(0);
  }
}
#endif

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
      timeout_timer_(timeout_strand_), drained_(executor, 1) {
  if (config_.message_rate > 0 && config_.message_burst == 0)
    throw std::invalid_argument("ServerConfig::message_burst must be at least 1");
}

bool ServerState::try_reserve_slot() noexcept {
  if (stopping_) return false;
  const std::size_t before = slots_.fetch_add(1);
  if (before < config_.max_connections) {
    std::size_t peak = peak_since_trim_.load();
    while (before + 1 > peak && !peak_since_trim_.compare_exchange_weak(peak, before + 1)) {
    }
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
  return_memory(open);
}

void ServerState::return_memory(std::size_t open) noexcept {
  // glibc keeps what departed connections freed in its arenas (per thread) for reuse, so
  // the process's RSS stays at its peak after a crowd leaves. When the open connections
  // fall to half of their peak since the last trim, or to none, give it back, shortly
  // after (k_trim_delay). What it gives back: docs/performance-journal.md, "4. Churn: giving
  // memory back".
  std::size_t peak = peak_since_trim_.load();
  const bool crowd_left = peak >= k_trim_min_peak && open <= peak / 2;
  if (!crowd_left && !(open == 0 && peak > 0)) return;
  if (!peak_since_trim_.compare_exchange_strong(peak, open)) return; // another thread trims
#if defined(__GLIBC__)
  // Not on the strand: a trim must not hold up the revocation check, nor wait for it.
  trim_soon(watch_strand_.get_inner_executor());
#endif
}

bool ServerState::add(WsSession& session) {
  std::lock_guard lock(sessions_mutex_);
  if (stopping_) return false;
  sessions_.insert(&session);
  // A revocation check ran between this session's membership check and now, without it.
  if (session.access_from_memberships() && session.access_revision() != revision_seen_)
    recheck_ = true;
  return true;
}

void ServerState::remove(WsSession& session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(&session);
}

SendQueueStats ServerState::send_queue_stats() {
  SendQueueStats stats;
  std::lock_guard lock(sessions_mutex_);
  for (const WsSession* session : sessions_) {
    const std::size_t bytes = session->queued_bytes();
    stats.total_bytes += bytes;
    stats.max_bytes = std::max(stats.max_bytes, bytes);
  }
  return stats;
}

std::vector<ServerState::Connection> ServerState::connections(GroupId group) {
  std::vector<Connection> result;
  std::lock_guard lock(sessions_mutex_);
  for (WsSession* session : sessions_)
    if (session->group() == group)
      result.push_back({session->user(), session->client_address().to_string()});
  return result;
}

std::size_t ServerState::close_user(GroupId group, std::string_view user, protocol::Error reason) {
  std::size_t closed = 0;
  std::lock_guard lock(sessions_mutex_);
  for (WsSession* session : sessions_) {
    if (session->group() != group || session->user() != user) continue;
    session->close(reason);
    ++closed;
  }
  return closed;
}

void ServerState::stop() {
  std::lock_guard lock(sessions_mutex_);
  if (stopping_.exchange(true)) return;
  for (WsSession* session : sessions_)
    session->close(protocol::Error::server_shutdown);
  if (slots_ == 0) {
    drained_.try_send(boost::system::error_code{});
    end_timeout_watch();
  }
  boost::asio::post(watch_strand_, [self = shared_from_this()] { self->watch_timer_.cancel(); });
}

void ServerState::reconnect_all(protocol::Error reason) {
  std::lock_guard lock(sessions_mutex_);
  for (WsSession* session : sessions_)
    session->close(reason);
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
    std::lock_guard lock(sessions_mutex_);
    revision_seen_ = revision;
    for (WsSession* session : sessions_) {
      if (!session->access_from_memberships()) continue;
      if (members.contains({session->group(), session->user()})) continue;
      HUDDLE_LOG(logger(), info, "access.revoked",
                 {{"group", session->group()}, {"user", session->user()}});
      session->close(protocol::Error::access_revoked);
    }
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
    {
      std::lock_guard lock(sessions_mutex_);
      for (WsSession* session : sessions_)
        if (session->watchdog_due(now))
          if (auto alive = session->weak_from_this().lock()) due.push_back(std::move(alive));
    }
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
