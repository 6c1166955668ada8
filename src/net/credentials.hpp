// Credentials: where a request's access token comes from, and the login cookie's text.
// A token is taken from `Authorization: Bearer`, then the login cookie, then (WebSocket
// only: a browser cannot set headers on a WebSocket) the `?token=` parameter.
// Pure string handling, unit-tested without sockets.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace huddle::net {

inline constexpr std::string_view k_token_cookie = "huddle_token";

struct Credentials {
  std::string token;
  // A cookie is sent by the browser on its own, so a cross-site page could ride on it
  // (cross-site WebSocket hijacking): such requests must also come from our own origin.
  bool from_cookie = false;
};

std::optional<Credentials> find_credentials(std::string_view authorization,
                                            std::string_view cookie_header,
                                            const std::optional<std::string>& query_token);

// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

// Set-Cookie values: the token for `max_age`, HttpOnly and SameSite=Strict, and Secure when
// served over TLS (`secure`); and its removal.
std::string login_cookie(std::string_view token, std::chrono::seconds max_age, bool secure);
std::string logout_cookie(bool secure);

// Whether an Origin header ("http://host:port") names the Host the request was sent to.
// An absent Origin (not a browser) is same-origin.
bool is_same_origin(std::string_view origin, std::string_view host);

} // namespace huddle::net
