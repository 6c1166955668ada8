#include "net/connection_slots.hpp"

#include "core/use_tuple.hpp"

#include <limits>

namespace huddle::net {

namespace {

// The top bit of the state: set by close(). The rest counts the slots held, refused
// reservations included for the moment before they give theirs back.
constexpr std::size_t k_closed = std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 1);

} // namespace

ConnectionSlots::ConnectionSlots(boost::asio::any_io_executor executor, std::size_t max)
    : max_(max), drained_(std::move(executor), 1) {}

std::size_t ConnectionSlots::try_reserve() noexcept {
  const std::size_t before = state_.fetch_add(1);
  if ((before & k_closed) == 0 && before < max_) return before + 1;
  release();
  return 0;
}

std::size_t ConnectionSlots::release() noexcept {
  const std::size_t after = state_.fetch_sub(1) - 1;
  if (after == k_closed) drained_.try_send(boost::system::error_code{});
  return after & ~k_closed;
}

std::size_t ConnectionSlots::held() const noexcept {
  return state_.load() & ~k_closed;
}

bool ConnectionSlots::close() noexcept {
  const std::size_t before = state_.fetch_or(k_closed);
  if ((before & k_closed) != 0) return false;
  if (before == 0) drained_.try_send(boost::system::error_code{});
  return true;
}

bool ConnectionSlots::closed() const noexcept {
  return (state_.load() & k_closed) != 0;
}

boost::asio::awaitable<void> ConnectionSlots::wait_drained() {
  if (state_.load() == k_closed) co_return;
  co_await drained_.async_receive(use_tuple);
}

} // namespace huddle::net
