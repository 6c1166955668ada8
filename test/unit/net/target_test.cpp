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
  return std::string(info(std::get<TargetError>(parsed).code).wire);
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
  CHECK(ok("/ws/1?since=4&name=bob&other=x").name == "bob"); // others are ignored
  CHECK(ok("/ws/1?token=a.b%2Dc").token == "a.b-c");
  CHECK_FALSE(ok("/ws/1").token.has_value());
  CHECK(error_code("/ws/1?token=%zz") == "bad_token");
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

TEST_CASE("since is a message id from 0 to 2^63-1") {
  CHECK_FALSE(ok("/ws/1").since.has_value());
  CHECK(ok("/ws/1?since=0").since == 0);
  CHECK(ok("/ws/1?name=bob&since=42").since == 42);
  CHECK(ok("/ws/1?since=9223372036854775807").since == INT64_MAX);
  for (auto bad : {"/ws/1?since=", "/ws/1?since=-1", "/ws/1?since=x", "/ws/1?since=1.5",
                   "/ws/1?since=+3", "/ws/1?since=9223372036854775808", "/ws/1?since"})
    CHECK_MESSAGE(error_code(bad) == "bad_since", bad);
}

namespace {

ApiTarget api_ok(std::string_view target) {
  auto parsed = parse_api_target(target);
  REQUIRE_MESSAGE(parsed.has_value(), target);
  REQUIRE_MESSAGE(std::holds_alternative<ApiTarget>(*parsed), target);
  return std::get<ApiTarget>(*parsed);
}

std::string api_error(std::string_view target) {
  auto parsed = parse_api_target(target);
  REQUIRE_MESSAGE(parsed.has_value(), target);
  REQUIRE_MESSAGE(std::holds_alternative<TargetError>(*parsed), target);
  return std::string(info(std::get<TargetError>(*parsed).code).wire);
}

} // namespace

TEST_CASE("group API targets: messages with since and limit, members") {
  const ApiTarget plain = api_ok("/api/groups/7/messages");
  CHECK(plain.group == 7);
  CHECK(plain.resource == ApiTarget::Resource::messages);
  CHECK_FALSE(plain.since.has_value());
  CHECK(plain.limit == 100);
  const ApiTarget paged = api_ok("/api/groups/7/messages?since=40&limit=1000");
  CHECK(paged.since == 40);
  CHECK(paged.limit == 1000);
  CHECK(api_ok("/api/groups/3/members").resource == ApiTarget::Resource::members);

  for (auto bad : {"/api/groups/0/messages", "/api/groups/x/members", "/api/groups//messages"})
    CHECK_MESSAGE(api_error(bad) == "bad_group", bad);
  for (auto bad : {"/api/groups/1/messages?since=-2", "/api/groups/1/messages?since=a"})
    CHECK_MESSAGE(api_error(bad) == "bad_since", bad);
  for (auto bad : {"/api/groups/1/messages?limit=0", "/api/groups/1/messages?limit=1001",
                   "/api/groups/1/messages?limit=", "/api/groups/1/messages?limit=-5"})
    CHECK_MESSAGE(api_error(bad) == "bad_limit", bad);

  for (auto none :
       {"/api/groups/1", "/api/groups/1/", "/api/groups/1/other", "/api/groups/1/messages/2"})
    CHECK_MESSAGE(!parse_api_target(none).has_value(), none);
}

TEST_CASE("admin API targets: connections, members/{user}") {
  CHECK(api_ok("/api/groups/7/connections").resource == ApiTarget::Resource::connections);
  const ApiTarget member = api_ok("/api/groups/7/members/bob");
  CHECK(member.resource == ApiTarget::Resource::member);
  CHECK(member.group == 7);
  CHECK(member.user == "bob");
  CHECK(api_ok("/api/groups/7/members/a%2Eb").user == "a.b");
  for (auto bad :
       {"/api/groups/7/members/", "/api/groups/7/members/a%20b", "/api/groups/7/members/bob/x",
        "/api/groups/7/members/%zz", "/api/groups/7/members/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    CHECK_MESSAGE(api_error(bad) == "bad_user", bad);
  CHECK(api_error("/api/groups/0/members/bob") == "bad_group");
  CHECK_FALSE(parse_api_target("/api/groups/7/connections/x").has_value());
}

TEST_CASE("percent_decode: %XX and '+' as a space; a broken escape is an error") {
  CHECK(percent_decode("") == "");
  CHECK(percent_decode("alice") == "alice");
  CHECK(percent_decode("J%C3%bcrgen+K") == "J\xC3\xBCrgen K");
  CHECK(percent_decode("100%25+%2B") == "100% +");
  CHECK(percent_decode("%00") == std::string(1, '\0'));
  CHECK(percent_decode("raw \xFF|^") == "raw \xFF|^"); // not escaped, but not an escape either
  for (const char* broken : {"%", "%4", "a%", "ab%4", "%zz", "%g1", "%%41", "%4%41", "a%2"})
    CHECK_MESSAGE(!percent_decode(broken).has_value(), broken);
}
