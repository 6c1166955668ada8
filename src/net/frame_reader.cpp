#include "net/frame_reader.hpp"

#include "net/frame_header.hpp"

#include <algorithm>
#include <cstring>

namespace huddle::net {

namespace {

constexpr unsigned char k_fin = 0x80;
constexpr unsigned char k_rsv1 = 0x40;
constexpr unsigned char k_rsv2_rsv3 = 0x30;
constexpr unsigned char k_masked = 0x80;
constexpr std::size_t k_max_control_payload = 125; // RFC 6455 §5.5

using enum Opcode;

constexpr bool is_control(Opcode opcode) noexcept {
  return (static_cast<unsigned char>(opcode) & 0x8) != 0;
}

constexpr bool is_reserved(Opcode opcode) noexcept {
  return (opcode > binary && opcode < close) || opcode > pong;
}

// The whole header's size, from its second byte, for a masked frame (check_start() has
// refused unmasked ones).
constexpr std::size_t header_length(unsigned char second) noexcept {
  const unsigned length = second & 0x7F;
  return 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + 4;
}

// XORs `bytes` with the key, the first of them being payload byte `offset` of its frame
// (RFC 6455 §5.3). Eight bytes at a time: large payloads are unmasked at memory speed.
void unmask(std::span<unsigned char> bytes, const std::array<unsigned char, 4>& key,
            std::size_t offset) noexcept {
  std::array<unsigned char, 8> rotated;
  for (std::size_t i = 0; i < rotated.size(); ++i)
    rotated[i] = key[(offset + i) % 4];
  std::uint64_t key8;
  std::memcpy(&key8, rotated.data(), sizeof key8);
  unsigned char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= key8;
    std::memcpy(data + i, &word, sizeof word);
  }
  for (; i < size; ++i)
    data[i] ^= rotated[i % 8];
}

// An incremental UTF-8 check (RFC 3629 §4, as RFC 6455 §8.1 requires): a state carries over
// from one piece of a message to the next, so a sequence may be split anywhere, and the check
// fails at the first byte that no valid continuation could follow, not only at the end.
// States: 0 between characters; 1-3 continuation bytes still expected, any of 0x80-0xBF;
// 4-7 after a lead byte whose next byte is restricted (overlong forms, surrogates, and code
// points over U+10FFFF are refused there, at the second byte).
namespace utf8 {

constexpr unsigned char k_accept = 0;
constexpr unsigned char k_reject = 0xFF;
constexpr std::array<unsigned char, 8> k_low{0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80};
constexpr std::array<unsigned char, 8> k_high{0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
constexpr std::array<unsigned char, 8> k_after{0, 0, 1, 2, 1, 1, 2, 2};

constexpr unsigned char after_lead(unsigned char byte) noexcept {
  if (byte < 0xC2) return k_reject; // a stray continuation byte, or C0/C1 (always overlong)
  if (byte < 0xE0) return 1;
  if (byte == 0xE0) return 4; // E0 A0-BF: below that, overlong
  if (byte == 0xED) return 5; // ED 80-9F: above that, UTF-16 surrogates
  if (byte < 0xF0) return 2;
  if (byte == 0xF0) return 6; // F0 90-BF: below that, overlong
  if (byte < 0xF4) return 3;
  if (byte == 0xF4) return 7; // F4 80-8F: above that, over U+10FFFF
  return k_reject;
}

// Advances `state` over `bytes`; false at the first byte that makes them invalid.
bool advance(unsigned char& state, std::span<const unsigned char> bytes) noexcept {
  const unsigned char* data = bytes.data();
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  while (i < size) {
    if (state == k_accept) {
      // Chat text is mostly ASCII: skip it eight bytes at a time.
      for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, data + i, sizeof word);
        if ((word & 0x8080808080808080u) != 0) break;
      }
      if (i == size) break;
      const unsigned char byte = data[i++];
      if (byte < 0x80) continue;
      state = after_lead(byte);
      if (state == k_reject) return false;
    } else {
      const unsigned char byte = data[i++];
      if (byte < k_low[state] || byte > k_high[state]) return false;
      state = k_after[state];
    }
  }
  return true;
}

bool is_valid(std::span<const unsigned char> bytes) noexcept {
  unsigned char state = k_accept;
  return advance(state, bytes) && state == k_accept;
}

} // namespace utf8

