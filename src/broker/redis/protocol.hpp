// RESP2 without I/O: encoding commands, decoding replies (with hiredis's reader), and the
// pub/sub rules a subscriber connection needs to pair replies with commands. Connection
// feeds these from its socket; the unit tests feed them bytes (test/unit/broker/redis/).
//
// Not thread-safe: a ReplyReader belongs to one connection (its strand).
#pragma once

#include "broker/redis/reply.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

struct redisReader;

namespace huddle::broker::redis {

// One command: a RESP array of bulk strings ({"SET", "key", "value"}). Any bytes are fine.
using Command = std::vector<std::string>;

namespace detail {
template <typename T> std::string to_argument(T&& value) {
  using Value = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<Value, std::string>) {
    return std::forward<T>(value);
  } else if constexpr (std::is_convertible_v<T, std::string_view>) {
    return std::string(std::string_view(value));
  } else {
    static_assert(std::is_integral_v<Value> && !std::is_same_v<Value, bool> &&
                      !std::is_same_v<Value, char>,
                  "a Redis argument is a string or an integer");
    return std::to_string(value);
  }
}
} // namespace detail

// A Command from strings, string views, literals and integers (in decimal):
// make_command("EXPIRE", key, 30). Also the way to write a command inside a co_await with
// g++ 12, which rejects any braced list there ("array used as initializer"): write
// `co_await redis.execute(make_command("GET", key))`, not `execute({"GET", key})`.
template <typename... Args> Command make_command(Args&&... args) {
  Command command;
  command.reserve(sizeof...(args));
  (command.push_back(detail::to_argument(std::forward<Args>(args))), ...);
  return command;
}

// Appends `command` to `out` in RESP2 ("*N\r\n$len\r\narg\r\n...").
void append_command(std::string& out, const Command& command);

// Replies from a byte stream, split anywhere across feed() calls.
class ReplyReader {
public:
  ReplyReader();
  ~ReplyReader();
  ReplyReader(ReplyReader&&) noexcept;
  ReplyReader& operator=(ReplyReader&&) noexcept;

  // Adds bytes read from Redis. Nothing more is read after a protocol error.
  void feed(std::string_view bytes);
  // The next complete reply, or nothing when the bytes fed so far end mid-reply, or after a
  // protocol error (see failed()).
  std::optional<Reply> next();
  // The stream is not RESP (e.g. not a Redis server): why, as hiredis tells it.
  bool failed() const noexcept { return !error_.empty(); }
  const std::string& error() const noexcept { return error_; }

private:
  struct Free {
    void operator()(::redisReader* reader) const noexcept;
  };
  std::unique_ptr<::redisReader, Free> reader_;
  std::string error_;
};

// A publication a subscriber connection received: ["message", channel, payload], or
// ["pmessage", pattern, channel, payload] / ["smessage", channel, payload]. Views into `reply`.
struct Publication {
  std::string_view channel;
  std::string_view payload;
};
std::optional<Publication> as_publication(const Reply& reply);
std::optional<Publication> as_publication(const Reply&& reply) = delete; // views would dangle

// How many replies answer `command` on a subscriber connection. (P|S)SUBSCRIBE and
// (P|S)UNSUBSCRIBE get one confirmation per channel; every other command one reply.
// k_until_pong: a (P|S)UNSUBSCRIBE naming no channel gets one per channel it drops, a number
// only the server knows, so the connection sends a PING after it and counts replies up to the
// pong.
inline constexpr std::uint32_t k_until_pong = UINT32_MAX;
std::uint32_t subscriber_replies(const Command& command) noexcept;

// PING's answer: "+PONG", or ["pong", message] on a connection in subscribed mode.
bool is_pong(const Reply& reply) noexcept;

} // namespace huddle::broker::redis
