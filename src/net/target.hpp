// Request targets: a WebSocket upgrade's,
// `/ws/{group_id}?name=…&echo=0|1&since=ID&epoch=E&token=…`,
// checked before any upgrade so a bad one is answered with HTTP 400 and a JSON error body; and the
// group API's, `/api/groups/{group_id}/messages?since=ID&limit=N`, `…/members`, and the admin's
// `…/connections` and `…/members/{user}`.
// Pure string handling, unit-tested without sockets.
#pragma once

#include "net/http_error.hpp"

#include <huddle/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace huddle::net {

inline constexpr std::string_view k_ws_prefix = "/ws/";
inline constexpr std::size_t k_max_name_chars = 32;
inline constexpr std::string_view k_api_groups_prefix = "/api/groups/";
inline constexpr std::size_t k_default_history_limit = 100;
inline constexpr std::size_t k_max_history_limit = 1000;

struct WsTarget {
  GroupId group = 0;
  std::optional<std::string> name;  // absent: the server picks `guest-<n>`
  bool echo = false;                // the sender also receives its own messages
  std::optional<MessageId> since;   // replay the history after this id before going live
  std::optional<std::string> epoch; // the epoch `since` belongs to (the welcome's); absent:
                                    // the server's current one
  std::optional<std::string> token; // an access token, for clients that cannot set headers
};

struct ApiTarget {
  enum class Resource { messages, members, connections, member };
  GroupId group = 0;
  Resource resource = Resource::messages;
  std::string user;               // member: the user named in the path
  std::optional<MessageId> since; // messages: absent means the newest `limit`
  std::size_t limit = k_default_history_limit;
};

struct TargetError {
  HttpError code; // answered with its status (400)
  std::string detail;
};

// `target` must start with k_ws_prefix.
std::variant<WsTarget, TargetError> parse_ws_target(std::string_view target);

// `target` must start with k_api_groups_prefix. nullopt: no such resource (a 404).
std::optional<std::variant<ApiTarget, TargetError>> parse_api_target(std::string_view target);

// Decodes %XX escapes and '+' (as a space), with Boost.URL. Returns nullopt on a malformed
// escape: a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

// 1..32 characters of valid UTF-8, none of them a control character.
bool is_valid_name(std::string_view name);

} // namespace huddle::net
