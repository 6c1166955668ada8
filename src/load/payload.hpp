// Payload: the frame huddle-load sends for each message, with the message's marker in it.
//
// Two kinds (--payload):
// - padding, the default: the marker, then [a-z0-9] repeated up to --size bytes; the frame
//   is that text. Cheap, but a repeated alphabet compresses far better than any real
//   message, so figures with compression (--deflate) must not use it.
// - json: a chat app's message as a JSON document of exactly --size bytes, e.g.
//     {"client_msg_id":"HLD:3:7:1000:","user":{"id":48213,"name":"maria.k","role":"member"},
//      "ts":1764000123456,"text":"Sounds good. I think we can ...","lang":"en",
//      "reply_to":null,"mentions":[],"attrs":{"client":"web/2.14.0","edited":false,
//      "pinned":false}}
//   with sentences drawn from a word list (common words more often) filling the text to
//   the size. It is sent as a protocol v1 message whose text is the document,
//   {"type":"message","text":"{\"client_msg_id\":...}"}, so huddle relays the document
//   as the text, escaped inside its envelope, as it would an app's structured message;
//   a raw relay relays the whole frame. The marker stays intact either way (marker.hpp).
// The content is a function of (seed, sender, seq): the same for the same seed, different
// from message to message, and a member's user fields the same in all its messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "load/marker.hpp"

namespace huddle::load {

enum class PayloadKind { padding, json };

// "padding" / "json"; the name for a kind.
bool parse_payload_kind(std::string_view name, PayloadKind& kind) noexcept;
std::string_view payload_kind_name(PayloadKind kind) noexcept;

// The smallest --size a json payload takes: the document's fields with the longest marker
// and the longest of each drawn field, and a few characters of text.
inline constexpr std::size_t k_json_payload_min_size = 320;

// Fills `out` with the JSON document for `marker`, exactly `size` bytes when size is at
// least k_json_payload_min_size. Only printable ASCII, with '"' as the one character a
// JSON string must escape.
void make_json_document(std::string& out, Marker const& marker, std::size_t size,
                        std::uint64_t seed);

// Appends {"type":"message","text":"<text as a JSON string>"} to `out`; `text` holds no
// backslash or control character (a document make_json_document made).
void append_v1_message(std::string& out, std::string_view text);

// The frames of one sender, reusing its buffers from message to message.
class PayloadMaker {
public:
  PayloadMaker(PayloadKind kind, std::size_t size, std::uint64_t seed)
      : kind_(kind), size_(size), seed_(seed) {}

  // The frame for `marker`; valid until the next call.
  std::string const& make(Marker const& marker);

private:
  PayloadKind kind_;
  std::size_t size_;
  std::uint64_t seed_;
  std::string frame_;
  std::string document_; // json: the document before it is wrapped
};

} // namespace huddle::load
