// Unit tests of protocol v1 (src/core/protocol.{hpp,cpp}, and Message's frame from
// src/core/message.cpp): the exact server frames, their escaping, and how client text frames
// are read (plain text, JSON message frames, and the errors that do not close the socket).
#include "core/protocol.hpp"

#include <huddle/message.hpp>

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace {

namespace json = boost::json;
namespace protocol = huddle::protocol;
using protocol::ClientMessage;
using protocol::FrameError;

// Text that needs escaping in JSON, and multi-byte UTF-8 that must pass through unchanged.
const std::string k_awkward =
    "say \"hi\"\nback\\slash\ttab \x01 caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x91\x8b";

// Parses strictly (boost::json rejects invalid JSON and invalid UTF-8).
json::object parse(const std::string& frame) {
  boost::system::error_code ec;
  json::value value = json::parse(frame, ec);
  INFO("frame: ", frame);
  REQUIRE_FALSE(ec);
  REQUIRE(value.is_object());
  return value.as_object();
}

ClientMessage message_of(std::string_view frame) {
  auto parsed = protocol::parse_client_frame(frame);
  const auto* error = std::get_if<FrameError>(&parsed);
  INFO("frame: ", std::string(frame),
       ", error: ", error ? std::string(protocol::info(error->code).wire) : "none");
  REQUIRE(std::holds_alternative<ClientMessage>(parsed));
  return std::get<ClientMessage>(parsed);
}

std::string error_of(std::string_view frame) {
  auto parsed = protocol::parse_client_frame(frame);
  INFO("frame: ", std::string(frame));
  REQUIRE(std::holds_alternative<FrameError>(parsed));
  const auto& error = std::get<FrameError>(parsed);
  CHECK_FALSE(error.detail.empty());
  return std::string(protocol::info(error.code).wire);
}

} // namespace

TEST_CASE("server frames are the exact JSON of protocol v1") {
  CHECK(protocol::encode_message(7, 42, "alice", "hi", 1764000000123) ==
        R"({"type":"message","group":7,"id":42,"from":"alice","text":"hi","ts":1764000000123})");
  CHECK(
      protocol::encode_welcome(7, "alice", 41, "e1", {"bob"}) ==
      R"({"type":"welcome","group":7,"user":"alice","last_id":41,"epoch":"e1","members":["bob"]})");
  CHECK(protocol::encode_welcome(7, "alice", 0, "e1", {}) ==
        R"({"type":"welcome","group":7,"user":"alice","last_id":0,"epoch":"e1","members":[]})");
  CHECK(protocol::encode_welcome(1, "a", 3, "e2", {"b", "c"}) ==
        R"({"type":"welcome","group":1,"user":"a","last_id":3,"epoch":"e2","members":["b","c"]})");
  CHECK(
      protocol::encode_welcome(1, "a", 3, "e", {}, protocol::Replay::truncated) ==
      R"({"type":"welcome","group":1,"user":"a","last_id":3,"epoch":"e","members":[],"truncated":true})");
  CHECK(
      protocol::encode_welcome(1, "a", 3, "e", {}, protocol::Replay::complete) ==
      R"({"type":"welcome","group":1,"user":"a","last_id":3,"epoch":"e","members":[],"truncated":false})");
  CHECK(
      protocol::encode_welcome(1, "a", 3, "e", {}, protocol::Replay::reset) ==
      R"({"type":"welcome","group":1,"user":"a","last_id":3,"epoch":"e","members":[],"reset":true})");
  CHECK(protocol::encode_presence("join", 7, "bob") == R"({"type":"join","group":7,"user":"bob"})");
  CHECK(protocol::encode_presence("leave", 7, "bob") ==
        R"({"type":"leave","group":7,"user":"bob"})");
  CHECK(protocol::encode_ack(std::string("c1"), 42) == R"({"type":"ack","ref":"c1","id":42})");
  CHECK(protocol::encode_ack(std::nullopt, 42) == R"({"type":"ack","id":42})");
  CHECK(protocol::encode_error(protocol::Error::empty_text, "a message needs some text") ==
        R"({"type":"error","code":"empty_text","detail":"a message needs some text"})");
  CHECK(protocol::encode_error(protocol::Error::history_unavailable, "later", std::string("c2")) ==
        R"({"type":"error","code":"history_unavailable","ref":"c2","detail":"later"})");
  CHECK(
      protocol::encode_error(protocol::Error::rate_limited, "slow down", std::string("c3"), 250) ==
      R"({"type":"error","code":"rate_limited","ref":"c3","detail":"slow down","retry_after_ms":250})");
  CHECK(protocol::encode_error(protocol::Error::rate_limited, "slow down", std::nullopt, 1) ==
        R"({"type":"error","code":"rate_limited","detail":"slow down","retry_after_ms":1})");
}

