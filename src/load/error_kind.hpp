// ErrorKind: the ways a load run can go wrong, counted separately so a report says which.
// A server closing a socket is an outcome to count, never a reason to stop the run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace huddle::load {

enum class ErrorKind : std::size_t {
  connect_refused,
  connect_timeout,
  connect_error,
  handshake_rejected, // HTTP answer other than 101 (auth, bad group, overload)
  handshake_error,
  server_close_normal, // 1000 before we asked
  server_close_going_away,
  server_close_policy, // 1008: slow consumer, rate limit, token expired
  server_close_too_big,
  server_close_internal,
  server_close_other,
  connection_lost, // EOF or reset without a close frame
  read_error,
  write_error,
  close_timeout,
  server_error_frame, // {"type":"error",...}
  // (A delivery seen twice is not an error kind: Tally::duplicates counts it exactly.)
  foreign_marker,
  unexpected_self,
  malformed_marker,
  window_stall, // closed loop: nothing seen for a while, sent anyway
  count_
};

inline constexpr std::size_t k_error_kinds = static_cast<std::size_t>(ErrorKind::count_);

inline constexpr std::array<std::string_view, k_error_kinds> k_error_names = {
    "connect_refused",   "connect_timeout",   "connect_error",      "handshake_rejected",
    "handshake_error",   "server_close_1000", "server_close_1001",  "server_close_1008",
    "server_close_1009", "server_close_1011", "server_close_other", "connection_lost",
    "read_error",        "write_error",       "close_timeout",      "server_error_frame",
    "foreign_marker",    "unexpected_self",   "malformed_marker",   "window_stall",
};

constexpr std::string_view name_of(ErrorKind kind) noexcept {
  return k_error_names[static_cast<std::size_t>(kind)];
}

constexpr ErrorKind error_for_close_code(std::uint16_t code) noexcept {
  switch (code) {
  case 1000:
    return ErrorKind::server_close_normal;
  case 1001:
    return ErrorKind::server_close_going_away;
  case 1008:
    return ErrorKind::server_close_policy;
  case 1009:
    return ErrorKind::server_close_too_big;
  case 1011:
    return ErrorKind::server_close_internal;
  default:
    return ErrorKind::server_close_other;
  }
}

using ErrorCounts = std::array<std::uint64_t, k_error_kinds>;

} // namespace huddle::load
