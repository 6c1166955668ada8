// permessage-deflate (RFC 7692), sans I/O: the negotiation of the opening handshake, and the
// compression and inflation of one message. The session (net/ws_session.hpp) calls these;
// nothing here touches a socket.
//
// What the server agrees to (docs/protocol.md, "Compression"):
// - server_no_context_takeover, always: each message the server sends is compressed on its
//   own, so one compressed broadcast frame is shared by every recipient that negotiated the
//   extension (core's FrameBody::deflated()), compressed once per message, not per delivery.
// - client_no_context_takeover, always: RFC 7692 §7.1.1.2 lets a server include it in a
//   response whether or not the offer had it, and the client then MUST NOT take over its
//   context. So inbound messages are inflated with a fresh state each, and a connection
//   keeps no inflate state (about 40 KB with a 32 KB window) between messages.
// - a 15-bit server window: the frames are compressed once for every recipient, so an offer
//   asking a smaller server_max_window_bits is declined (another offer may still be taken).
// Not thread-safe beyond what each function says.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace huddle::net {

// One extension of a Sec-WebSocket-Extensions header (RFC 6455 §9.1): its name and its
// parameters, in order, with quoted-string values unquoted.
struct ExtensionOffer {
  struct Parameter {
    std::string name;
    std::optional<std::string> value; // none: the parameter had no "="
  };
  std::string name;
  std::vector<Parameter> parameters;
};

// Parses a Sec-WebSocket-Extensions value (several header lines joined with ","). None when it
// does not follow RFC 6455 §9.1's grammar: a client that cannot write the header gets no
// extension at all.
std::optional<std::vector<ExtensionOffer>> parse_extension_offers(std::string_view header);

// The Sec-WebSocket-Extensions value accepting the first acceptable permessage-deflate offer
// of `header` (as parse_extension_offers() takes it); none when there is none, and the
// connection goes without compression. An offer is declined when it has an unknown or
// duplicate parameter, a value where none belongs or a missing or bad one (window bits are
// 8-15, RFC 7692 §7.1.2), or asks server_max_window_bits below 15.
std::optional<std::string> negotiate_deflate(std::string_view header);

// Below this many bytes a frame is sent uncompressed (RSV1 clear, which RFC 7692 §6 allows
// per message): a small JSON frame hardly shrinks, and deflate's overhead would outweigh it.
constexpr std::size_t k_deflate_min_bytes = 128;

// The payload of a compressed message for `text` (RFC 7692 §7.2.1: raw deflate, a 15-bit
// window, flushed with Z_SYNC_FLUSH, the trailing 00 00 ff ff removed), with no context from
// any earlier message; empty when compressing would not make it smaller, and the frame is
// sent as it is. Thread-safe.
std::string deflate_message(std::string_view text);

// Inflates the messages of one thread's connections, one at a time, each with a fresh state
// (client_no_context_takeover): the zlib state is reused from message to message, reset in
// between, so no connection holds one.
class MessageInflater {
public:
  enum class Status : unsigned char {
    ok,      // payload() holds the message
    too_big, // it inflates past the limit: stopped there (1009)
    invalid, // not a valid deflate stream (1007)
  };

  MessageInflater();
  ~MessageInflater();
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // Inflates `compressed` (a message's payload, the 00 00 ff ff trailer removed, §7.2.2), but
  // never writes more than `limit` + 1 bytes of output: a deflate bomb costs at most what
  // the limit allows, in memory and in time.
  Status inflate(std::string_view compressed, std::size_t limit);
  // The last inflate()'s output; valid until the next call.
  std::string_view payload() const noexcept { return {output_.data(), size_}; }
  // Gives back the output buffer's memory when a large message made it grow past 1 MiB.
  void shrink() noexcept;

  // The thread's inflater, for the sessions of that thread.
  static MessageInflater& for_this_thread();

private:
  struct Stream;
  Stream* stream_;
  std::string output_;
  std::size_t size_ = 0;
};

} // namespace huddle::net
