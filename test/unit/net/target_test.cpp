#include "net/target.hpp"

#include <doctest/doctest.h>

using namespace huddle::net;

namespace {

WsTarget ok(std::string_view target) {
  auto parsed = parse_ws_target(target);
  REQUIRE_MESSAGE(std::holds_alternative<WsTarget>(parsed), target);
  return std::get<WsTarget>(parsed);
}

std::string error_code(std::string_view target) {
  auto parsed = parse_ws_target(target);
  REQUIRE_MESSAGE(std::holds_alternative<TargetError>(parsed), target);
  return std::get<TargetError>(parsed).code;
}

} // namespace

TEST_CASE("group ids are integers from 1 to 2^63-1") {
  CHECK(ok("/ws/1").group == 1);
  CHECK(ok("/ws/7?echo=1").group == 7);
  CHECK(ok("/ws/9223372036854775807").group == INT64_MAX);
  for (auto bad : {"/ws/", "/ws/0", "/ws/-1", "/ws/abc", "/ws/1a", "/ws/01", "/ws/+1",
                   "/ws/9223372036854775808", "/ws/1/2", "/ws/1.0", "/ws/ 1"})
    CHECK_MESSAGE(error_code(bad) == "bad_group", bad);
}

TEST_CASE("echo and name parameters") {
  CHECK_FALSE(ok("/ws/1").echo);
  CHECK(ok("/ws/1?echo=1").echo);
  CHECK_FALSE(ok("/ws/1?echo=0").echo);
  CHECK(error_code("/ws/1?echo=yes") == "bad_echo");

  CHECK_FALSE(ok("/ws/1").name.has_value());
  CHECK(ok("/ws/1?name=alice").name == "alice");
  CHECK(ok("/ws/1?name=J%C3%BCrgen+K").name == "J\xC3\xBCrgen K");
  CHECK(ok("/ws/1?since=4&name=bob&token=x").name == "bob"); // others are ignored
  CHECK(ok("/ws/1?name=" + std::string(32, 'a')).name->size() == 32);
  CHECK(error_code("/ws/1?name=" + std::string(33, 'a')) == "bad_name");
  CHECK(error_code("/ws/1?name=") == "bad_name");
  CHECK(error_code("/ws/1?name=a%0Ab") == "bad_name"); // a control character
  CHECK(error_code("/ws/1?name=%FF") == "bad_name");   // not UTF-8
  CHECK(error_code("/ws/1?name=%ZZ") == "bad_name");   // a broken escape
  CHECK(error_code("/ws/1?name=a%4") == "bad_name");
}

TEST_CASE("names count characters, not bytes, and reject malformed UTF-8") {
  CHECK(is_valid_name("\xC3\xBC")); // ü
  std::string umlauts;
  for (int i = 0; i < 32; ++i)
    umlauts += "\xC3\xBC";
  CHECK(is_valid_name(umlauts)); // 64 bytes, 32 characters
  CHECK_FALSE(is_valid_name(umlauts + "a"));
  CHECK_FALSE(is_valid_name("\xC0\xAF"));     // overlong '/'
  CHECK_FALSE(is_valid_name("\xED\xA0\x80")); // a surrogate
  CHECK_FALSE(is_valid_name("\xE2\x82"));     // truncated
  CHECK_FALSE(is_valid_name("tab\there"));
  CHECK_FALSE(is_valid_name("\x7F"));
  CHECK(is_valid_name("\xF0\x9F\x98\x80")); // an emoji
}
