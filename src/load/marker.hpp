// Marker: what huddle-load puts in every message so it can be recognised on arrival.
//
// Text form: `HLD:<sender>:<seq>:<send_ns>:` in decimal. Every character is in
// [A-Za-z0-9:], which no JSON encoder escapes, so the marker survives intact inside
// a protocol v1 envelope ({"type":"message",...,"text":"HLD:..."}) as well as in the
// raw text a reference server relays; arrivals are scanned by substring, never parsed
// as JSON. `send_ns` is nanoseconds since the run's start on the steady clock of the
// one process that both sends and receives, so latency needs no clock sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace huddle::load {

struct Marker {
  std::uint32_t sender = 0;
  std::uint64_t seq = 0;
  std::uint64_t send_ns = 0;

  friend bool operator==(Marker const&, Marker const&) = default;
};

inline constexpr std::string_view k_marker_prefix = "HLD:";
// "HLD:" + 10 + ":" + 20 + ":" + 20 + ":"
inline constexpr std::size_t k_marker_max_size = 4 + 10 + 1 + 20 + 1 + 20 + 1;

// Appends the marker's text to `out`.
void append_marker(std::string& out, Marker const& marker);
std::string encode_marker(Marker const& marker);

// Fills `out` with the marker then padding up to `size` bytes (never shorter than the
// marker). Padding is alphanumeric so envelopes need no escaping and size stays exact.
void make_payload(std::string& out, Marker const& marker, std::size_t size);

// Parses a marker that starts exactly at the beginning of `text`.
std::optional<Marker> parse_marker(std::string_view text);

// Iterates over the markers in a frame: `next` returns the next well-formed marker and
// counts, in malformed(), prefixes that were not followed by one.
class MarkerScanner {
public:
  explicit MarkerScanner(std::string_view frame) noexcept : frame_(frame) {}
  std::optional<Marker> next() noexcept;
  std::size_t malformed() const noexcept { return malformed_; }

private:
  std::string_view frame_;
  std::size_t pos_ = 0;
  std::size_t malformed_ = 0;
};

} // namespace huddle::load
