#include "load/envelope.hpp"

#include <charconv>

namespace huddle::load {

namespace {

constexpr bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Where the value of the object key `key` starts (after the ':' and any blanks), or npos.
std::size_t value_of(std::string_view frame, std::string_view key) noexcept {
  for (std::size_t pos = 0;;) {
    auto const name = frame.find(key, pos);
    if (name == std::string_view::npos) return name;
    pos = name + 1;
    // A whole string, "<key>" ...
    if (name == 0 || frame[name - 1] != '"') continue;
    std::size_t at = name + key.size();
    if (at >= frame.size() || frame[at] != '"') continue;
    // ... preceded by '{' or ',': an object key, not text inside a string value ...
    std::size_t before = name - 1;
    while (before > 0 && is_blank(frame[before - 1]))
      --before;
    if (before == 0 || (frame[before - 1] != '{' && frame[before - 1] != ',')) continue;
    // ... and followed by ':'.
    for (++at; at < frame.size() && is_blank(frame[at]);)
      ++at;
    if (at >= frame.size() || frame[at] != ':') continue;
    for (++at; at < frame.size() && is_blank(frame[at]);)
      ++at;
    return at;
  }
}

} // namespace

FrameKind kind_of(std::string_view frame) noexcept {
  auto const at = value_of(frame, "type");
  if (at == std::string_view::npos || at >= frame.size() || frame[at] != '"') {
    return FrameKind::other;
  }
  auto const end = frame.find('"', at + 1);
  if (end == std::string_view::npos) return FrameKind::other;
  auto const type = frame.substr(at + 1, end - at - 1);
  if (type == "message") return FrameKind::message;
  if (type == "welcome") return FrameKind::welcome;
  if (type == "ack") return FrameKind::ack;
  if (type == "error") return FrameKind::error;
  return FrameKind::other;
}

std::optional<std::uint64_t> uint_field(std::string_view frame, std::string_view key) noexcept {
  auto const at = value_of(frame, key);
  if (at == std::string_view::npos) return std::nullopt;
  std::uint64_t value = 0;
  char const* const end = frame.data() + frame.size();
  auto const res = std::from_chars(frame.data() + at, end, value);
  if (res.ec != std::errc{} || res.ptr == frame.data() + at) return std::nullopt;
  // 4.5 or 1e3 is not an id.
  if (res.ptr != end && (*res.ptr == '.' || *res.ptr == 'e' || *res.ptr == 'E')) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> message_id(std::string_view frame) noexcept {
  if (kind_of(frame) != FrameKind::message) return std::nullopt;
  return uint_field(frame, "id");
}

std::optional<std::uint64_t> welcome_last_id(std::string_view frame) noexcept {
  if (kind_of(frame) != FrameKind::welcome) return std::nullopt;
  return uint_field(frame, "last_id");
}

} // namespace huddle::load
