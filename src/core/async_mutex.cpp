#include <huddle/async_mutex.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace huddle {

boost::asio::awaitable<AsyncMutex::Guard> AsyncMutex::lock() {
  if (!try_lock()) {
    auto [ec] = co_await slot_.async_send(boost::system::error_code{},
                                          boost::asio::as_tuple(boost::asio::use_awaitable));
    // The channel reports a cancelled wait as its own channel_cancelled; callers expect the
    // error every other Asio operation uses for cancellation.
    if (ec)
      throw boost::system::system_error(boost::asio::error::operation_aborted, "AsyncMutex::lock");
  }
  co_return Guard{*this};
}

} // namespace huddle
