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
  REQUIRE(r.options->url_templates.size() == 1);
  CHECK(r.options->url_templates[0].host == "127.0.0.1");
  CHECK(r.options->url_templates[0].port == 8080);
  CHECK(r.options->url == "ws://127.0.0.1:8080/ws/{group}");
}

TEST_CASE("one --url is one endpoint, named as given") {
  auto r = parse({"--url", "ws://localhost:9000/ws/{group}"});
  REQUIRE(r.options);
  REQUIRE(r.options->url_templates.size() == 1);
  CHECK(r.options->url_templates[0].port == 9000);
  CHECK(r.options->url == "ws://localhost:9000/ws/{group}");
}

TEST_CASE("several endpoints: --url repeated, comma-separated, or both, in order") {
  auto repeated =
      parse({"--url", "ws://127.0.0.1:1/ws/{group}", "--url", "ws://127.0.0.1:2/ws/{group}"});
  REQUIRE(repeated.options);
  REQUIRE(repeated.options->url_templates.size() == 2);
  CHECK(repeated.options->url_templates[0].port == 1);
  CHECK(repeated.options->url_templates[1].port == 2);
  CHECK(repeated.options->url == "ws://127.0.0.1:1/ws/{group},ws://127.0.0.1:2/ws/{group}");

  auto mixed = parse({"--url", "ws://a:1/ws/{group},ws://b:2/x/{group}", "--url=ws://c:3/{group}"});
  REQUIRE(mixed.options);
  REQUIRE(mixed.options->url_templates.size() == 3);
  CHECK(mixed.options->url_templates[0].host == "a");
  CHECK(mixed.options->url_templates[1].target(7, "") == "/x/7");
  CHECK(mixed.options->url_templates[2].host_header() == "c:3");
  CHECK(mixed.options->url == "ws://a:1/ws/{group},ws://b:2/x/{group},ws://c:3/{group}");
}