std::span<const unsigned char> bytes_of(std::string_view text) noexcept {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

std::string_view text_of(std::span<const unsigned char> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace

bool is_valid_utf8(std::string_view bytes) noexcept {
  return utf8::is_valid(bytes_of(bytes));
}

std::uint16_t close_code_of(FrameViolation violation) noexcept {
  switch (violation) {
  case FrameViolation::none:
    return 0;
  case FrameViolation::close_reason_not_utf8:
  case FrameViolation::text_not_utf8:
    return 1007;
  case FrameViolation::message_too_big:
    return 1009;
  default:
    return 1002;
  }
}

std::string_view describe(FrameViolation violation) noexcept {
  switch (violation) {
  case FrameViolation::none:
    return {};
  case FrameViolation::unmasked_frame:
    return "unmasked frame";
  case FrameViolation::reserved_bits:
    return "reserved bits set";
  case FrameViolation::reserved_opcode:
    return "reserved opcode";
  case FrameViolation::fragmented_control:
    return "fragmented control frame";
  case FrameViolation::control_too_long:
    return "control frame over 125 bytes";
  case FrameViolation::unexpected_continuation:
    return "continuation without a message";
  case FrameViolation::expected_continuation:
    return "new message inside a fragmented one";
  case FrameViolation::non_minimal_length:
    return "length not minimally encoded";
  case FrameViolation::length_top_bit:
    return "64-bit length with top bit set";
  case FrameViolation::close_payload_size:
    return "close payload of one byte";
  case FrameViolation::invalid_close_code:
    return "invalid close code";
  case FrameViolation::close_reason_not_utf8:
    return "close reason not UTF-8";
  case FrameViolation::text_not_utf8:
    return "text not UTF-8";
  case FrameViolation::message_too_big:
    return "message too big";
  }
  return "protocol error";
}

FrameReader::FrameReader(FrameReaderOptions options) noexcept
    : max_message_bytes_(options.max_message_bytes), allow_rsv1_(options.allow_rsv1) {}

FrameEvent FrameReader::next(std::span<unsigned char>& input) {
  release_delivered();
  if (state_ == State::header || state_ == State::payload) {
    FrameEvent event = parse(input);
    if (!failed()) return event;
  }
  input = {};
  return failed() ? error_event() : FrameEvent{};
}

FrameEvent FrameReader::parse(std::span<unsigned char>& input) {
  for (;;) {
    if (state_ == State::header) {
      const auto header = take_header(input);
      if (header.empty()) return {}; // need more (input is all used), or failed
      if (const auto violation = start_frame(header); violation != FrameViolation::none)
        return fail(violation);
      // A control frame, or a message in one frame, that this read holds whole is delivered
      // where it lies: the common case costs no copy.
      const bool whole_message = opcode_ != continuation && fin_;
      if (frame_remaining_ <= input.size() && (is_control(opcode_) || whole_message)) {
        const auto payload = input.first(static_cast<std::size_t>(frame_remaining_));
        input = input.subspan(payload.size());
        frame_remaining_ = 0;
        if (!read_payload(payload)) return error_event();
        return finish_frame(text_of(payload));
      }
      state_ = State::payload;
    }
    // State::payload: gather what this read holds of the frame.
    const auto size =
        static_cast<std::size_t>(std::min<std::uint64_t>(frame_remaining_, input.size()));
    const auto piece = input.first(size);
    input = input.subspan(size);
    frame_remaining_ -= size;
    if (!read_payload(piece)) return error_event();
    buffer_.insert(buffer_.end(), piece.begin(), piece.end());
    if (frame_remaining_ > 0) return {}; // need more: input is all used
    state_ = State::header;
    const std::size_t start = is_control(opcode_) ? message_buffered() : 0;
    const FrameEvent event =
        finish_frame(text_of(std::span<const unsigned char>(buffer_).subspan(start)));
    if (event.kind != FrameEvent::Kind::need_more) {
      if (event.kind != FrameEvent::Kind::error)
        delivered_ = is_control(opcode_) ? Delivered::control : Delivered::message;
      return event;
    }
    // A fragment that does not end its message: on to the next frame.
  }
}

// The next complete header: in `input` itself when it holds all of it, else gathered in
// header_ across calls. Empty when more bytes are needed (input is then all used) or when the
// first two bytes already break the protocol (the reader is then failed).
std::span<const unsigned char> FrameReader::take_header(std::span<unsigned char>& input) {
  if (header_size_ == 0 && input.size() >= 2) {
    if (const auto violation = check_start(input[0], input[1]); violation != FrameViolation::none) {
      fail(violation);
      return {};
    }
    const std::size_t length = header_length(input[1]);
    if (input.size() >= length) {
      const auto header = input.first(length);
      input = input.subspan(length);
      return header;
    }
  }
  while (header_size_ < 2 && !input.empty()) {
    header_[header_size_++] = input.front();
    input = input.subspan(1);
  }
  if (header_size_ < 2) return {};
  // Checked as soon as the first two bytes are here, so a violation there fails at once.
  if (const auto violation = check_start(header_[0], header_[1]);
      violation != FrameViolation::none) {
    fail(violation);
    return {};
  }
  const std::size_t length = header_length(header_[1]);
  const std::size_t size = std::min(length - header_size_, input.size());
  std::copy_n(input.data(), size, header_.data() + header_size_); // input may be empty: no memcpy
  header_size_ = static_cast<unsigned char>(header_size_ + size);
  input = input.subspan(size);
  if (header_size_ < length) return {};
  header_size_ = 0;
  return std::span<const unsigned char>(header_).first(length);
}

// What the first two bytes of a header alone can break: all but the extended length.
FrameViolation FrameReader::check_start(unsigned char first, unsigned char second) const noexcept {
  const auto opcode = static_cast<Opcode>(first & 0x0F);
  const bool rsv1 = (first & k_rsv1) != 0;
  if (is_reserved(opcode)) return FrameViolation::reserved_opcode;
  if ((first & k_rsv2_rsv3) != 0) return FrameViolation::reserved_bits;
  if (is_control(opcode)) {
    if (rsv1) return FrameViolation::reserved_bits;
    if ((first & k_fin) == 0) return FrameViolation::fragmented_control;
    if ((second & 0x7F) > k_max_control_payload) return FrameViolation::control_too_long;
  } else if (opcode == continuation) {
    // RFC 7692 §6.1: only a message's first frame carries RSV1.
    if (rsv1) return FrameViolation::reserved_bits;
    if (!message_open_) return FrameViolation::unexpected_continuation;
  } else {
    if (message_open_) return FrameViolation::expected_continuation;
    if (rsv1 && !allow_rsv1_) return FrameViolation::reserved_bits;
  }
  if ((second & k_masked) == 0) return FrameViolation::unmasked_frame;
  return FrameViolation::none;
}

// Takes a complete header (check_start() passed) as the current frame's.
FrameViolation FrameReader::start_frame(std::span<const unsigned char> header) noexcept {
  std::uint64_t length = header[1] & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    length = std::uint64_t{header[2]} << 8 | header[3];
    at = 4;
    // Beast refuses these too (error::bad_size); RFC 6455 §5.2 asks for the minimal number
    // of bytes.
    if (length < 126) return FrameViolation::non_minimal_length;
  } else if (length == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i)
      length = length << 8 | header[i];
    at = 10;
    // Beast reports this one as too big (1009): the RFC says it is malformed.
    if ((length >> 63) != 0) return FrameViolation::length_top_bit;
    if (length <= 0xFFFF) return FrameViolation::non_minimal_length;
  }
  std::memcpy(mask_.data(), header.data() + at, mask_.size());
  opcode_ = static_cast<Opcode>(header[0] & 0x0F);
  fin_ = (header[0] & k_fin) != 0;
  frame_remaining_ = length;
  mask_offset_ = 0;
  if (is_control(opcode_)) return FrameViolation::none;
  if (opcode_ != continuation) {
    message_bytes_ = 0;
    message_text_ = opcode_ == text;
    message_compressed_ = (header[0] & k_rsv1) != 0;
    utf8_ = utf8::k_accept;
  }
  // The declared length is checked before any of the payload arrives, as Beast does: a
  // client cannot make the server gather a message it would refuse.
  if (length > max_message_bytes_ - message_bytes_) return FrameViolation::message_too_big;
  message_bytes_ += length;
  message_open_ = true;
  return FrameViolation::none;
}

