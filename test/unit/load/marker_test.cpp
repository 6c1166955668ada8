#include "load/marker.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace huddle::load;

TEST_CASE("a marker survives encode and parse") {
  Marker const m{42, 123456789, 9'876'543'210'123ULL};
  auto const text = encode_marker(m);
  CHECK(text == "HLD:42:123456789:9876543210123:");
  auto const parsed = parse_marker(text);
  REQUIRE(parsed);
  CHECK(*parsed == m);
}

TEST_CASE("the largest marker fits k_marker_max_size") {
  Marker const m{UINT32_MAX, UINT64_MAX, UINT64_MAX};
  auto const text = encode_marker(m);
  CHECK(text.size() == k_marker_max_size);
  CHECK(parse_marker(text) == m);
}

TEST_CASE("payloads have the exact size, start with the marker and need no JSON escaping") {
  std::string payload;
  Marker const m{3, 7, 1000};
  make_payload(payload, m, 128);
  CHECK(payload.size() == 128);
  CHECK(parse_marker(payload) == m);
  for (char c : payload) {
    bool const plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':';
    CHECK(plain);
  }
  make_payload(payload, m, 4); // smaller than the marker: the marker wins
  CHECK(payload == encode_marker(m));
}

TEST_CASE("markers are found inside a protocol v1 envelope and in raw text") {
  Marker const m{5, 99, 123};
  std::string payload;
  make_payload(payload, m, 64);
  std::string const envelope = R"({"type":"message","group":7,"id":42,"from":"u5","text":")" +
                               payload + R"(","ts":1764000000123})";
  MarkerScanner in_json(envelope);
  CHECK(in_json.next() == m);
  CHECK_FALSE(in_json.next());
  MarkerScanner raw(payload);
  CHECK(raw.next() == m);
}

TEST_CASE("a frame with several markers yields each; broken ones are counted") {
  std::string const frame =
      encode_marker({1, 2, 3}) + " HLD:x " + encode_marker({4, 5, 6}) + " HLD:7:8:";
  MarkerScanner scanner(frame);
  CHECK(scanner.next() == Marker{1, 2, 3});
  CHECK(scanner.next() == Marker{4, 5, 6});
  CHECK_FALSE(scanner.next());
  CHECK(scanner.malformed() == 2);
}

TEST_CASE("parse rejects what is not a marker") {
  CHECK_FALSE(parse_marker(""));
  CHECK_FALSE(parse_marker("HLD:"));
  CHECK_FALSE(parse_marker("HLD:1:2:3")); // no closing ':'
  CHECK_FALSE(parse_marker("HLD:-1:2:3:"));
  CHECK_FALSE(parse_marker("HLD:99999999999:2:3:")); // sender beyond 32 bits
  CHECK_FALSE(parse_marker("xHLD:1:2:3:"));
}
