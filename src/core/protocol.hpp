// Protocol v1 (docs/protocol.md): the JSON text frames of huddle's WebSocket protocol.
//
// Encoding is done once per frame, never per recipient: the results become shared Frames.
// parse_client_frame() is pure, so the protocol's rules are unit-tested without sockets.
#pragma once

#include "core/protocol_error.hpp"

#include <huddle/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace huddle::protocol {

std::string encode_message(GroupId group, MessageId id, std::string_view from,
                           std::string_view text, std::int64_t ts_ms);
// How a reconnect with ?since= was answered (docs/protocol.md, "Reconnecting").
enum class Replay {
  none,      // no ?since=: nothing said
  complete,  // "truncated": false; every message after `since` follows
  truncated, // "truncated": true; messages between `since` and the first one replayed are
             // not replayed (over --replay-limit, or removed by retention): fetch them from
             // the history API if needed
  reset,     // "reset": true; `since` belongs to another epoch or is beyond last_id: no
             // replay, the client's view of the group must be rebuilt
};
std::string encode_welcome(GroupId group, std::string_view user, MessageId last_id,
                           std::string_view epoch, const std::vector<std::string>& members,
                           Replay replay = Replay::none);
// `type` is "join" or "leave".
std::string encode_presence(std::string_view type, GroupId group, std::string_view user);
// `ref` is omitted from the frame when the client sent none.
std::string encode_ack(const std::optional<std::string>& ref, MessageId id);
// An error frame: `code` is one without a close code (core/protocol_error.hpp).
// `ref`: the client's ref of the message the error is about, when it sent one.
// `retry_after_ms`: when the client may send again (with Error::rate_limited).
std::string encode_error(Error code, std::string_view detail,
                         const std::optional<std::string>& ref = std::nullopt,
                         std::optional<std::int64_t> retry_after_ms = std::nullopt);

// What a client asked for with one text frame.
struct ClientMessage {
  std::string text;
  std::optional<std::string> ref;
};
// A frame that breaks the protocol but does not close the socket: answered with
// encode_error(code, detail).
struct FrameError {
  Error code;
  std::string detail;
};

// A text frame that is a JSON object is a protocol frame; anything else (plain text, a
// JSON string, a number, text that fails to parse) is the text of a message.
std::variant<ClientMessage, FrameError> parse_client_frame(std::string_view frame);

} // namespace huddle::protocol
