#include "net/server_state.hpp"

#include "net/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace huddle::net {

namespace {

store::HistoryConfig history_config(const ServerConfig& config) {
  store::HistoryConfig history;
  history.path = config.db_path;
  history.durability = config.durability;
  history.max_per_group = config.history_per_group;
  history.max_age = config.history_max_age;
  return history;
}

} // namespace

ServerState::ServerState(boost::asio::any_io_executor executor, ServerConfig config)
    : config_(std::move(config)),
      history_(std::make_shared<store::HistoryStore>(history_config(config_))),
      chat_(executor, history_), drained_(executor, 1) {}

bool ServerState::try_reserve_slot() noexcept {
  if (stopping_) return false;
  if (slots_.fetch_add(1) < config_.max_connections) return true;
  release_slot();
  return false;
}

void ServerState::release_slot() noexcept {
  if (slots_.fetch_sub(1) == 1 && stopping_) drained_.try_send(boost::system::error_code{});
}

bool ServerState::add(WsSession& session) {
  std::lock_guard lock(sessions_mutex_);
  if (stopping_) return false;
  sessions_.insert(&session);
  return true;
}

void ServerState::remove(WsSession& session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(&session);
}

void ServerState::stop() {
  std::lock_guard lock(sessions_mutex_);
  if (stopping_.exchange(true)) return;
  for (WsSession* session : sessions_)
    session->close(boost::beast::websocket::close_code::going_away, "server shutdown");
  if (slots_ == 0) drained_.try_send(boost::system::error_code{});
}

boost::asio::awaitable<void> ServerState::wait_drained() {
  if (slots_ == 0) co_return;
  co_await drained_.async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
}

} // namespace huddle::net
