// The accept loop: one coroutine that hands each accepted socket to an HTTP session
// coroutine on the next of the Server's executors, round-robin (a strand of it when
// ConnectionExecutors says so). Ends when the acceptor is closed.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <memory>
#include <vector>

namespace huddle::net {

class ServerState;

// Where accepted connections run (see include/huddle/server.hpp).
struct ConnectionExecutors {
  // Round-robin over these, one per connection.
  std::vector<boost::asio::any_io_executor> executors;
  // True: each executor may run handlers on several threads at once, so every connection
  // gets a strand of its own on it. False: each executor runs one handler at a time (an
  // io_context run by one thread), and a connection runs on it directly.
  bool strand_per_connection = true;
};

boost::asio::awaitable<void> listen(boost::asio::ip::tcp::acceptor& acceptor,
                                    std::shared_ptr<ServerState> state,
                                    ConnectionExecutors connections);

} // namespace huddle::net
