// Unit tests of what RedisBroker's nodes send each other (src/broker/channel_payload.cpp):
// every field survives, and any other shape is junk, never a crash or a half-read message.
#include "broker/channel_payload.hpp"

#include <doctest/doctest.h>

using namespace huddle::broker;

TEST_CASE("a message publication keeps every field, newlines in the text included") {
  const std::string payload = std::string("M42\n1764000000123\nabc:7\n5\nalice") + "hi\nthere";
  const auto parsed = parse_channel_payload(payload);
  const auto* message = std::get_if<ChannelMessage>(&parsed);
  REQUIRE(message);
  CHECK(message->id == 42);
  CHECK(message->ts_ms == 1764000000123);
  CHECK(message->origin == "abc:7");
  CHECK(message->from == "alice");
  CHECK(message->text == "hi\nthere");

  const auto empty_text = parse_channel_payload("M1\n0\n\n3\nbob");
  REQUIRE(std::holds_alternative<ChannelMessage>(empty_text));
  CHECK(std::get<ChannelMessage>(empty_text).text.empty());
}

TEST_CASE("presence publications name their user") {
  const auto joined = parse_channel_payload("Jalice");
  REQUIRE(std::holds_alternative<ChannelPresence>(joined));
  CHECK(std::get<ChannelPresence>(joined).online);
  CHECK(std::get<ChannelPresence>(joined).user == "alice");
  const auto left = parse_channel_payload("Lbob:x");
  REQUIRE(std::holds_alternative<ChannelPresence>(left));
  CHECK_FALSE(std::get<ChannelPresence>(left).online);
  CHECK(std::get<ChannelPresence>(left).user == "bob:x");
}

TEST_CASE("any other shape is junk") {
  for (const std::string bad :
       {"", "J", "L", "X1", "M", "M0\n1\no\n1\na", "M-3\n1\no\n1\na", "Mx\n1\no\n1\na",
        "M1\n\no\n1\na", "M1\n1\no\n9\nabc", "M1\n1\no", "M1\n1\no\n\nabc", "M1\n1\no\n1x\na",
        "M99999999999999999999\n1\no\n1\na"})
    CHECK_MESSAGE(std::holds_alternative<ChannelJunk>(parse_channel_payload(bad)), bad);
}

TEST_CASE("group keys and channel names go both ways, under the prefix only") {
  CHECK(group_key("huddle:", 7, "seq") == "huddle:{7}:seq");
  CHECK(channel_group("huddle:", group_key("huddle:", 9223372036854775807, "ch")) ==
        9223372036854775807);
  CHECK(channel_group("huddle:", "huddle:{7}:ch") == 7);
  CHECK(channel_group("huddle:", "other:{7}:ch") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:{7}:seq") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:{0}:ch") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:{x}:ch") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:{}:ch") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:7}:ch") == std::nullopt);
  CHECK(channel_group("huddle:", "huddle:{07215}:ch") == std::nullopt); // fuzzing found it
  CHECK(channel_group("huddle:", "huddle:{-7}:ch") == std::nullopt);
}
