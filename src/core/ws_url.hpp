// WsUrl: where a WebSocket client connects, `ws://HOST[:PORT]/PATH[?QUERY]` or `wss://…`
// (RFC 6455 §3), as `huddle chat` and huddle-load's --url take it. One parser, on Boost.URL,
// so both tools accept and refuse the same URLs.
//
// HOST is a name, an IPv4 address, or an IPv6 address in brackets (`ws://[::1]:8080/ws/1`);
// PORT defaults to 80 for ws and 443 for wss. The path and query are kept as written
// (percent-encoding included): they are the request target sent as is. Refused, each with
// its own message: another scheme, no host, a port outside 1-65535, user information
// (`user:password@`, which a command line would show in `ps`), a fragment (RFC 6455 §3 has
// none).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace huddle::core {

struct WsUrl {
  bool tls = false;         // wss://
  std::string host;         // decoded, without brackets: "::1", "chat.example.org"
  std::uint16_t port = 80;  // as written, else 80 (ws) or 443 (wss)
  std::string target = "/"; // path and query as written; "/" when the URL has no path

  // The Host header (RFC 7230 §5.4): the port only when not the scheme's default, an IPv6
  // address in brackets.
  std::string host_header() const;
  // HOST:PORT with an IPv6 address in brackets, for messages.
  std::string authority() const;
};

// Throws std::invalid_argument whose message says what is wrong with `url` (without
// quoting it: the caller names the URL, or the flag it came from).
WsUrl parse_ws_url(std::string_view url);

} // namespace huddle::core
