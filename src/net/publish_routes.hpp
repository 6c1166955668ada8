// The publish API and the group admin's routes (docs/protocol.md, "Publishing from a backend"
// and "Admin rights"):
// - POST /api/groups/{id}/messages `{"text": ..., "ref": ...}`: a backend sends a message to
//   the group as its members do, through the broker (so ids, order, history and the other
//   nodes are as for a member's message), from the token's subject; answered 201 {"id": N}
//   once the message is stored as --durability (or Redis) promises. An Idempotency-Key makes
//   a retry answer with the first publish's id (net/idempotency_keys.hpp).
// - GET /api/groups/{id}/connections: the group's open WebSockets on this server.
// - DELETE /api/groups/{id}/members/{user}: closes the user's WebSockets in the group with
//   1008 "removed by admin".
// Who may: auth::AccessControl::async_rights() (an admin of the group; for publishing also a
// token with the publish right).
#pragma once

#include "net/http_response.hpp"
#include "net/target.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace huddle::net {

class ServerState;

// `peer_address` keys the rate limit with AuthMode::none (there is no caller to key it).
boost::asio::awaitable<Response> publish_route(const Request& request, ServerState& state,
                                               const ApiTarget& target,
                                               const std::string& peer_address);
boost::asio::awaitable<Response> connections_route(const Request& request, ServerState& state,
                                                   const ApiTarget& target);
boost::asio::awaitable<Response> close_member_route(const Request& request, ServerState& state,
                                                    const ApiTarget& target);

} // namespace huddle::net
