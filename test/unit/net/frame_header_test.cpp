// The byte layout of hand-built frame headers. That real clients read them is checked by
// the integration (Beast clients) and interop (python3-websockets) suites.
#include "net/frame_header.hpp"

#include <doctest/doctest.h>

using huddle::net::control_frame_header;
using huddle::net::is_valid_close_code;
using huddle::net::Opcode;
using huddle::net::text_frame_header;

TEST_CASE("frame headers use the shortest RFC 6455 length encoding") {
  const auto small = text_frame_header(5);
  CHECK(small.size == 2);
  CHECK(small.bytes[0] == 0x81); // FIN + text, unmasked
  CHECK(small.bytes[1] == 5);

  const auto edge = text_frame_header(125);
  CHECK(edge.size == 2);
  CHECK(edge.bytes[1] == 125);

  const auto medium = text_frame_header(126);
  CHECK(medium.size == 4);
  CHECK(medium.bytes[1] == 126);
  CHECK(medium.bytes[2] == 0);
  CHECK(medium.bytes[3] == 126);

  const auto max16 = text_frame_header(65535);
  CHECK(max16.size == 4);
  CHECK(max16.bytes[2] == 0xFF);
  CHECK(max16.bytes[3] == 0xFF);

  const auto large = text_frame_header(65536);
  CHECK(large.size == 10);
  CHECK(large.bytes[1] == 127);
  for (int i = 2; i < 7; ++i)
    CHECK(large.bytes[i] == 0);
  CHECK(large.bytes[7] == 1); // 0x0000000000010000, big-endian
  CHECK(large.bytes[8] == 0);
  CHECK(large.bytes[9] == 0);
}

TEST_CASE("close codes a peer may send are those of RFC 6455 section 7.4 and IANA's registry") {
  for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u, 1013u,
                        1014u, 3000u, 3999u, 4000u, 4999u}) {
    CAPTURE(code);
    CHECK(is_valid_close_code(static_cast<std::uint16_t>(code)));
  }
  for (unsigned code : {0u, 1u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 1100u, 2000u, 2999u, 5000u,
                        5001u, 65535u}) {
    CAPTURE(code);
    CHECK_FALSE(is_valid_close_code(static_cast<std::uint16_t>(code)));
  }
}

TEST_CASE("control frame headers: FIN, the opcode, and the length in one byte") {
  constexpr auto close = control_frame_header(Opcode::close, 2);
  CHECK(close[0] == 0x88); // FIN + close, unmasked
  CHECK(close[1] == 2);
  constexpr auto ping = control_frame_header(Opcode::ping, 0);
  CHECK(ping[0] == 0x89);
  CHECK(ping[1] == 0);
  constexpr auto pong = control_frame_header(Opcode::pong, 125);
  CHECK(pong[0] == 0x8A);
  CHECK(pong[1] == 125);
}
