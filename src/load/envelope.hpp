// Envelope: the little huddle-load reads from protocol v1 frames (docs/protocol.md),
// by substring search rather than a JSON parse, since it runs on every arrival.
//
// A key counts only when it is an object key: preceded by '{' or ','. Inside a JSON
// string every '"' is escaped, so `,"id":` can never come from a message's text, and
// neither can `"type":"message"`. Frames of servers that do not speak v1 (raw text
// relays) have no type: kind_of() says `other` and there are no ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace huddle::load {

enum class FrameKind { welcome, message, ack, error, other };

FrameKind kind_of(std::string_view frame) noexcept;

// The unsigned integer value of the top-level key `key` (given without quotes), e.g.
// uint_field(R"({"type":"ack","id":42})", "id") == 42; nullopt when absent or not a
// whole number that fits.
std::optional<std::uint64_t> uint_field(std::string_view frame, std::string_view key) noexcept;

// The id of a `message` frame; nullopt for every other frame.
std::optional<std::uint64_t> message_id(std::string_view frame) noexcept;

// The last_id of a `welcome` frame: the newest message id the connection does not get
// live. nullopt for every other frame.
std::optional<std::uint64_t> welcome_last_id(std::string_view frame) noexcept;

} // namespace huddle::load
