// Access on the HTTP side: who the caller of a request is (its token), whether it may use a
// group, and the account routes: POST /api/login, POST /api/logout, GET /api/groups.
// Refusals are JSON responses: 401 without a valid token, 403 for a group the caller is not
// a member of (or a login cookie sent from another site), 429 for too many failed logins.
#pragma once

#include "auth/token.hpp"
#include "net/http_response.hpp"

#include <huddle/message.hpp>

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <variant>

namespace huddle::net {

class ServerState;

// The caller: nullopt with AuthMode::none (anyone), else the token's identity.
using Caller = std::optional<auth::Identity>;

// The caller of `request`, or the refusal to send. `query_token` is the WebSocket's ?token=.
std::variant<Caller, Response> authenticate(const Request& request, ServerState& state,
                                            const std::optional<std::string>& query_token);

// nullopt when `caller` may use `group`, else the 403 to send.
boost::asio::awaitable<std::optional<Response>>
authorize(const Request& request, ServerState& state, const Caller& caller, GroupId group);

boost::asio::awaitable<Response> login_route(const Request& request, ServerState& state,
                                             const std::string& peer_address);
Response logout_route(const Request& request, bool secure);
boost::asio::awaitable<Response> groups_route(const Request& request, ServerState& state);

} // namespace huddle::net
