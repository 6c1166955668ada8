#include <huddle/async_mutex.hpp>

#include <boost/asio/use_awaitable.hpp>

namespace huddle {

boost::asio::awaitable<AsyncMutex::Guard> AsyncMutex::lock() {
  if (!try_lock()) co_await slot_.async_send(boost::system::error_code{}, boost::asio::use_awaitable);
  co_return Guard{*this};
}

}  // namespace huddle