TEST_CASE("ids, groups and timestamps keep their full 64-bit range") {
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  const auto message = parse(protocol::encode_message(k_max, k_max - 1, "a", "b", k_max - 2));
  CHECK(message.at("group").as_int64() == k_max);
  CHECK(message.at("id").as_int64() == k_max - 1);
  CHECK(message.at("ts").as_int64() == k_max - 2);
  const auto welcome = parse(protocol::encode_welcome(k_max, "a", k_max, "e", {}));
  CHECK(welcome.at("last_id").as_int64() == k_max);
  CHECK(parse(protocol::encode_ack("r", k_max)).at("id").as_int64() == k_max);
}

TEST_CASE("text and names are escaped, and read back unchanged") {
  const std::string name = "o'\"neil\"\n\xc3\xa9";

  const auto message_frame = protocol::encode_message(1, 2, name, k_awkward, 3);
  // One line of JSON: the newline and the control characters are escaped, not raw.
  CHECK(message_frame.find('\n') == std::string::npos);
  CHECK(message_frame.find('\t') == std::string::npos);
  CHECK(message_frame.find('\x01') == std::string::npos);
  CHECK(message_frame.find(R"(say \"hi\"\nback\\slash\ttab \u0001)") != std::string::npos);
  const auto message = parse(message_frame);
  CHECK(message.at("from").as_string() == name);
  CHECK(message.at("text").as_string() == k_awkward);

  const auto welcome = parse(protocol::encode_welcome(1, name, 0, "e", {k_awkward, "b\"ob"}));
  CHECK(welcome.at("user").as_string() == name);
  CHECK(welcome.at("members") == json::array{json::string(k_awkward), "b\"ob"});

  CHECK(parse(protocol::encode_presence("join", 1, name)).at("user").as_string() == name);
  CHECK(parse(protocol::encode_ack(k_awkward, 1)).at("ref").as_string() == k_awkward);
  const auto error = parse(protocol::encode_error(protocol::Error::unknown_type, k_awkward));
  CHECK(error.at("detail").as_string() == k_awkward);
}

TEST_CASE("a Message carries its protocol frame, which keeps it alive") {
  huddle::Frame frame;
  {
    const auto message = huddle::Message::make(7, 42, {"alice", k_awkward, 1764000000123});
    CHECK(message->group() == 7);
    CHECK(message->id() == 42);
    CHECK(message->from() == "alice");
    CHECK(message->text() == k_awkward);
    CHECK(message->ts_ms() == 1764000000123);
    frame = message->frame();
    CHECK(message->frame().get() == frame.get()); // encoded once, shared
    CHECK(*frame == protocol::encode_message(7, 42, "alice", k_awkward, 1764000000123));
  }
  // The Message is gone from this scope; the frame still owns it.
  const auto object = parse(*frame);
  CHECK(object.at("type") == "message");
  CHECK(object.at("text").as_string() == k_awkward);
  CHECK(huddle::now_ms() > 1'600'000'000'000); // a real epoch time in milliseconds
}

namespace {
std::atomic<int> compressions{0};
std::string reversed(std::string_view text) { // a stand-in for deflate, counted
  compressions.fetch_add(1);
  return std::string(text.rbegin(), text.rend());
}
} // namespace

TEST_CASE("a frame's compressed form is made once and shared by every recipient") {
  const auto message = huddle::Message::make(7, 42, {"alice", "hello", 1764000000123});
  const huddle::Frame frame = message->frame();
  const huddle::Frame copy = frame; // what a second recipient's queue holds
  compressions = 0;
  std::vector<std::thread> recipients;
  std::vector<const std::string*> seen(8);
  for (std::size_t i = 0; i < seen.size(); ++i)
    recipients.emplace_back(
        [&, i] { seen[i] = &(i % 2 ? copy : frame).body().deflated(&reversed); });
  for (std::thread& recipient : recipients)
    recipient.join();
  CHECK(compressions >= 1); // racing recipients may each compress; one result is kept
  for (const std::string* deflated : seen)
    CHECK(deflated == seen[0]);
  CHECK(*seen[0] == std::string(frame->rbegin(), frame->rend()));
  compressions = 0;
  CHECK(&message->frame().body().deflated(&reversed) == seen[0]);
  CHECK(compressions == 0); // kept: later recipients do not compress again
  // Frames made for one recipient (acks, errors) have room for it too.
  const huddle::Frame ack = huddle::make_frame("ack");
  CHECK(ack.body().deflated(&reversed) == "kca");
  CHECK(compressions == 1);
}

