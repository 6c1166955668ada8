// The byte layout of hand-built frame headers. That real clients read them is checked by
// the integration (Beast clients) and interop (python3-websockets) suites.
#include "net/frame_header.hpp"

#include <doctest/doctest.h>

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