// Unmasks a piece of the current frame's payload in place and checks what can be checked of
// it so far. False when the reader failed.
bool FrameReader::read_payload(std::span<unsigned char> bytes) noexcept {
  unmask(bytes, mask_, mask_offset_);
  mask_offset_ = static_cast<unsigned char>((mask_offset_ + bytes.size()) % 4);
  if (!is_control(opcode_) && message_text_ && !message_compressed_ &&
      !utf8::advance(utf8_, bytes)) {
    fail(FrameViolation::text_not_utf8);
    return false;
  }
  return true;
}

// The current frame has all its payload: the event it makes, or need_more for a fragment
// that does not end its message.
FrameEvent FrameReader::finish_frame(std::string_view payload) {
  if (is_control(opcode_)) return control_event(payload);
  if (!fin_) return {};
  message_open_ = false;
  if (message_text_ && !message_compressed_ && utf8_ != utf8::k_accept)
    return fail(FrameViolation::text_not_utf8); // the message ends inside a character
  FrameEvent event;
  event.kind = message_text_ ? FrameEvent::Kind::text : FrameEvent::Kind::binary;
  event.compressed = message_compressed_;
  event.payload = payload;
  return event;
}

FrameEvent FrameReader::control_event(std::string_view payload) {
  FrameEvent event;
  event.payload = payload;
  if (opcode_ == ping) {
    event.kind = FrameEvent::Kind::ping;
    return event;
  }
  if (opcode_ == pong) {
    event.kind = FrameEvent::Kind::pong;
    return event;
  }
  // Close (RFC 6455 §5.5.1): nothing, or a code and a UTF-8 reason.
  if (payload.size() == 1) return fail(FrameViolation::close_payload_size);
  if (payload.size() >= 2) {
    const auto bytes = bytes_of(payload);
    event.code = static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
    if (!is_valid_close_code(event.code)) return fail(FrameViolation::invalid_close_code);
    event.payload = payload.substr(2);
    if (!utf8::is_valid(bytes.subspan(2))) return fail(FrameViolation::close_reason_not_utf8);
  }
  event.kind = FrameEvent::Kind::close;
  state_ = State::closed;
  return event;
}

