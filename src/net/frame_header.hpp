// The header of an unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends
// it. Every recipient of a broadcast gets the same payload bytes; only this small header is
// built per write, so the payload itself is never copied per recipient.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace huddle::net {

struct FrameHeader {
  std::array<unsigned char, 10> bytes{};
  std::size_t size = 0;
};

constexpr FrameHeader text_frame_header(std::uint64_t payload_size) noexcept {
  FrameHeader header;
  header.bytes[0] = 0x81; // FIN, opcode 1 (text)
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

} // namespace huddle::net
