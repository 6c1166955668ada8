// One accepted connection, plain TCP or TLS: HTTP requests (keep-alive) until it upgrades to
// WebSocket. route() (net/http_routes.hpp) answers each request: the web client's files,
// GET /healthz, GET /metrics, the account routes (net/access_routes.hpp), the group API and
// publishing (net/publish_routes.hpp; all in docs/protocol.md); GET /ws/{group_id} upgrades;
// anything else is a JSON 404.
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
