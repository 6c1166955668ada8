// Where a Redis server is: `redis://HOST[:PORT][/DB]`, as `huddle serve --broker` takes it.
//
// HOST is a name, an IPv4 address, or an IPv6 address in brackets (`redis://[::1]:6380`);
// PORT defaults to 6379 and DB to 0. No credentials: a URL with `user:pass@` is refused,
// because a command line shows in `ps` (the password comes from a file or the environment).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace huddle::broker::redis {

struct Endpoint {
  std::string host; // without brackets: "::1"
  std::uint16_t port = 6379;
  int db = 0; // SELECTed after connecting when not 0
};

// Throws std::invalid_argument naming what is wrong with `url`.
Endpoint parse_url(std::string_view url);

// Whether `url` holds user info (user:password@), which parse_url() refuses: a password in a
// URL ends up in process lists and logs.
bool holds_credentials(std::string_view url);

} // namespace huddle::broker::redis
