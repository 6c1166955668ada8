#include "net/server_state.hpp"

#include "net/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace huddle::net {

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