TEST_CASE("a text frame that is not a JSON object is the text of a message") {
  for (const std::string_view plain :
       {"hello", "  hello  ", "\"hi\"", "42", "[1,2]", "null", "true", "hi {\"type\":\"x\"}",
        "caf\xc3\xa9 \xf0\x9f\x91\x8b", "line\nbreak"}) {
    CAPTURE(plain);
    const auto message = message_of(plain);
    CHECK(message.text == plain);
    CHECK_FALSE(message.ref.has_value());
  }
}

TEST_CASE("a text frame that starts like JSON but does not parse is the text of a message") {
  for (const std::string_view broken : {"{", "{not json", "{\"type\":\"message\",\"text\":\"hi\"",
                                        "{\"text\":\"hi\"} trailing", "{}}"}) {
    CAPTURE(broken);
    const auto message = message_of(broken);
    CHECK(message.text == broken);
    CHECK_FALSE(message.ref.has_value());
  }
}

TEST_CASE("a JSON message frame gives its text and ref") {
  auto message = message_of(R"({"type":"message","text":"hi","ref":"c1"})");
  CHECK(message.text == "hi");
  REQUIRE(message.ref.has_value());
  CHECK(*message.ref == "c1");

  message = message_of(R"({"type":"message","text":"hi"})");
  CHECK(message.text == "hi");
  CHECK_FALSE(message.ref.has_value());

  // Whitespace around it, other key order, unknown extra keys.
  message = message_of(
      " \r\n\t{ \"ref\" : \"r\", \"extra\": [1], \"text\":\"x\", \"type\":\"message\" } ");
  CHECK(message.text == "x");
  CHECK(message.ref == std::optional<std::string>("r"));

  // JSON escapes in the text are decoded.
  message = message_of(R"({"type":"message","text":"a\"b\nc\u00e9\ud83d\udc4b"})");
  CHECK(message.text == "a\"b\nc\xc3\xa9\xf0\x9f\x91\x8b");

  // A frame the server encodes reads back the same.
  message = message_of(json::serialize(json::object{{"type", "message"}, {"text", k_awkward}}));
  CHECK(message.text == k_awkward);
  message =
      message_of(json::serialize(json::object{{"type", "message"}, {"text", "t"}, {"ref", ""}}));
  CHECK(message.ref == std::optional<std::string>(""));
}

TEST_CASE("protocol errors in a JSON frame are named") {
  CHECK(error_of(R"({"type":"typing"})") == "unknown_type");
  CHECK(error_of(R"({"type":"Message","text":"hi"})") == "unknown_type");
  CHECK(error_of(R"({"type":"welcome","text":"hi"})") == "unknown_type");

  CHECK(error_of(R"({"text":"hi"})") == "missing_type");
  CHECK(error_of(R"({})") == "missing_type");
  CHECK(error_of(R"({"type":5,"text":"hi"})") == "missing_type");
  CHECK(error_of(R"({"type":null,"text":"hi"})") == "missing_type");

  CHECK(error_of(R"({"type":"message"})") == "missing_text");
  CHECK(error_of(R"({"type":"message","text":5})") == "missing_text");
  CHECK(error_of(R"({"type":"message","text":null})") == "missing_text");
  CHECK(error_of(R"({"type":"message","text":["hi"]})") == "missing_text");

  CHECK(error_of(R"({"type":"message","text":""})") == "empty_text");
  CHECK(error_of("") == "empty_text");

  CHECK(error_of(R"({"type":"message","text":"hi","ref":1})") == "bad_ref");
  CHECK(error_of(R"({"type":"message","text":"hi","ref":null})") == "bad_ref");
  CHECK(error_of(R"({"type":"message","text":"hi","ref":{"id":"c1"}})") == "bad_ref");
}

TEST_CASE("an error frame names the problem the parser found") {
  auto parsed = protocol::parse_client_frame(R"({"type":"typing"})");
  REQUIRE(std::holds_alternative<FrameError>(parsed));
  const auto& error = std::get<FrameError>(parsed);
  const auto frame = parse(protocol::encode_error(error.code, error.detail));
  CHECK(frame.at("type") == "error");
  CHECK(frame.at("code") == "unknown_type");
  CHECK(frame.at("detail").as_string() == error.detail);
  CHECK(error.detail.find("typing") != std::string::npos); // says which type was unknown
}
