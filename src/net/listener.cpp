#include "net/listener.hpp"

#include "net/http_session.hpp"
#include "net/server_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/log/trivial.hpp>

namespace huddle::net {

namespace asio = boost::asio;

asio::awaitable<void> listen(asio::ip::tcp::acceptor& acceptor,
                             std::shared_ptr<ServerState> state) {
  // Each connection gets its own strand: its coroutines never run concurrently, while
  // different connections use every thread of the io_context.
  auto io_executor = acceptor.get_executor();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io_executor),
                                                       asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors, typically: back off instead of spinning on the error.
      BOOST_LOG_TRIVIAL(warning) << "accept failed: " << ec.message();
      asio::steady_timer pause(io_executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, run_http_session(std::move(socket), state), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& error) {
        BOOST_LOG_TRIVIAL(error) << "connection failed: " << error.what();
      }
    });
  }
}

} // namespace huddle::net
