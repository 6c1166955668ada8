#include "load/options.hpp"

#include <doctest/doctest.h>

using namespace huddle::load;

namespace {

ParseResult parse(std::vector<std::string> args) {
  return parse_options(args);
}

} // namespace

TEST_CASE("defaults parse and validate") {
  auto r = parse({});
  REQUIRE(r.options);
  CHECK(r.error.empty());
  CHECK(r.options->url_template.host == "127.0.0.1");
  CHECK(r.options->url_template.port == 8080);
}

TEST_CASE("a scenario sets defaults that later flags override") {
  auto r = parse({"--scenario", "fanout", "--clients", "50"});
  REQUIRE(r.options);
  CHECK(r.options->groups == 1);
  CHECK(r.options->senders == 4);
  CHECK(r.options->clients == 50);
  CHECK(r.options->closed_loop());
  auto rooms = parse({"--scenario=rooms"});
  REQUIRE(rooms.options);
  CHECK(rooms.options->connections() == 1000);
  CHECK(rooms.options->rate == 5);
}

TEST_CASE("bad input gives one line naming the flag") {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  for (auto const& c : std::vector<Case>{
           {{"--clients", "0"}, "--clients"},
           {{"--clients", "-3"}, "--clients"},
           {{"--groups", "x"}, "--groups"},
           {{"--rate", "-1"}, "--rate"},
           {{"--duration", "0"}, "--duration"},
           {{"--warmup", "soon"}, "--warmup"},
           {{"--url", "http://h/ws"}, "--url"},
           {{"--url", "ws://h:99999/ws/{group}"}, "--url"},
           {{"--groups", "3", "--url", "ws://h:1/ws/1"}, "--url"},
           {{"--senders", "11"}, "--senders"},
           {{"--scenario", "fast"}, "--scenario"},
           {{"--threads", "0"}, "--threads"},
           {{"--nope"}, "--nope"},
           {{"--clien", "3"}, "--clien"}, // no guessing of abbreviations
           {{"--drop-every", "often"}, "--drop-every"},
           {{"--drop-every", "1ms"}, "--drop-every"},
       }) {
    auto const r = parse(c.args);
    CAPTURE(c.flag);
    CHECK_FALSE(r.options);
    CHECK(r.error.find(c.flag) != std::string::npos);
    CHECK(r.error.find('\n') == std::string::npos);
  }
}

TEST_CASE("durations accept s, ms and m") {
  CHECK(parse_duration("10") == 10.0);
  CHECK(parse_duration("2.5s") == 2.5);
  CHECK(parse_duration("250ms") == doctest::Approx(0.25));
  CHECK(parse_duration("2m") == 120.0);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("-1"));
  CHECK_FALSE(parse_duration("ms"));
}

TEST_CASE("targets substitute the group and carry the query") {
  std::string error;
  auto url = parse_url_template("ws://localhost:9000/ws/{group}", error);
  REQUIRE(url);
  CHECK(url->host_header() == "localhost:9000");
  CHECK(url->target(7, "") == "/ws/7");
  Options o;
  o.token = "a b&c";
  o.echo = true;
  o.query = "name=x";
  CHECK(url->target(7, o.query_string()) == "/ws/7?token=a%20b%26c&echo=1&name=x");
  auto v6 = parse_url_template("ws://[::1]:81/g/{group}/{group}", error);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->target(3, "") == "/g/3/3");
}

TEST_CASE("--drop-every takes a duration, off by default") {
  auto off = parse({});
  REQUIRE(off.options);
  CHECK(off.options->drop_every_s == 0);
  auto r = parse({"--drop-every", "500ms"});
  REQUIRE(r.options);
  CHECK(r.options->drop_every_s == doctest::Approx(0.5));
  auto zero = parse({"--drop-every", "0"});
  REQUIRE(zero.options);
  CHECK(zero.options->drop_every_s == 0);
}

TEST_CASE("a reconnect's query carries since=, replacing any the user gave") {
  CHECK(query_with_since("", 41) == "since=41");
  CHECK(query_with_since("token=t&echo=1", 0) == "token=t&echo=1&since=0");
  CHECK(query_with_since("since=0&name=x", 7) == "name=x&since=7");
  CHECK(query_with_since("name=x&since=3&echo=1", 9) == "name=x&echo=1&since=9");
  CHECK(query_with_since("sincere=1&since", 2) == "sincere=1&since=2");
  CHECK(query_with_since("a=1&&b=2&", 5) == "a=1&b=2&since=5");
}

TEST_CASE("help is returned, not printed") {
  auto r = parse({"--help"});
  CHECK_FALSE(r.options);
  CHECK(r.error.empty());
  CHECK(r.help.find("--connect-rate") != std::string::npos);
  CHECK(r.help.find("--drop-every") != std::string::npos);
}