FrameEvent FrameReader::fail(FrameViolation violation) {
  state_ = State::failed;
  violation_ = violation;
  free_buffer();
  delivered_ = Delivered::nothing;
  return error_event();
}

FrameEvent FrameReader::error_event() const noexcept {
  FrameEvent event;
  event.kind = FrameEvent::Kind::error;
  event.violation = violation_;
  event.code = close_code_of(violation_);
  event.payload = describe(violation_);
  return event;
}

// The bytes of the open message gathered in buffer_. Every frame of a fragmented message is
// gathered, so once its frames so far are complete (as they are while a control frame is
// read) that is all their declared length.
std::size_t FrameReader::message_buffered() const noexcept {
  return message_open_ ? static_cast<std::size_t>(message_bytes_) : 0;
}

// Frees what held the last event's payload, which the caller was done with when it called
// again; in particular, an idle reader holds no heap memory.
void FrameReader::release_delivered() noexcept {
  if (state_ == State::closed || state_ == State::failed || delivered_ == Delivered::message) {
    free_buffer();
  } else if (delivered_ == Delivered::control) {
    buffer_.resize(message_buffered());
    if (buffer_.empty()) free_buffer();
  }
  delivered_ = Delivered::nothing;
}

// clear() and `buffer_ = {}` (initializer_list assignment) would both keep the capacity.
void FrameReader::free_buffer() noexcept {
  std::vector<unsigned char>().swap(buffer_);
}

} // namespace huddle::net
