#include "load/envelope.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using namespace huddle::load;

TEST_CASE("message frames give their id; other frames give none") {
  CHECK(message_id(R"({"type":"message","group":7,"id":42,"from":"alice","text":"HLD:1:2:3:",)"
                   R"("ts":1764000000123})") == 42u);
  CHECK(message_id(R"({"type":"ack","id":42})") == std::nullopt);
  CHECK(message_id(R"({"type":"welcome","group":7,"user":"a","last_id":41,"members":[]})") ==
        std::nullopt);
  CHECK(message_id("HLD:1:2:3:abcdef") == std::nullopt); // a raw relay: no ids
  CHECK(message_id("") == std::nullopt);
}

TEST_CASE("the welcome's last_id is found, not mistaken for an id") {
  std::string const welcome =
      R"({"type":"welcome","group":7,"user":"alice","last_id":41,"members":["bob"]})";
  CHECK(kind_of(welcome) == FrameKind::welcome);
  CHECK(welcome_last_id(welcome) == 41u);
  CHECK(uint_field(welcome, "id") == std::nullopt);
  CHECK(welcome_last_id(R"({"type":"welcome","group":7,"last_id":0,"truncated":true})") == 0u);
  CHECK(welcome_last_id(R"({"type":"message","group":7,"id":9})") == std::nullopt);
}

TEST_CASE("text that quotes keys cannot fake a type or an id") {
  // Inside a JSON string every quote is escaped, so `"id":` there is not a key.
  std::string const sneaky =
      R"({"type":"message","group":7,"from":"eve","text":"{\"type\":\"welcome\",\"id\":999}",)"
      R"("id":5,"ts":1})";
  CHECK(kind_of(sneaky) == FrameKind::message);
  CHECK(message_id(sneaky) == 5u);
  std::string const only_in_text = R"({"type":"join","text":"\"type\":\"message\",\"id\":3"})";
  CHECK(kind_of(only_in_text) == FrameKind::other);
  CHECK(message_id(only_in_text) == std::nullopt);
  // A key name inside a longer one, or used as a value, does not count either.
  CHECK(uint_field(R"({"type":"message","uid":3,"id_x":4})", "id") == std::nullopt);
  CHECK(uint_field(R"({"type":"message","from":"id","x":1})", "id") == std::nullopt);
}

TEST_CASE("kinds, blanks and malformed numbers") {
  CHECK(kind_of(R"({"type":"ack","ref":"c1","id":42})") == FrameKind::ack);
  CHECK(kind_of(R"({"type":"error","code":"empty_text"})") == FrameKind::error);
  CHECK(kind_of(R"({"type":"leave","group":7,"user":"bob"})") == FrameKind::other);
  CHECK(kind_of(R"({"type":"mess)") == FrameKind::other);
  CHECK(message_id(R"({ "type" : "message", "id" : 17 })") == 17u);
  CHECK(message_id(R"({"type":"message","id":-1})") == std::nullopt);
  CHECK(message_id(R"({"type":"message","id":4.5})") == std::nullopt);
  CHECK(message_id(R"({"type":"message","id":"7"})") == std::nullopt);
  CHECK(message_id(R"({"type":"message","id":99999999999999999999})") == std::nullopt);
  CHECK(message_id(R"({"type":"message","id":18446744073709551615})") == UINT64_MAX);
  CHECK(message_id(R"({"type":"message","id":)") == std::nullopt);
}
