// The server's side of the WebSocket opening handshake (RFC 6455 §4.2): whether an upgrade
// request is one a server may accept, and the 101 response that accepts it. The session
// reads and writes frames itself after this (net/frame_reader.hpp, net/ws_session.hpp), so
// nothing of Beast's websocket::stream stays with an open connection.
#pragma once

#include "net/http_response.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace huddle::net {

// A JSON error response for a request that is not a valid version-13 upgrade (a bad
// method, HTTP version, Sec-WebSocket-Key or -Version: 400, or 426 naming version 13);
// none when it may be accepted. Checks what beast::websocket::is_upgrade() leaves out.
std::optional<Response> refuse_handshake(const Request& request);

// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC's GUID)), §4.2.2.
std::string websocket_accept(std::string_view key);

// The Sec-WebSocket-Extensions value answering `request`'s offers (all its header lines):
// permessage-deflate when `deflate` (ServerConfig::deflate) and an offer is acceptable
// (net/permessage_deflate.hpp); none, and the connection goes without extensions, otherwise.
std::optional<std::string> accept_extensions(const Request& request, bool deflate);

// The 101 Switching Protocols response to an upgrade refuse_handshake() passed, with
// `extensions` (accept_extensions()'s) when not empty.
std::string accept_response(const Request& request, std::string_view extensions = {});

} // namespace huddle::net
