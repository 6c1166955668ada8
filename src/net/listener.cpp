#include "net/listener.hpp"

#include "core/log.hpp"
#include "net/http_session.hpp"
#include "net/server_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace huddle::net {

namespace asio = boost::asio;

asio::awaitable<void> listen(asio::ip::tcp::acceptor& acceptor, std::shared_ptr<ServerState> state,
                             ConnectionExecutors connections) {
  std::size_t next = 0;
  for (;;) {
    // The strand is made on the connection's own executor, never on the acceptor's: a
    // strand of the acceptor's strand would serialise every connection behind the accept
    // loop (it did, until the measurement in docs/performance-journal.md "Threads" found it).
    asio::any_io_executor executor = connections.executors[next];
    next = (next + 1) % connections.executors.size();
    if (connections.strand_per_connection) executor = asio::make_strand(executor);
    auto [ec, socket] =
        co_await acceptor.async_accept(executor, asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors, typically: back off instead of spinning on the error.
      HUDDLE_LOG(state->logger(), warning, "server.accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(
        executor, run_http_session(std::move(socket), state), [state](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& error) {
            HUDDLE_LOG(state->logger(), error, "http.connection_failed", {{"error", error.what()}});
          }
        });
  }
}

} // namespace huddle::net
