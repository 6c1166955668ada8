// ServerState: what every connection of one Server shares: its config, the history store,
// the ChatManager (which logs to the store), and the registry of open WebSocket sessions that
// stop() and the connection limit use. Thread-safe: connections on any thread of the io_context
// touch it.
#pragma once

#include "store/history_store.hpp"

#include <huddle/chat_manager.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_set>

namespace huddle::net {

class WsSession;

class ServerState {
public:
  // Opens the history (throws std::runtime_error when it cannot).
  ServerState(boost::asio::any_io_executor executor, ServerConfig config);

  const ServerConfig& config() const noexcept { return config_; }
  ChatManager& chat() noexcept { return chat_; }
  store::HistoryStore& history() noexcept { return *history_; }

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

  // Completes once stop() was called and every slot is released.
  boost::asio::awaitable<void> wait_drained();

  std::uint64_t next_guest_number() noexcept { return ++guests_; }

private:
  const ServerConfig config_;
  const std::shared_ptr<store::HistoryStore> history_;
  ChatManager chat_;
  std::atomic<std::size_t> slots_{0};
  std::atomic<std::uint64_t> guests_{0};
  std::atomic<bool> stopping_{false};
  std::mutex sessions_mutex_;
  std::unordered_set<WsSession*> sessions_;
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> drained_;
};

} // namespace huddle::net
