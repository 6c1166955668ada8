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
      tls_(make_tls_context(config_)),
      revocations_(executor, access_, sessions_, config_.access_check_interval, logger()),
      timeouts_(executor, sessions_, timeout_tick(config_)),
      slots_(executor, config_.max_connections), memory_trim_(executor) {
  if (config_.message_rate > 0 && config_.message_burst == 0)
    throw std::invalid_argument("ServerConfig::message_burst must be at least 1");
}

bool ServerState::try_reserve_slot() noexcept {
  const std::size_t held = slots_.try_reserve();
  if (held == 0) return false;
  memory_trim_.opened(held);
  return true;
}

void ServerState::release_slot() noexcept {
  const std::size_t open = slots_.release();
  // Lets the sweep see at once that the last session ended after stop().
  if (open == 0 && slots_.closed()) timeouts_.wake(shared_from_this());
  memory_trim_.closed(open);
}

bool ServerState::add(WsSession& session) {
  return sessions_.add(session, [&] { revocations_.session_added(session); });
}

void ServerState::remove(WsSession& session) {
  sessions_.remove(session);
}

void ServerState::stop() {
  if (!slots_.close()) return;
  sessions_.close_all_for_good(protocol::Error::server_shutdown);
  if (slots_.held() == 0) timeouts_.wake(shared_from_this());
  revocations_.stop(shared_from_this());
}

boost::asio::awaitable<void> ServerState::watch_revocations() {
  auto self = shared_from_this(); // the watcher is a member
  co_await revocations_.run();
}

boost::asio::awaitable<void> ServerState::watch_timeouts() {
  auto self = shared_from_this(); // the sweep is a member
  // After stop() the sessions still close (their handshakes bounded by the watchdog); the
  // last one's end cuts the wait short (release_slot()).
  co_await timeouts_.run([this] { return !slots_.closed() || slots_.held() > 0; });
}

boost::asio::awaitable<void> ServerState::wait_drained() {
  co_await slots_.wait_drained();
}

} // namespace huddle::net
