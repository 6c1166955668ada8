// The ways a Redis command can fail without a reply, as error codes of the category
// "huddle.redis", so callers compare codes (ec == error::timeout) instead of strings
// (STYLE.md "Errors"). An error *reply* from Redis is not one of these: it is a Reply.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace huddle::broker::redis {

enum class error {
  not_connected = 1, // no connection to Redis right now (down, reconnecting, never started)
  connection_lost,   // the connection broke after the command was sent, before its reply
  timeout,           // no reply within command_timeout; the connection was dropped
  protocol_error,    // the server sent something that is not RESP, or a reply nobody asked for
  stopped,           // Connection::stop() was called
};

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

} // namespace huddle::broker::redis

template <>
struct boost::system::is_error_code_enum<huddle::broker::redis::error> : std::true_type {};
