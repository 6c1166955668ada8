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
#include <vector>

struct redisReader;

namespace huddle::broker::redis {

// One command: a RESP array of bulk strings ({"SET", "key", "value"}). Any bytes are fine.
using Command = std::vector<std::string>;

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
