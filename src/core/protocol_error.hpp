// The WebSocket protocol's errors (docs/protocol.md, "Error codes"): the codes of the `error`
// frames a client gets while its socket stays open, and the reasons the server closes a
// socket with. One enumerator each, and one table, k_protocol_errors, that gives each its
// wire string (an error frame's "code", or a close frame's reason) and its close code (0:
// none, an error frame). They are also error codes of the category "huddle.protocol"
// (STYLE.md "Errors"). The wire strings are what clients match on: never change one.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace huddle::protocol {

enum class Error {
  // Error frames: the frame was not handled; the socket stays open.
  missing_type = 1,
  unknown_type,
  missing_text,
  empty_text,
  bad_ref,
  binary_unsupported,
  rate_limited,        // over the connection's message rate: not sent
  history_unavailable, // the history cannot store messages now: not sent
  broker_unavailable,  // the broker cannot be reached: not sent
  // Close reasons.
  server_shutdown,
  slow_consumer, // the send queue overflowed
  rate_limit,    // kept sending while refused with rate_limited
  token_expired,
  access_revoked,
  removed_by_admin,
  join_history_unavailable, // at join: the history could not say where the group's ids are
  join_broker_unavailable,  // at join: the broker cannot be reached
  history_reset,            // the broker's history has a new epoch
};

struct ErrorInfo {
  Error error;
  std::string_view wire;    // an error frame's "code", or the close frame's reason
  std::uint16_t close_code; // 0: an error frame, the socket stays open
  std::string_view message; // error_category::message(): what it means, in general
};

// In enumerator order (checked below), so info() is an index.
inline constexpr ErrorInfo k_protocol_errors[] = {
    {Error::missing_type, "missing_type", 0, "a JSON frame needs a string type"},
    {Error::unknown_type, "unknown_type", 0, "unknown frame type"},
    {Error::missing_text, "missing_text", 0, "a message frame needs a string text"},
    {Error::empty_text, "empty_text", 0, "a message needs some text"},
    {Error::bad_ref, "bad_ref", 0, "ref must be a string"},
    {Error::binary_unsupported, "binary_unsupported", 0, "binary frames are not supported"},
    {Error::rate_limited, "rate_limited", 0, "over the message rate: not sent"},
    {Error::history_unavailable, "history_unavailable", 0,
     "the history cannot store messages now: not sent"},
    {Error::broker_unavailable, "broker_unavailable", 0,
     "the message broker cannot be reached: not sent"},
    {Error::server_shutdown, "server shutdown", 1001, "the server is shutting down"},
    {Error::slow_consumer, "slow consumer", 1008, "the connection's send queue overflowed"},
    {Error::rate_limit, "rate limit", 1008, "kept sending over the message rate"},
    {Error::token_expired, "token expired", 1008, "the access token expired"},
    {Error::access_revoked, "access revoked", 1008, "the user lost the group's membership"},
    {Error::removed_by_admin, "removed by admin", 1008, "an admin closed the user's connections"},
    {Error::join_history_unavailable, "history unavailable", 1011,
     "the history could not be read at join"},
    {Error::join_broker_unavailable, "broker unavailable", 1011,
     "the message broker could not be reached at join"},
    {Error::history_reset, "history reset", 1012, "the history has a new epoch: reconnect"},
};

constexpr const ErrorInfo& info(Error error) noexcept {
  return k_protocol_errors[static_cast<std::size_t>(error) - 1];
}

namespace detail {
constexpr bool protocol_errors_in_order() {
  for (std::size_t i = 0; i < std::size(k_protocol_errors); ++i)
    if (static_cast<std::size_t>(k_protocol_errors[i].error) != i + 1) return false;
  return true;
}
static_assert(protocol_errors_in_order(), "k_protocol_errors must follow Error's order");
static_assert(std::size(k_protocol_errors) == static_cast<std::size_t>(Error::history_reset),
              "every protocol::Error needs a row in k_protocol_errors");
} // namespace detail

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(Error error) noexcept {
  return {static_cast<int>(error), error_category()};
}

} // namespace huddle::protocol

template <> struct boost::system::is_error_code_enum<huddle::protocol::Error> : std::true_type {};
