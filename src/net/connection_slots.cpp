#include "net/connection_slots.hpp"

#include "core/use_tuple.hpp"

namespace huddle::net {

ConnectionSlots::ConnectionSlots(boost::asio::any_io_executor executor, std::size_t max)
    : max_(max), drained_(std::move(executor), 1) {}

std::size_t ConnectionSlots::try_reserve() noexcept {
  if (closed_) return 0;
  const std::size_t before = held_.fetch_add(1);
  if (before < max_) return before + 1;
  release();
  return 0;
}

std::size_t ConnectionSlots::release() noexcept {
  const std::size_t left = held_.fetch_sub(1) - 1;
  if (left == 0 && closed_) drained_.try_send(boost::system::error_code{});
  return left;
}

bool ConnectionSlots::close() noexcept {
  if (closed_.exchange(true)) return false;
  if (held_ == 0) drained_.try_send(boost::system::error_code{});
  return true;
}

boost::asio::awaitable<void> ConnectionSlots::wait_drained() {
  if (held_ == 0) co_return;
  co_await drained_.async_receive(use_tuple);
}

} // namespace huddle::net
