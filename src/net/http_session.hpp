// One accepted TCP connection: HTTP requests (keep-alive) until it upgrades to WebSocket.
// Routes: GET /healthz, GET /api/groups/{id}/messages and /members (docs/protocol.md),
// GET /ws/{group_id} (upgrade); anything else is a JSON 404.
// Every refusal before the upgrade is an HTTP status with `{"error","detail"}`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace huddle::net {

class ServerState;

boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              std::shared_ptr<ServerState> state);

} // namespace huddle::net
