// The header of an unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends
// it (RSV1 set when permessage-deflate compressed the payload). Every recipient of a broadcast
// gets the same payload bytes; only this small header is built per write, so the payload
// itself is never copied per recipient. Also: control frames and close codes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace huddle::net {

struct FrameHeader {
  std::array<unsigned char, 10> bytes{};
  std::size_t size = 0;
};

// `compressed`: the payload is a permessage-deflate message, marked by RSV1 (RFC 7692 §6).
constexpr FrameHeader text_frame_header(std::uint64_t payload_size,
                                        bool compressed = false) noexcept {
  FrameHeader header;
  header.bytes[0] = compressed ? 0xC1 : 0x81; // FIN, (RSV1,) opcode 1 (text)
  if (payload_size < 126) {
    header.bytes[1] = static_cast<unsigned char>(payload_size);
    header.size = 2;
  } else if (payload_size <= 0xFFFF) {
    header.bytes[1] = 126;
    header.bytes[2] = static_cast<unsigned char>(payload_size >> 8);
    header.bytes[3] = static_cast<unsigned char>(payload_size);
    header.size = 4;
  } else {
    header.bytes[1] = 127;
    for (int i = 0; i < 8; ++i)
      header.bytes[2 + i] = static_cast<unsigned char>(payload_size >> (56 - 8 * i));
    header.size = 10;
  }
  return header;
}

// Whether a peer may send `code` in a close frame: RFC 6455 §7.4.1 and §7.4.2 with IANA's
// registry (1012-1014 were added there). 1004-1006 and 1015 are reserved and never sent;
// 0-999, 1016-2999 and 5000 and above are not used (net/frame_reader.cpp answers them with
// 1002).
constexpr bool is_valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// The opcodes RFC 6455 §5.2 defines; the others are reserved.
enum class Opcode : unsigned char {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// The header of a server's control frame (close, ping, pong), whose payload is at most 125
// bytes (§5.5).
constexpr std::array<unsigned char, 2> control_frame_header(Opcode opcode,
                                                            std::size_t payload_size) noexcept {
  return {static_cast<unsigned char>(0x80 | static_cast<unsigned char>(opcode)),
          static_cast<unsigned char>(payload_size)};
}

} // namespace huddle::net