TEST_CASE("split_urls keeps order and refuses empty URLs") {
  std::string error;
  auto urls = split_urls({"a,b", "c"}, error);
  REQUIRE(urls);
  CHECK(*urls == std::vector<std::string>{"a", "b", "c"});
  for (auto const& bad : {"a,,b", "a,", ",a", ""}) {
    CAPTURE(bad);
    error.clear();
    CHECK_FALSE(split_urls({bad}, error));
    CHECK(error.find("empty URL") != std::string::npos);
  }
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
           // every endpoint is checked, not only the first
           {{"--url", "ws://h:1/ws/{group},http://h:2/ws/{group}"}, "--url"},
           {{"--url", "ws://h:1/ws/{group}", "--url", "ws://h:0/ws/{group}"}, "--url"},
           {{"--groups", "3", "--url", "ws://h:1/ws/{group},ws://h:2/ws/1"}, "--url"},
           {{"--url", "ws://h:1/ws/{group},"}, "--url"},
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

TEST_CASE("durations and sizes take the server's format; --help shows the defaults in it") {
  auto r = parse({"--duration", "2.5s", "--warmup", "250ms", "--drain", "1m", "--settle", "0",
                  "--connect-timeout", "3", "--churn-hold", "100ms:1.5s", "--size", "1KiB"});
  REQUIRE(r.options);
  CHECK(r.options->duration_s == 2.5);
  CHECK(r.options->warmup_s == doctest::Approx(0.25));
  CHECK(r.options->drain_s == 60.0);
  CHECK(r.options->settle_s == 0.0);
  CHECK(r.options->connect_timeout_s == 3.0);
  CHECK(r.options->churn_hold_min_s == doctest::Approx(0.1));
  CHECK(r.options->churn_hold_max_s == 1.5);
  CHECK(r.options->size == 1024);
  auto one = parse({"--churn-hold", "300ms"});
  REQUIRE(one.options);
  CHECK(one.options->churn_hold_min_s == one.options->churn_hold_max_s);

  auto help = parse({"--help"}).help;
  for (auto shown : {"--duration arg (=10s)", "--settle arg (=100ms)", "--size arg (=64)",
                     "--churn-hold arg (=200ms:1s)", "--payload arg (=padding)",
                     "--connect-rate arg (=5000)", "--url arg (=ws://127.0.0.1:8080/ws/{group})"})
    CHECK_MESSAGE(help.find(shown) != std::string::npos, shown);

  for (auto const& bad : std::vector<std::vector<std::string>>{{"--duration", "-1"},
                                                               {"--warmup", "1e3"},
                                                               {"--settle", "0.5ms"},
                                                               {"--churn-hold", "1s:soon"},
                                                               {"--size", "1.5KiB"},
                                                               {"--size", "32MiB"}}) {
    auto const error = parse(bad).error;
    CAPTURE(error);
    CHECK(error.find(bad[0] + " must be") == 0);
  }
}

TEST_CASE("a scenario's values are the defaults the flags are read over") {
  auto idle = parse({"--scenario", "idle", "--groups", "2"});
  REQUIRE(idle.options);
  CHECK(idle.options->groups == 2);
  CHECK(idle.options->clients == 100);
  CHECK(idle.options->idle);
  CHECK(idle.options->warmup_s == 0);
  auto churn = parse({"--churn-hold", "1s", "--scenario", "churn"});
  REQUIRE(churn.options);
  CHECK(churn.options->churners == 10);
  CHECK(churn.options->churn_hold_min_s == 1.0);
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
  CHECK(v6->host_header() == "[::1]:81");
}

TEST_CASE("wss:// endpoints: TLS, port 443 by default, mixed with ws:// if need be") {
  auto r = parse({"--url", "wss://chat.example.org/ws/{group},ws://127.0.0.1:8080/ws/{group}"});
  REQUIRE(r.options);
  REQUIRE(r.options->url_templates.size() == 2);
  auto const& tls = r.options->url_templates[0];
  CHECK(tls.tls);
  CHECK(tls.port == 443);
  CHECK(tls.host_header() == "chat.example.org");
  CHECK(tls.target(4, "echo=1") == "/ws/4?echo=1");
  CHECK_FALSE(r.options->url_templates[1].tls);
  CHECK(r.options->ca_file.empty());
  CHECK_FALSE(r.options->insecure);
}

TEST_CASE("--ca-file and --insecure, one or the other") {
  auto ca = parse({"--url", "wss://localhost:8443/ws/{group}", "--ca-file", "/etc/ca.pem"});
  REQUIRE(ca.options);
  CHECK(ca.options->ca_file == "/etc/ca.pem");
  auto insecure = parse({"--url", "wss://localhost:8443/ws/{group}", "--insecure"});
  REQUIRE(insecure.options);
  CHECK(insecure.options->insecure);
  auto both = parse({"--ca-file", "/etc/ca.pem", "--insecure"});
  CHECK_FALSE(both.options);
  CHECK(both.error.find("--insecure") != std::string::npos);
  auto empty = parse({"--ca-file", ""});
  CHECK_FALSE(empty.options);
  CHECK(empty.error.find("--ca-file") != std::string::npos);
}

TEST_CASE("a bad --url says what is wrong with it") {
  struct Case {
    std::string url;
    std::string says;
  };
  for (auto const& c : {Case{"http://h/ws/{group}", "not ws or wss"},
                        Case{"ws://h:99999/ws/{group}", "port \"99999\""},
                        Case{"ws://alice:pw@h/ws/{group}", "user information"},
                        // a position counts {group} as written
                        Case{"ws://h/ws/{group}/a b", "position 20"}}) {
    auto const r = parse({"--url", c.url});
    CAPTURE(r.error);
    CHECK_FALSE(r.options);
    CHECK(r.error.find("--url: '" + c.url + "' ") == 0);
    CHECK(r.error.find(c.says) != std::string::npos);
  }
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

TEST_CASE("--payload json and --deflate: off by default, json needs room for its fields") {
  auto off = parse({});
  REQUIRE(off.options);
  CHECK(off.options->payload == PayloadKind::padding);
  CHECK_FALSE(off.options->deflate);
  auto r = parse({"--scenario", "fanout", "--payload", "json", "--size", "600", "--deflate"});
  REQUIRE(r.options);
  CHECK(r.options->payload == PayloadKind::json);
  CHECK(r.options->size == 600);
  CHECK(r.options->deflate);
  auto padding = parse({"--payload", "padding", "--size", "8"});
  REQUIRE(padding.options);
  CHECK(padding.options->payload == PayloadKind::padding);

  // The fanout preset's 64 bytes cannot hold a document: said, not silently grown.
  auto small = parse({"--scenario", "fanout", "--payload", "json"});
  CHECK_FALSE(small.options);
  CHECK(small.error.find("--size") != std::string::npos);
  CHECK(small.error.find(std::to_string(k_json_payload_min_size)) != std::string::npos);
  CHECK(parse({"--payload", "json", "--size", std::to_string(k_json_payload_min_size)}).options);
  auto unknown = parse({"--payload", "xml"});
  CHECK_FALSE(unknown.options);
  CHECK(unknown.error.find("--payload") != std::string::npos);
  CHECK(unknown.error.find("json") != std::string::npos);
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
  CHECK(r.help.find("--ca-file") != std::string::npos);
  CHECK(r.help.find("--insecure") != std::string::npos);
  CHECK(r.help.find("--deflate") != std::string::npos);
  CHECK(r.help.find("--payload") != std::string::npos);
}
