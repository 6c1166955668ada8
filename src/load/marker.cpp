#include "load/marker.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>

namespace huddle::load {

namespace {

template <typename T> void append_number(std::string& out, T value) {
  char digits[24];
  auto const res = std::to_chars(std::begin(digits), std::end(digits), value);
  out.append(digits, res.ptr);
}

// Reads decimal digits up to the next ':' and steps past it.
template <typename T> bool read_field(std::string_view& text, T& value) noexcept {
  auto const res = std::from_chars(text.data(), text.data() + text.size(), value);
  if (res.ec != std::errc{} || res.ptr == text.data()) return false;
  auto const used = static_cast<std::size_t>(res.ptr - text.data());
  if (used >= text.size() || text[used] != ':') return false;
  text.remove_prefix(used + 1);
  return true;
}

} // namespace

void append_marker(std::string& out, Marker const& marker) {
  out.append(k_marker_prefix);
  append_number(out, marker.sender);
  out.push_back(':');
  append_number(out, marker.seq);
  out.push_back(':');
  append_number(out, marker.send_ns);
  out.push_back(':');
}

std::string encode_marker(Marker const& marker) {
  std::string out;
  append_marker(out, marker);
  return out;
}

void make_payload(std::string& out, Marker const& marker, std::size_t size) {
  static constexpr std::string_view k_pad = "abcdefghijklmnopqrstuvwxyz0123456789";
  out.clear();
  append_marker(out, marker);
  while (out.size() < size) {
    out.append(k_pad.substr(0, std::min(k_pad.size(), size - out.size())));
  }
}

std::optional<Marker> parse_marker(std::string_view text) {
  if (!text.starts_with(k_marker_prefix)) return std::nullopt;
  text.remove_prefix(k_marker_prefix.size());
  Marker marker;
  if (!read_field(text, marker.sender) || !read_field(text, marker.seq) ||
      !read_field(text, marker.send_ns)) {
    return std::nullopt;
  }
  return marker;
}

std::optional<Marker> MarkerScanner::next() noexcept {
  while (pos_ < frame_.size()) {
    auto const at = frame_.find(k_marker_prefix, pos_);
    if (at == std::string_view::npos) {
      pos_ = frame_.size();
      return std::nullopt;
    }
    pos_ = at + k_marker_prefix.size();
    if (auto marker = parse_marker(frame_.substr(at))) return marker;
    ++malformed_;
  }
  return std::nullopt;
}

} // namespace huddle::load
