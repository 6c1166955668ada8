// FrameReader: a sans-I/O parser of the RFC 6455 frames a client sends to a server.
//
// The caller owns all I/O: it waits for readiness, reads whatever arrived into a buffer of its
// own (a per-thread one, so an idle connection holds no read buffer, issue 13) and hands the
// bytes to next(), which returns one event at a time: a whole text or binary message, a ping,
// a pong, a close, or the protocol violation to close the connection for. It checks all that
// RFC 6455 asks of a server reading a client (§5.1-§5.5, §7.4, §8.1), as Beast's reader did:
// masking, reserved bits and opcodes, control frames (final, at most 125 bytes, allowed between
// the fragments of a message), continuation order, minimal length encodings, close payloads,
// UTF-8 of text messages across fragments, and the message size limit.
//
// Memory: per connection the reader keeps only what it must, the header of a frame cut off
// at the end of a read (inline) and the payload received so far of a message that is not yet
// complete (on the heap, freed as soon as the message has been delivered). A message that
// arrived whole in one frame of one read is delivered in place, unmasked in the caller's
// buffer, never copied. Between messages it holds no heap memory: heap_bytes() is 0.
//
// Not thread-safe: one reader per connection, used by that connection's reader only.
#pragma once

#include "net/frame_header.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace huddle::net {

struct FrameReaderOptions {
  // Largest message accepted, counted over all of its fragments (ServerConfig's
  // max_message_bytes). Checked against each frame header's declared length, so a frame
  // that would exceed it fails before its payload arrives.
  std::size_t max_message_bytes = 64 * 1024;
  // Accept RSV1 on a message's first frame, as permessage-deflate (RFC 7692 §6) marks a
  // compressed message. The reader does not inflate: the message comes out as received,
  // with FrameEvent::compressed set, not checked for UTF-8 (the inflater must check it), and
  // its size limit counts compressed bytes.
  bool allow_rsv1 = false;
};

// Why a client's frames break RFC 6455. Each has the close code to answer it with
// (close_code_of) and a short text for the close frame's reason and the log (describe).
enum class FrameViolation : unsigned char {
  none,
  unmasked_frame,          // §5.1: a client masks every frame (1002)
  reserved_bits,           // §5.2: RSV1-3 without an extension that defines them (1002)
  reserved_opcode,         // §5.2: opcodes 3-7 and 0xB-0xF (1002)
  fragmented_control,      // §5.5: a control frame without FIN (1002)
  control_too_long,        // §5.5: a control frame's payload over 125 bytes (1002)
  unexpected_continuation, // §5.4: a continuation frame with no message to continue (1002)
  expected_continuation,   // §5.4: a text or binary frame inside a fragmented message (1002)
  non_minimal_length,      // §5.2: a length not in its shortest encoding (1002)
  length_top_bit,          // §5.2: a 64-bit length with its most significant bit set (1002)
  close_payload_size,      // §5.5.1: a close payload of one byte (1002)
  invalid_close_code,      // §7.4: see is_valid_close_code() in net/frame_header.hpp (1002)
  close_reason_not_utf8,   // §5.5.1: a close reason that is not UTF-8 (1007)
  text_not_utf8,           // §8.1: a text message that is not UTF-8 (1007)
  message_too_big,         // §7.4.1: over FrameReaderOptions::max_message_bytes (1009)
};

// Whether `bytes` are UTF-8 (RFC 3629), as a text message must be (RFC 6455 §8.1): for the
// payload of a compressed message, which the reader cannot check.
bool is_valid_utf8(std::string_view bytes) noexcept;

// 1002 (protocol error), 1007 (invalid payload data) or 1009 (message too big); 0 for none.
std::uint16_t close_code_of(FrameViolation violation) noexcept;
// A few words, ASCII, fit for a close frame's reason; empty for none.
std::string_view describe(FrameViolation violation) noexcept;

struct FrameEvent {
  enum class Kind : unsigned char {
    need_more, // every byte of the input was used; call again with the next read's bytes
    text,      // payload: a whole text message, valid UTF-8 (unless compressed)
    binary,    // payload: a whole binary message
    ping,      // payload: the ping's application data, for the pong (§5.5.2)
    pong,      // payload: the pong's application data
    close,     // code: the peer's close code, 0 when it sent none; payload: its reason
    error,     // code: the close code to answer with; violation; payload: describe(violation)
  };
  Kind kind = Kind::need_more;
  bool compressed = false; // text or binary with RSV1 (only with FrameReaderOptions::allow_rsv1)
  std::uint16_t code = 0;
  FrameViolation violation = FrameViolation::none;
  // Views the caller's input buffer or the reader's own: see FrameReader::next().
  std::string_view payload;
};

