// The HTTP side's decisions about one request, apart from the connection loop that reads and
// writes them (run_http_session(), net/http_session.cpp), so the fuzz target
// test/fuzz/http_route_fuzz.cpp drives them with requests parsed in memory.
#pragma once

#include "net/http_response.hpp"
#include "net/target.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>

namespace huddle::net {

class ServerState;
struct SessionAccess;

// The request parser's body limit: POST /api/login has a small body...
inline constexpr std::size_t k_max_request_body = 16 * 1024;
// ...and a publish (POST /api/groups/{id}/messages) a message of up to max_message_bytes,
// JSON-escaped: room for it twice over, and its other fields.
inline std::size_t request_body_limit(const ServerConfig& config) noexcept {
  return std::max(k_max_request_body, 2 * config.max_message_bytes + 4096);
}

// The response to every request but a WebSocket upgrade. `peer_address` keys the login throttle.
boost::asio::awaitable<Response> route(const Request& request, ServerState& state,
                                       const std::string& peer_address);

// The refusal of a WebSocket upgrade request to `target`, or nothing when the session may
// start: then `user` and `access` say who it is.
boost::asio::awaitable<std::optional<Response>>
check_upgrade(const Request& request, ServerState& state, const WsTarget& target, std::string& user,
              SessionAccess& access);

} // namespace huddle::net
