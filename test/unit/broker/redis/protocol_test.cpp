// RESP2 without sockets: commands encoded, replies decoded by hiredis's reader from bytes fed
// in pieces, the Reply accessors, and the pub/sub rules a subscriber connection follows.
#include "broker/redis/error.hpp"
#include "broker/redis/protocol.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace huddle::broker::redis;

namespace {

// Every reply `bytes` holds, fed `step` bytes at a time.
std::vector<Reply> read_all(std::string_view bytes, std::size_t step) {
  ReplyReader reader;
  std::vector<Reply> replies;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    reader.feed(bytes.substr(at, step));
    while (auto reply = reader.next())
      replies.push_back(std::move(*reply));
  }
  REQUIRE_FALSE(reader.failed());
  return replies;
}

Reply string(std::string text) {
  return Reply{Reply::Type::string, std::move(text), 0, {}};
}
Reply integer(std::int64_t value) {
  return Reply{Reply::Type::integer, {}, value, {}};
}
Reply array(std::vector<Reply> elements) {
  return Reply{Reply::Type::array, {}, 0, std::move(elements)};
}

} // namespace

TEST_CASE("commands are arrays of bulk strings, any bytes in them") {
  std::string wire;
  append_command(wire, {"SET", "key", "value"});
  CHECK(wire == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
  wire.clear();
  append_command(wire, {"ECHO", std::string("a\r\n\0b", 5), ""});
  constexpr char expected[] = "*3\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n$0\r\n\r\n";
  CHECK(wire == std::string(expected, sizeof expected - 1));
  // Appends: a pipeline is commands back to back.
  append_command(wire, {"PING"});
  CHECK(wire.ends_with("\r\n*1\r\n$4\r\nPING\r\n"));
}

TEST_CASE("make_command: strings, views, literals and integers") {
  std::string owned = "moved";
  const std::string key = "key";
  CHECK(make_command("SET", key, std::string_view("view"), 42, -7LL,
                     std::uint64_t{18446744073709551615u}, std::move(owned)) ==
        Command{"SET", "key", "view", "42", "-7", "18446744073709551615", "moved"});
  CHECK(make_command().empty());
}

TEST_CASE("every reply type, whole or split at every byte") {
  const std::string bytes = "+OK\r\n"
                            "-ERR unknown command 'FOO'\r\n"
                            ":-42\r\n"
                            "$5\r\nhe\r\no\r\n"
                            "$0\r\n\r\n"
                            "$-1\r\n"
                            "*-1\r\n"
                            "*0\r\n"
                            "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n*1\r\n*1\r\n+deep\r\n"
                            ":9223372036854775807\r\n";
  for (std::size_t step : {bytes.size(), std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
    CAPTURE(step);
    const auto replies = read_all(bytes, step);
    REQUIRE(replies.size() == 10);
    CHECK(replies[0] == Reply{Reply::Type::status, "OK", 0, {}});
    CHECK(replies[1] == Reply{Reply::Type::error, "ERR unknown command 'FOO'", 0, {}});
    CHECK(replies[2] == integer(-42));
    CHECK(replies[3] == string("he\r\no"));
    CHECK(replies[4] == string(""));
    CHECK(replies[5].type == Reply::Type::nil);
    CHECK(replies[6].type == Reply::Type::nil); // a null array
    CHECK(replies[7] == array({}));
    CHECK(replies[8] == array({integer(1), array({string("a"), Reply{}}),
                               array({array({Reply{Reply::Type::status, "deep", 0, {}}})})}));
    CHECK(replies[9] == integer(INT64_MAX));
  }
}

TEST_CASE("a reply is not returned before its last byte") {
  ReplyReader reader;
  reader.feed("*2\r\n$3\r\nfoo\r\n$3\r\nba");
  CHECK_FALSE(reader.next());
  reader.feed("r\r");
  CHECK_FALSE(reader.next());
  reader.feed("\n:1");
  CHECK(reader.next() == array({string("foo"), string("bar")}));
  CHECK_FALSE(reader.next());
  reader.feed("\r\n");
  CHECK(reader.next() == integer(1));
  CHECK_FALSE(reader.failed());
}

TEST_CASE("bytes that are not RESP fail the reader, for good") {
  ReplyReader reader;
  reader.feed("+OK\r\nHTTP/1.1 400 Bad Request\r\n");
  CHECK(reader.next() == Reply{Reply::Type::status, "OK", 0, {}});
  CHECK_FALSE(reader.next());
  REQUIRE(reader.failed());
  CHECK(reader.error().find("Protocol error") != std::string::npos);
  reader.feed("+OK\r\n");
  CHECK_FALSE(reader.next());

  // RESP3 is not spoken here (no HELLO 3): its map type is an error too.
  ReplyReader resp3;
  resp3.feed("%1\r\n+a\r\n:1\r\n");
  CHECK_FALSE(resp3.next());
  CHECK(resp3.failed());
}

TEST_CASE("as_integer and as_string name what they expected and what came") {
  CHECK(integer(7).as_integer() == 7);
  CHECK(string("v").as_string() == "v");
  CHECK(Reply{Reply::Type::status, "OK", 0, {}}.as_string() == "OK");
  CHECK_THROWS_WITH_AS(string("7").as_integer(), "redis: expected an integer reply, got string",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(Reply{}.as_string(), "redis: expected a string reply, got nil",
                       std::runtime_error);
  const Reply refused{Reply::Type::error, "WRONGTYPE Operation against a key", 0, {}};
  CHECK(refused.is_error());
  CHECK_THROWS_WITH_AS(refused.as_integer(), "redis: WRONGTYPE Operation against a key",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(refused.as_string(), "redis: WRONGTYPE Operation against a key",
                       std::runtime_error);
  CHECK_FALSE(integer(1).is_error());
}

TEST_CASE("publications: message, pmessage and smessage; nothing else") {
  const auto message = array({string("message"), string("ch"), string("hi")});
  auto publication = as_publication(message);
  REQUIRE(publication);
  CHECK(publication->channel == "ch");
  CHECK(publication->payload == "hi");
  const auto pmessage = array({string("pmessage"), string("c*"), string("ch"), string("hi")});
  publication = as_publication(pmessage);
  REQUIRE(publication);
  CHECK(publication->channel == "ch");
  CHECK(publication->payload == "hi");
  const auto smessage = array({string("smessage"), string("ch"), string("x")});
  CHECK(as_publication(smessage));

  // Not publications. (Each is bound to a name: views into a temporary do not compile.)
  for (const Reply& other :
       {array({string("subscribe"), string("ch"), integer(1)}),
        array({string("message"), string("ch")}),
        array({string("message"), string("ch"), integer(1)}), array({}), string("message")}) {
    CAPTURE(other.elements.size());
    CHECK_FALSE(as_publication(other));
  }
}

TEST_CASE("replies a command gets on a subscriber connection") {
  CHECK(subscriber_replies({"SUBSCRIBE", "a", "b", "c"}) == 3);
  CHECK(subscriber_replies({"psubscribe", "a*"}) == 1);
  CHECK(subscriber_replies({"SUBSCRIBE"}) == 1); // Redis's arity error
  CHECK(subscriber_replies({"Unsubscribe", "a", "b"}) == 2);
  CHECK(subscriber_replies({"UNSUBSCRIBE"}) == k_until_pong);
  CHECK(subscriber_replies({"PUNSUBSCRIBE"}) == k_until_pong);
  CHECK(subscriber_replies({"PING"}) == 1);
  CHECK(subscriber_replies({}) == 1);

  CHECK(is_pong(Reply{Reply::Type::status, "PONG", 0, {}}));
  CHECK(is_pong(array({string("pong"), string("")})));
  CHECK_FALSE(is_pong(array({string("unsubscribe"), Reply{}, integer(0)})));
  CHECK_FALSE(is_pong(Reply{Reply::Type::status, "OK", 0, {}}));
}

TEST_CASE("error codes read well and compare as codes") {
  const boost::system::error_code ec = error::timeout;
  CHECK(ec == error::timeout);
  CHECK(ec != error::connection_lost);
  CHECK(std::string(ec.category().name()) == "huddle.redis");
  CHECK(ec.message() == "Redis did not reply in time");
  CHECK(boost::system::error_code(error::not_connected).message() == "not connected to Redis");
}
