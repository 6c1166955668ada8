// Reply: one RESP2 reply from Redis, owned, as a tree (an array holds its elements).
//
// Connection::execute() returns an error reply (-ERR ..., -WRONGTYPE ...) as a Reply of type
// `error`, not as a failure: the command reached Redis, which refused it. as_integer() and
// as_string() turn a reply that is not what the caller expected (an error, or another type)
// into a std::runtime_error that names both, for callers that treat it as a bug.
//
// A plain value type: copy, move, compare freely; no thread-safety beyond that of std::string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisReply; // hiredis's reply (hiredis/hiredis.h); only the conversion below sees it

namespace huddle::broker::redis {

struct Reply {
  enum class Type { string, status, error, integer, nil, array };

  Type type = Type::nil;
  std::string text;            // string, status, error
  std::int64_t integer = 0;    // integer
  std::vector<Reply> elements; // array

  bool is_error() const noexcept { return type == Type::error; }

  // The integer of an integer reply. Throws std::runtime_error for any other type: an error
  // reply as "redis: <its text>", another type as "redis: expected an integer reply, got ...".
  std::int64_t as_integer() const;
  // The text of a string (bulk) or status reply; throws as as_integer() does otherwise.
  const std::string& as_string() const;

  friend bool operator==(const Reply&, const Reply&) = default;
};

// "string", "status", "error", "integer", "nil", "array".
std::string_view to_string(Reply::Type type) noexcept;

namespace detail {
// The owned copy of a reply hiredis's reader produced (the caller still frees `reply`).
Reply to_reply(const ::redisReply& reply);
} // namespace detail

} // namespace huddle::broker::redis
