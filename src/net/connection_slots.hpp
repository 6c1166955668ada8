// ConnectionSlots: the WebSocket connections a server holds against
// ServerConfig::max_connections, and the drain at shutdown: once closed, no slot is given out
// and wait_drained() completes when the last one comes back. Thread-safe: the count and the
// closed flag share one atomic, so a reservation and close() are ordered by it (no slot is
// given out after close() saw none held); the drain is a channel.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <cstddef>

namespace huddle::net {

class ConnectionSlots {
public:
  ConnectionSlots(boost::asio::any_io_executor executor, std::size_t max);

  // One slot, unless `max` are held or close() ran: the number held with it, or 0.
  std::size_t try_reserve() noexcept;
  // Gives one back; returns the number still held.
  std::size_t release() noexcept;
  std::size_t held() const noexcept;

  // No slot is given out from now on. False when it had run already.
  bool close() noexcept;
  bool closed() const noexcept;
  // Completes once close() ran and no slot is held.
  boost::asio::awaitable<void> wait_drained();

private:
  const std::size_t max_;
  std::atomic<std::size_t> state_{0}; // slots held, plus k_closed once close() ran
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> drained_;
};

} // namespace huddle::net
