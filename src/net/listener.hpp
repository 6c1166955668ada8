// The accept loop: one coroutine that hands each accepted socket, on a strand of its own,
// to an HTTP session coroutine. Ends when the acceptor is closed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace huddle::net {

class ServerState;

boost::asio::awaitable<void> listen(boost::asio::ip::tcp::acceptor& acceptor,
                                    std::shared_ptr<ServerState> state);

} // namespace huddle::net
