// HTTP answers before any upgrade: /healthz, 404, 426, 400 for a bad group id / name /
// echo, 503 over max_connections; every error is JSON {"error", "detail"}.
#include "test_server.hpp"
#include "ws_client.hpp"

#include <doctest/doctest.h>

using namespace huddle::test;

namespace {

// The answer must be `status` with a JSON error body whose "error" is `code`.
void check_json_error(const HttpAnswer& answer, unsigned status, const std::string& code) {
  REQUIRE_MESSAGE(!answer.ec, answer.ec.message());
  CHECK(answer.status() == status);
  CHECK(answer.response[http::field::content_type].starts_with("application/json"));
  REQUIRE_MESSAGE(answer.body.has_value(), "not a JSON object: " << answer.response.body());
  CHECK(str(*answer.body, "error") == code);
  CHECK(!str(*answer.body, "detail").empty());
}

} // namespace

TEST_CASE("GET /healthz answers 200 with JSON") {
  TestServer server;
  const HttpAnswer answer = http_request(server.port(), "/healthz");
  REQUIRE(!answer.ec);
  CHECK(answer.status() == 200);
  CHECK(answer.response[http::field::content_type].starts_with("application/json"));
  REQUIRE(answer.body.has_value());
  CHECK(str(*answer.body, "status") == "ok");
}

TEST_CASE("unknown paths answer 404 with a JSON error") {
  TestServer server;
  for (const char* target : {"/nope", "/api/groups/1/other", "/api", "/wss/1", "/healthz/x"}) {
    CAPTURE(target);
    check_json_error(http_request(server.port(), target), 404, "not_found");
  }
}

TEST_CASE("/ws/ID without the upgrade headers answers 426") {
  TestServer server;
  check_json_error(http_request(server.port(), "/ws/1"), 426, "upgrade_required");
  check_json_error(http_request(server.port(), "/ws/1?name=alice"), 426, "upgrade_required");
}

TEST_CASE("a bad group id is refused with 400 before the upgrade") {
  TestServer server;
  for (const char* group : {"abc", "0", "-1", "9223372036854775808", "1.5", "1e3", "", "12abc",
                            "99999999999999999999999"}) {
    CAPTURE(group);
    const std::string target = std::string("/ws/") + group;
    check_json_error(http_request(server.port(), target, true), 400, "bad_group");
  }
  // The largest group id is fine.
  WsClient client;
  client.join(server.port(), 9223372036854775807, "max");
}

TEST_CASE("a bad ?name= or ?echo= is refused with 400 before the upgrade") {
  TestServer server;
  const std::string long_name(33, 'n');
  const std::vector<std::string> bad_names = {
      "name=",    "name=" + long_name, "name=a%0Ab", "name=%7F",
      "name=%FF", "name=%C3",          "name=%ZZ",   "name=%"};
  for (const std::string& query : bad_names) {
    CAPTURE(query);
    check_json_error(http_request(server.port(), "/ws/1?" + query, true), 400, "bad_name");
  }
  for (const char* query : {"echo=2", "echo=", "echo=yes", "name=ok&echo=true"}) {
    CAPTURE(query);
    check_json_error(http_request(server.port(), std::string("/ws/1?") + query, true), 400,
                     "bad_echo");
  }
  // 32 characters (not bytes) is the longest name; spaces and non-ASCII are printable.
  WsClient longest, spaced;
  longest.join(server.port(), 1, std::string(32, 'x'));
  REQUIRE(!spaced.connect(server.port(), "/ws/1?name=%C3%A9l%C3%A8ve+%E2%9C%93&echo=1"));
  CHECK(str(spaced.expect("welcome"), "user") == "\u00e9l\u00e8ve \u2713");
}

TEST_CASE("over max_connections, upgrades get 503 while HTTP routes still answer") {
  huddle::ServerConfig config;
  config.max_connections = 2;
  TestServer server(config);
  auto first = std::make_unique<WsClient>();
  WsClient second;
  first->join(server.port(), 1, "first");
  second.join(server.port(), 1, "second");

  check_json_error(http_request(server.port(), "/ws/1?name=third", true), 503,
                   "too_many_connections");
  WsClient refused;
  CHECK(refused.connect(server.port(), "/ws/1?name=third"));
  CHECK(refused.response().result_int() == 503);

  const HttpAnswer health = http_request(server.port(), "/healthz");
  CHECK(health.status() == 200);

  // A slot comes back when a connection ends.
  REQUIRE(!first->close());
  first.reset();
  REQUIRE(TestServer::eventually([&] { return server.server().session_count() < 2; }));
  WsClient third;
  third.join(server.port(), 1, "third");
  CHECK(server.member_count(1) == 2);
}
