// libFuzzer target: net::FrameReader (src/net/frame_reader.cpp), the sans-I/O parser of the
// WebSocket frames a client sends.
// Input: byte 0 holds options (bit 0: allow_rsv1); bytes 1-2 a split point (big-endian, taken
// modulo the rest's size + 1); the rest is what a client sends (masked frames, RFC 6455 §5.3).
// Checked beyond "no crash": the bytes read whole, cut in two at the split, and one byte at a
// time give the same events; need_more comes only once the input is used, and nothing after
// an error or a close; no message is over the limit (1 KiB here) and no control payload over
// 125 bytes; a text message (unless compressed) and a close reason are UTF-8 by Beast's own
// checker; the heap the reader holds is bounded by what it was given. And the bytes taken as
// the payload of a text message in two fragments cut at the split: the reader accepts them
// exactly when Beast's checker does.
#include "net/frame_header.hpp"
#include "net/frame_reader.hpp"

#include <boost/beast/websocket/detail/utf8_checker.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

namespace net = huddle::net;
using Kind = net::FrameEvent::Kind;
using Bytes = std::vector<unsigned char>;

constexpr std::size_t k_limit = 1024;

struct Seen {
  Kind kind;
  std::uint16_t code;
  net::FrameViolation violation;
  bool compressed;
  std::string payload;
  bool operator==(const Seen&) const = default;
};

bool is_utf8(std::string_view text) {
  // Beast's checker offsets a null pointer (undefined) when given no bytes.
  return text.empty() || boost::beast::websocket::detail::check_utf8(text.data(), text.size());
}

void check(const net::FrameEvent& event, const net::FrameReaderOptions& options) {
  switch (event.kind) {
  case Kind::text:
    if (!event.compressed && !is_utf8(event.payload)) std::abort();
    [[fallthrough]];
  case Kind::binary:
    if (event.payload.size() > options.max_message_bytes) std::abort();
    if (event.compressed && !options.allow_rsv1) std::abort();
    break;
  case Kind::ping:
  case Kind::pong:
    if (event.payload.size() > 125) std::abort();
    break;
  case Kind::close:
    if (event.payload.size() > 123 || !is_utf8(event.payload)) std::abort();
    if (event.code == 0 ? !event.payload.empty() : !net::is_valid_close_code(event.code))
      std::abort();
    break;
  case Kind::error:
    if (event.violation == net::FrameViolation::none ||
        event.code != net::close_code_of(event.violation))
      std::abort();
    break;
  case Kind::need_more:
    break;
  }
}

// Feeds `stream` as reads cut at `cuts` (increasing), each in a buffer of its own that is
// overwritten once used, until an error, as a session would.
std::vector<Seen> feed(const Bytes& stream, const std::vector<std::size_t>& cuts,
                       const net::FrameReaderOptions& options) {
  net::FrameReader reader(options);
  std::vector<Seen> seen;
  bool ended = false; // a close came
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
    Bytes buffer(stream.begin() + static_cast<std::ptrdiff_t>(from),
                 stream.begin() + static_cast<std::ptrdiff_t>(to));
    std::span<unsigned char> input(buffer);
    for (;;) {
      const net::FrameEvent event = reader.next(input);
      check(event, options);
      if (event.kind == Kind::need_more) {
        if (!input.empty()) std::abort();
        break;
      }
      if (ended) std::abort();
      seen.push_back(
          {event.kind, event.code, event.violation, event.compressed, std::string(event.payload)});
      if (event.kind == Kind::error) {
        if (!reader.failed() || reader.heap_bytes() != 0) std::abort();
        return seen;
      }
      ended = event.kind == Kind::close;
    }
    // What the reader keeps is what it was given, at most a message and a control frame.
    if (reader.heap_bytes() > 2 * std::min(to, options.max_message_bytes + 125)) std::abort();
    std::fill(buffer.begin(), buffer.end(), 0xEE);
    from = to;
  }
  return seen;
}

// A masked client frame.
Bytes frame(unsigned char first, std::span<const unsigned char> payload) {
  const std::array<unsigned char, 4> key{0xA1, 0x07, 0x5C, 0xE3};
  Bytes out{first};
  if (payload.size() < 126) {
    out.push_back(static_cast<unsigned char>(0x80 | payload.size()));
  } else {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<unsigned char>(payload.size() >> 8));
    out.push_back(static_cast<unsigned char>(payload.size()));
  }
  out.insert(out.end(), key.begin(), key.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(payload[i] ^ key[i % 4]);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3 || size > 0xFFFF) return -1; // not a useful input: keep it out of the corpus
  const net::FrameReaderOptions options{.max_message_bytes = k_limit,
                                        .allow_rsv1 = (data[0] & 1) != 0};
  const Bytes stream(data + 3, data + size);
  const std::size_t split = (std::size_t{data[1]} << 8 | data[2]) % (stream.size() + 1);

  const std::vector<Seen> whole = feed(stream, {}, options);
  if (feed(stream, {split}, options) != whole) std::abort();
  std::vector<std::size_t> each_byte(stream.size() > 0 ? stream.size() - 1 : 0);
  for (std::size_t i = 0; i < each_byte.size(); ++i)
    each_byte[i] = i + 1;
  if (feed(stream, each_byte, options) != whole) std::abort();

  // The same bytes as a text message's payload, in two fragments.
  const std::span<const unsigned char> text(stream);
  const Bytes message = [&] {
    Bytes out = frame(0x01, text.first(split));
    const Bytes last = frame(0x80, text.subspan(split));
    out.insert(out.end(), last.begin(), last.end());
    return out;
  }();
  const net::FrameReaderOptions unlimited{.max_message_bytes = stream.size()};
  const std::vector<Seen> verdict = feed(message, {}, unlimited);
  const bool utf8 = is_utf8({reinterpret_cast<const char*>(stream.data()), stream.size()});
  if (verdict.size() != 1 || (verdict[0].kind == Kind::text) != utf8) std::abort();
  if (utf8 && verdict[0].payload.size() != stream.size()) std::abort();
  if (!utf8 && verdict[0].violation != net::FrameViolation::text_not_utf8) std::abort();
  return 0;
}
