// The HTTP API's errors: every `{"error": "<code>", "detail": "<text>"}` body the server
// answers with (docs/protocol.md, "Error codes"). One enumerator per code, and one table,
// k_http_errors, that gives each its wire string and its HTTP status, so a route names the
// error and json_error() (net/http_response.hpp) takes the rest from here. They are also
// error codes of the category "huddle.http" (STYLE.md "Errors"), so tests compare codes
// instead of strings. The wire strings are what clients match on: never change one.
//
// No Beast here: the status is a number, so the pure parsers (net/target.hpp) and their
// tests stay free of it.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace huddle::net {

enum class HttpError {
  bad_request = 1, // a malformed request, or a body that is not the JSON the route takes
  bad_group,
  bad_since,
  bad_limit,
  bad_name,
  bad_echo,
  bad_epoch,
  bad_token,
  bad_user,
  bad_handshake,
  unsupported_websocket_version, // also "bad_handshake", but 426 with Sec-WebSocket-Version
  tls_required,
  missing_text,
  empty_text,
  bad_ref,
  bad_from,
  bad_idempotency_key,
  unauthorized,
  invalid_credentials,
  forbidden,
  cross_origin,
  not_found,
  login_disabled,
  no_such_group,
  method_not_allowed,
  in_progress,
  too_big,
  unsupported_media_type,
  idempotency_key_reused,
  upgrade_required,
  rate_limited,
  too_many_address_connections,
  too_many_attempts,
  internal_error,
  shutting_down,
  too_many_connections,
  login_busy,
  history_unavailable,
  broker_unavailable,
  not_stored,
};

struct HttpErrorInfo {
  HttpError error;
  std::string_view wire;    // the body's "error"
  unsigned status;          // the HTTP status it is answered with
  std::string_view message; // error_category::message(): what it means, in general
};

// In enumerator order (checked below), so info() is an index.
inline constexpr HttpErrorInfo k_http_errors[] = {
    {HttpError::bad_request, "bad_request", 400, "malformed request"},
    {HttpError::bad_group, "bad_group", 400, "the group id is not an integer from 1 to 2^63-1"},
    {HttpError::bad_since, "bad_since", 400, "since is not a message id"},
    {HttpError::bad_limit, "bad_limit", 400, "limit is out of range"},
    {HttpError::bad_name, "bad_name", 400, "the name is not 1-32 printable UTF-8 characters"},
    {HttpError::bad_echo, "bad_echo", 400, "echo is not 0 or 1"},
    {HttpError::bad_epoch, "bad_epoch", 400, "the epoch is malformed"},
    {HttpError::bad_token, "bad_token", 400, "the token parameter is not percent-encoded"},
    {HttpError::bad_user, "bad_user", 400, "the user name is malformed"},
    {HttpError::bad_handshake, "bad_handshake", 400, "malformed WebSocket upgrade"},
    {HttpError::unsupported_websocket_version, "bad_handshake", 426, "WebSocket version 13 only"},
    {HttpError::tls_required, "tls_required", 400, "this port speaks TLS"},
    {HttpError::missing_text, "missing_text", 400, "the body has no string text"},
    {HttpError::empty_text, "empty_text", 400, "the text is empty"},
    {HttpError::bad_ref, "bad_ref", 400, "ref is not a string"},
    {HttpError::bad_from, "bad_from", 400, "from is not allowed or malformed"},
    {HttpError::bad_idempotency_key, "bad_idempotency_key", 400, "malformed Idempotency-Key"},
    {HttpError::unauthorized, "unauthorized", 401, "no valid token"},
    {HttpError::invalid_credentials, "invalid_credentials", 401, "wrong user name or password"},
    {HttpError::forbidden, "forbidden", 403, "not allowed"},
    {HttpError::cross_origin, "cross_origin", 403, "the login cookie came from another origin"},
    {HttpError::not_found, "not_found", 404, "no such route"},
    {HttpError::login_disabled, "login_disabled", 404, "this server does not log users in"},
    {HttpError::no_such_group, "no_such_group", 404, "no such group"},
    {HttpError::method_not_allowed, "method_not_allowed", 405, "method not allowed"},
    {HttpError::in_progress, "in_progress", 409,
     "the first publish with this key is not stored yet"},
    {HttpError::too_big, "too_big", 413, "too big"},
    {HttpError::unsupported_media_type, "unsupported_media_type", 415, "not application/json"},
    {HttpError::idempotency_key_reused, "idempotency_key_reused", 422,
     "the Idempotency-Key was used for another message"},
    {HttpError::upgrade_required, "upgrade_required", 426, "WebSocket only"},
    {HttpError::rate_limited, "rate_limited", 429, "over the rate limit"},
    {HttpError::too_many_address_connections, "too_many_address_connections", 429,
     "too many connections from this address"},
    {HttpError::too_many_attempts, "too_many_attempts", 429, "too many failed logins"},
    {HttpError::internal_error, "internal_error", 500, "internal error"},
    {HttpError::shutting_down, "shutting_down", 503, "the server is shutting down"},
    {HttpError::too_many_connections, "too_many_connections", 503,
     "the server is at its connection limit"},
    {HttpError::login_busy, "login_busy", 503, "too many logins in progress"},
    {HttpError::history_unavailable, "history_unavailable", 503,
     "the history cannot store messages now"},
    {HttpError::broker_unavailable, "broker_unavailable", 503,
     "the message broker cannot be reached"},
    {HttpError::not_stored, "not_stored", 503, "sent but not stored yet"},
};

constexpr const HttpErrorInfo& info(HttpError error) noexcept {
  return k_http_errors[static_cast<std::size_t>(error) - 1];
}

namespace detail {
constexpr bool http_errors_in_order() {
  for (std::size_t i = 0; i < std::size(k_http_errors); ++i)
    if (static_cast<std::size_t>(k_http_errors[i].error) != i + 1) return false;
  return true;
}
static_assert(detail::http_errors_in_order(), "k_http_errors must follow HttpError's order");
static_assert(std::size(k_http_errors) == static_cast<std::size_t>(HttpError::not_stored),
              "every HttpError needs a row in k_http_errors");
} // namespace detail

const boost::system::error_category& http_error_category() noexcept;

inline boost::system::error_code make_error_code(HttpError error) noexcept {
  return {static_cast<int>(error), http_error_category()};
}

} // namespace huddle::net

template <> struct boost::system::is_error_code_enum<huddle::net::HttpError> : std::true_type {};