class FrameReader {
public:
  explicit FrameReader(FrameReaderOptions options = {}) noexcept;

  // Parses `input` (the bytes of one read, or what an earlier call left of them) up to the
  // next event and advances `input` past the bytes it used. need_more means all of `input`
  // was used (it is empty now) and the reader keeps what it needs of an incomplete frame, so
  // the caller may reuse its buffer; any other event may leave bytes in `input` for the next
  // call. So a caller calls it until need_more (or an error, when it closes the connection),
  // which handles every message of a read without allocating for one that came whole in
  // one frame.
  //
  // Payloads are unmasked in place in `input`'s buffer, so the bytes passed over are no
  // longer what was received. An event's payload stays valid until the next call to next()
  // (or the reader's destruction), and only while the caller leaves the bytes of `input`'s
  // buffer alone: a caller that may suspend between two calls (letting another connection
  // read into a shared per-thread buffer) finishes with the payload first and moves the rest
  // of `input` to storage of its own.
  //
  // After an error the reader is failed: every later call discards its input and returns the
  // same error. After a close the reader is closed: later calls discard their input (the peer
  // may send nothing after a close, §5.5.1) and return need_more.
  [[nodiscard]] FrameEvent next(std::span<unsigned char>& input);

  // For a caller that finds the message next() delivered broken (a compressed one that does
  // not inflate, or inflates past the limit): the reader fails as if it had found
  // `violation` itself, and every later call returns that error.
  void reject_message(FrameViolation violation) { fail(violation); }

  bool failed() const noexcept { return state_ == State::failed; }
  bool closed() const noexcept { return state_ == State::closed; }

  // Heap memory the reader holds: 0 between messages (once next() returned need_more), else
  // the capacity holding an incomplete message or control frame.
  std::size_t heap_bytes() const noexcept { return buffer_.capacity(); }

private:
  enum class State : unsigned char {
    header,  // waiting for (the rest of) a frame header
    payload, // a frame's payload arrives in pieces, gathered in buffer_
    closed,
    failed,
  };
  // What buffer_ holds of the last event's payload, to drop at the next call.
  enum class Delivered : unsigned char { nothing, message, control };

  FrameEvent parse(std::span<unsigned char>& input);
  std::span<const unsigned char> take_header(std::span<unsigned char>& input);
  FrameViolation check_start(unsigned char first, unsigned char second) const noexcept;
  FrameViolation start_frame(std::span<const unsigned char> header) noexcept;
  bool read_payload(std::span<unsigned char> bytes) noexcept;
  FrameEvent finish_frame(std::string_view payload);
  FrameEvent control_event(std::string_view payload);
  FrameEvent fail(FrameViolation violation);
  FrameEvent error_event() const noexcept;
  std::size_t message_buffered() const noexcept;
  void release_delivered() noexcept;
  void free_buffer() noexcept;

  // The payload of an incomplete message (a fragmented one, or one frame over several reads),
  // unmasked, then that of a control frame that arrived in pieces between its fragments.
  std::vector<unsigned char> buffer_;
  std::size_t max_message_bytes_;
  std::uint64_t frame_remaining_ = 0;      // payload bytes of the current frame still to come
  std::uint64_t message_bytes_ = 0;        // declared payload of the current message's frames
  std::array<unsigned char, 14> header_{}; // a header cut off by the end of a read: 2 + 8 + 4
  std::array<unsigned char, 4> mask_{};
  unsigned char header_size_ = 0;
  unsigned char mask_offset_ = 0;        // the current frame's payload bytes read so far, mod 4
  Opcode opcode_ = Opcode::continuation; // the current frame's
  unsigned char utf8_ = 0; // where a text message's bytes so far leave a UTF-8 decoder
  State state_ = State::header;
  Delivered delivered_ = Delivered::nothing;
  FrameViolation violation_ = FrameViolation::none;
  bool allow_rsv1_;
  bool fin_ = false;          // the current frame's
  bool message_open_ = false; // a data frame came, and the frame with FIN has not ended yet
  bool message_text_ = false;
  bool message_compressed_ = false;
};

} // namespace huddle::net
