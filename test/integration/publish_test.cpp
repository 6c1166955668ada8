// The publish API and the admin's rights (issue 14) over real sockets: a backend's POST
// /api/groups/{id}/messages reaches the members as a member's message would, an
// Idempotency-Key makes a retry answer with the first id, every refusal has its status, and
// an admin (only) lists a group's connections and closes a user's. One test publishes on a
// node of two sharing a Redis (test/redis_server.hpp).
#include "redis_server.hpp"
#include "test_server.hpp"
#include "ws_client.hpp"

#include "auth/password.hpp"
#include "auth/secret_file.hpp"
#include "auth/token.hpp"
#include "store/account_store.hpp"
#include "store/sqlite.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace huddle;
using namespace huddle::test;
using namespace std::chrono_literals;

// Named, not anonymous: the integration tests are one (unity) translation unit.
namespace publish_api {

// Alice is a member of group 7, bob its admin, carol in no group; group 8 has no one.
struct PublishFixture {
  explicit PublishFixture(ServerConfig base = {}, bool start = true) {
    {
      store::AccountStore accounts(db());
      for (const char* user : {"alice", "bob", "carol"})
        accounts.add_user(user, "not-a-hash"); // nobody logs in: tokens are made here
      accounts.add_group(7, "General");
      accounts.add_group(8, "Empty");
      accounts.grant(7, "alice", store::Role::member);
      accounts.grant(7, "bob", store::Role::admin);
    }
    base.db_path = db();
    base.auth = AuthMode::builtin;
    base.jwt_secret_file = dir.file("jwt-secret");
    config = base;
    if (start) server = std::make_unique<TestServer>(base);
  }

  std::string db() const { return dir.file("huddle.db"); }
  auth::TokenService tokens() const {
    auth::TokenConfig token_config;
    token_config.hs256_secret = auth::load_or_create_secret(dir.file("jwt-secret"));
    return auth::TokenService(token_config);
  }
  std::string token(const std::string& user) const { return tokens().issue(user).token; }
  std::string service_token(const std::string& name,
                            std::optional<std::vector<std::int64_t>> groups = std::nullopt) const {
    return tokens().issue_publisher(name, groups, 3600s).token;
  }
  std::uint16_t port() const { return server->port(); }

  // A member's WebSocket in `group`, past its welcome.
  std::unique_ptr<WsClient> member(const std::string& user, GroupId group = 7) const {
    auto client = std::make_unique<WsClient>();
    client->set_header(http::field::authorization, "Bearer " + token(user));
    const error_code ec = client->connect(port(), "/ws/" + std::to_string(group));
    REQUIRE_MESSAGE(!ec, ec.message());
    CHECK(str(client->expect("welcome"), "user") == user);
    return client;
  }

  TempDir dir;
  ServerConfig config;
  std::unique_ptr<TestServer> server;
};

struct Publish {
  Publish(std::string token_, std::string body_ = R"({"text":"hello"})",
          std::string idempotency_key_ = {}, std::string content_type_ = "application/json")
      : token(std::move(token_)), body(std::move(body_)),
        idempotency_key(std::move(idempotency_key_)), content_type(std::move(content_type_)) {}
  std::string token; // "" : no Authorization header
  std::string body;
  std::string idempotency_key;
  std::string content_type;
};

HttpAnswer publish(std::uint16_t port, GroupId group, const Publish& what) {
  HttpCall call;
  call.method = http::verb::post;
  if (!what.token.empty())
    call.headers.emplace_back(http::field::authorization, "Bearer " + what.token);
  if (!what.content_type.empty())
    call.headers.emplace_back(http::field::content_type, what.content_type);
  if (!what.idempotency_key.empty())
    call.named_headers.emplace_back("Idempotency-Key", what.idempotency_key);
  call.body = what.body;
  return http_call(port, "/api/groups/" + std::to_string(group) + "/messages", call);
}

HttpAnswer admin_call(std::uint16_t port, http::verb method, const std::string& target,
                      const std::string& token) {
  HttpCall call;
  call.method = method;
  call.headers.emplace_back(http::field::authorization, "Bearer " + token);
  return http_call(port, target, call);
}

std::string error_code_of(const HttpAnswer& answer) {
  return answer.body ? str(*answer.body, "error") : std::string("(no JSON body)");
}

} // namespace publish_api

using namespace publish_api;

TEST_CASE("publish: an admin's message reaches the members as a member's would; 201 {id}") {
  PublishFixture fixture;
  auto alice = fixture.member("alice");
  alice->send_message("first", "a1"); // id 1, so the published one is not trivially 1
  CHECK(num(alice->next_of("ack"), "id") == 1);

  const HttpAnswer answer =
      publish(fixture.port(), 7, {fixture.token("bob"), R"({"text":"deploy done","ref":"r1"})"});
  REQUIRE(answer.status() == 201);
  REQUIRE(answer.body.has_value());
  CHECK(num(*answer.body, "id") == 2);
  CHECK(str(*answer.body, "ref") == "r1");
  CHECK(answer.response[http::field::content_type] == "application/json");

  const json::object message = alice->next_of("message");
  CHECK(str(message, "from") == "bob");
  CHECK(str(message, "text") == "deploy done");
  CHECK(num(message, "id") == 2);
  CHECK(num(message, "group") == 7);
  CHECK(num(message, "ts") > 0);
  // Stored in the history like any message.
  const HttpAnswer history = admin_call(fixture.port(), http::verb::get,
                                        "/api/groups/7/messages?since=1", fixture.token("alice"));
  CHECK(history.response.body().find(R"("text":"deploy done")") != std::string::npos);
}

TEST_CASE("publish: a service token publishes as its subject, to its groups only") {
  PublishFixture fixture;
  auto alice = fixture.member("alice");
  const HttpAnswer anywhere = publish(fixture.port(), 7, {fixture.service_token("crm")});
  REQUIRE(anywhere.status() == 201);
  const json::object message = alice->next_of("message");
  CHECK(str(message, "from") == "crm");
  CHECK(num(message, "id") == num(*anywhere.body, "id"));
  CHECK(publish(fixture.port(), 8, {fixture.service_token("crm")}).status() == 201);

  const std::string only_7 = fixture.service_token("billing", std::vector<std::int64_t>{7});
  CHECK(publish(fixture.port(), 7, {only_7}).status() == 201);
  const HttpAnswer elsewhere = publish(fixture.port(), 8, {only_7});
  CHECK(elsewhere.status() == 403);
  CHECK(error_code_of(elsewhere) == "forbidden");
  // A publish right is not an admin's: no connections list.
  CHECK(admin_call(fixture.port(), http::verb::get, "/api/groups/7/connections",
                   fixture.service_token("crm"))
            .status() == 403);
}

TEST_CASE("publish: an Idempotency-Key retry gets the first id and sends nothing more") {
  PublishFixture fixture;
  auto alice = fixture.member("alice");
  const Publish first{fixture.token("bob"), R"({"text":"once","ref":"x"})", "order-1234"};
  const HttpAnswer one = publish(fixture.port(), 7, first);
  REQUIRE(one.status() == 201);
  const HttpAnswer again = publish(fixture.port(), 7, first);
  REQUIRE(again.status() == 201);
  CHECK(num(*again.body, "id") == num(*one.body, "id"));
  CHECK(str(*again.body, "ref") == "x");
  CHECK(again.response["Idempotent-Replayed"] == "true");
  CHECK(one.response.find("Idempotent-Replayed") == one.response.end());

  // The same key for other content is refused; another key is another message; the key is
  // the caller's own (a service token with the same key publishes).
  const HttpAnswer reused =
      publish(fixture.port(), 7, {fixture.token("bob"), R"({"text":"other"})", "order-1234"});
  CHECK(reused.status() == 422);
  CHECK(error_code_of(reused) == "idempotency_key_reused");
  const HttpAnswer by_crm = publish(
      fixture.port(), 7, {fixture.service_token("crm"), R"({"text":"crm's"})", "order-1234"});
  REQUIRE(by_crm.status() == 201);
  CHECK(num(*by_crm.body, "id") == num(*one.body, "id") + 1);

  // Alice got "once" once: the next message she gets is crm's.
  const json::object delivered = alice->next_of("message");
  CHECK(str(delivered, "text") == "once");
  const json::object next = alice->next_of("message");
  CHECK(str(next, "text") == "crm's");

  const HttpAnswer bad_key =
      publish(fixture.port(), 7, {fixture.token("bob"), R"({"text":"k"})", std::string(256, 'k')});
  CHECK(bad_key.status() == 400);
  CHECK(error_code_of(bad_key) == "bad_idempotency_key");
}

TEST_CASE("publish: every refusal has its status and a JSON error") {
  ServerConfig config;
  config.max_message_bytes = 1024;
  config.publish_rate = 1;
  config.publish_burst = 3;
  PublishFixture fixture(config);
  const std::string bob = fixture.token("bob");
  struct Case {
    Publish publish;
    GroupId group;
    unsigned status;
    const char* error;
  };
  const std::vector<Case> cases = {
      {{""}, 7, 401, "unauthorized"},
      {{"not.a.token"}, 7, 401, "unauthorized"},
      {{fixture.token("alice")}, 7, 403, "forbidden"}, // a member, not an admin
      {{fixture.token("carol")}, 7, 403, "forbidden"},
      {{fixture.service_token("crm")}, 99, 404, "no_such_group"},
      {{bob, "not json"}, 7, 400, "bad_request"},
      {{bob, R"(["text"])"}, 7, 400, "bad_request"},
      {{bob, R"({"ref":"r"})"}, 7, 400, "missing_text"},
      {{bob, R"({"text":""})"}, 7, 400, "empty_text"},
      {{bob, R"({"text":"x","ref":5})"}, 7, 400, "bad_ref"},
      {{bob, R"({"text":"x","from":"alice"})"}, 7, 400, "bad_from"},
      {{bob, R"({"text":"x"})", "", "text/plain"}, 7, 415, "unsupported_media_type"},
      {{bob, R"({"text":")" + std::string(1025, 'a') + R"("})"}, 7, 413, "too_big"},
      {{bob, R"({"text":")" + std::string(20'000, 'a') + R"("})"}, 7, 413, "too_big"}, // body
  };
  for (const Case& c : cases) {
    CAPTURE(c.publish.body.substr(0, 40));
    CAPTURE(c.group);
    const HttpAnswer answer = publish(fixture.port(), c.group, c.publish);
    CHECK(answer.status() == c.status);
    CHECK(error_code_of(answer) == c.error);
  }
  // Over --publish-rate (after a burst of 3): 429 with Retry-After; others are not slowed.
  unsigned limited = 0;
  for (int i = 0; i < 5; ++i) {
    const HttpAnswer answer = publish(fixture.port(), 7, {bob});
    if (answer.status() == 429) {
      ++limited;
      CHECK(error_code_of(answer) == "rate_limited");
      CHECK_FALSE(answer.response[http::field::retry_after].empty());
    }
  }
  CHECK(limited >= 2);
  CHECK(publish(fixture.port(), 7, {fixture.service_token("crm")}).status() == 201);
  // Other methods on the admin routes.
  CHECK(admin_call(fixture.port(), http::verb::post, "/api/groups/7/connections", bob).status() ==
        405);
  CHECK(admin_call(fixture.port(), http::verb::get, "/api/groups/7/members/alice", bob).status() ==
        405);
}

// Alice in group 7 of a history that takes one unstored message at most, while another
// program holds the file's write lock so that commits wait: a publish is sent but not stored
// (within a 1.5 s deadline) until release().
struct StalledHistory {
  static ServerConfig config() {
    ServerConfig config;
    config.history_queue_limit = 1;
    config.handshake_timeout = 1500ms;
    return config;
  }
  StalledHistory() { store::exec(other.get(), "BEGIN IMMEDIATE"); }
  void release() { store::exec(other.get(), "ROLLBACK"); }

  PublishFixture fixture{config()};
  std::unique_ptr<WsClient> alice = fixture.member("alice");
  store::Database other = store::open_database(fixture.db());
};

TEST_CASE("publish: 503 while the history cannot store; a keyed retry learns the id once stored") {
  StalledHistory stalled;
  PublishFixture& fixture = stalled.fixture;
  WsClient& alice = *stalled.alice;
  const std::string bob = fixture.token("bob");

  const Publish slow{bob, R"({"text":"slow"})", "slow-1"};
  const HttpAnswer waiting = publish(fixture.port(), 7, slow);
  CHECK(waiting.status() == 503);
  CHECK(error_code_of(waiting) == "not_stored");
  CHECK(str(alice.next_of("message"), "text") == "slow"); // delivered before it is stored
  const HttpAnswer full = publish(fixture.port(), 7, {bob, R"({"text":"refused"})"});
  CHECK(full.status() == 503);
  CHECK(error_code_of(full) == "history_unavailable");
  const HttpAnswer pending = publish(fixture.port(), 7, slow);
  CHECK(pending.status() == 409);
  CHECK(error_code_of(pending) == "in_progress");

  stalled.release();
  std::int64_t id = -1;
  CHECK(TestServer::eventually([&] {
    const HttpAnswer retry = publish(fixture.port(), 7, slow);
    if (retry.status() == 201) id = num(*retry.body, "id");
    return retry.status() == 201;
  }));
  CHECK(id == 1);
  CHECK(publish(fixture.port(), 7, {bob, R"({"text":"next"})"}).status() == 201);
  CHECK(str(alice.next_of("message"), "text") == "next"); // "refused" never went out
}

TEST_CASE("Server::publish: an embedding app's message is a member's message from its sender") {
  PublishFixture fixture;
  auto alice = fixture.member("alice");
  alice->send_message("first", "a1");
  CHECK(num(alice->next_of("ack"), "id") == 1);

  CHECK(fixture.server->publish(7, "deploy-bot", "deploy done") == 2);
  const json::object message = alice->next_of("message");
  CHECK(str(message, "from") == "deploy-bot");
  CHECK(str(message, "text") == "deploy done");
  CHECK(num(message, "id") == 2);
  // A group nobody has joined gets ids too, kept in its history.
  CHECK(fixture.server->publish(8, "deploy-bot", "to nobody") == 1);
  const HttpAnswer history = admin_call(fixture.port(), http::verb::get,
                                        "/api/groups/7/messages?since=1", fixture.token("alice"));
  CHECK(history.response.body().find(R"("text":"deploy done")") != std::string::npos);
}

TEST_CASE("Server::publish: bad arguments are refused before anything is sent") {
  ServerConfig config;
  config.max_message_bytes = 16;
  PublishFixture fixture(config);
  auto alice = fixture.member("alice");
  TestServer& server = *fixture.server;
  CHECK_THROWS_AS(server.publish(7, "", "hi"), std::invalid_argument);
  CHECK_THROWS_AS(server.publish(7, std::string(33, 'b'), "hi"), std::invalid_argument);
  CHECK_THROWS_AS(server.publish(7, "bot\n", "hi"), std::invalid_argument);
  CHECK_THROWS_AS(server.publish(7, "bot", ""), std::invalid_argument);
  CHECK_THROWS_WITH_AS(server.publish(7, "bot", std::string(17, 'x')),
                       doctest::Contains("max_message_bytes"), std::invalid_argument);
  CHECK_THROWS_AS(server.publish(7, "bot", "bad \xc3("), std::invalid_argument);
  CHECK(server.publish(7, "bot", std::string(16, 'x')) == 1); // none of the above took an id
  CHECK(num(alice->next_of("message"), "id") == 1);
}

TEST_CASE("Server::publish: a full history refuses, nothing sent; a slow one sent, not stored") {
  StalledHistory stalled;
  PublishFixture& fixture = stalled.fixture;
  WsClient& alice = *stalled.alice;
  try {
    fixture.server->publish(7, "bot", "slow");
    FAIL("stored while the file was locked");
  } catch (const PublishFailed& e) {
    CHECK(e.reason() == PublishFailed::Reason::not_stored);
    CHECK(e.sent());
  }
  CHECK(str(alice.next_of("message"), "text") == "slow");
  try {
    fixture.server->publish(7, "bot", "refused");
    FAIL("accepted beyond history_queue_limit");
  } catch (const PublishFailed& e) {
    CHECK(e.reason() == PublishFailed::Reason::history_unavailable);
    CHECK_FALSE(e.sent());
  }
  stalled.release();
  std::int64_t id = -1;
  CHECK(TestServer::eventually([&] {
    try {
      id = fixture.server->publish(7, "bot", "next");
      return true;
    } catch (const PublishFailed&) {
      return false; // "slow" still being committed
    }
  }));
  CHECK(id == 2);
  CHECK(str(alice.next_of("message"), "text") == "next"); // "refused" never went out
}

TEST_CASE("admin: lists a group's connections and closes a user's with 1008; members may not") {
  PublishFixture fixture;
  auto alice = fixture.member("alice");
  auto alice_again = fixture.member("alice");
  auto bob_socket = fixture.member("bob");
  const std::string bob = fixture.token("bob");
  const std::string alice_token = fixture.token("alice");

  const HttpAnswer listed =
      admin_call(fixture.port(), http::verb::get, "/api/groups/7/connections", bob);
  REQUIRE(listed.status() == 200);
  REQUIRE(listed.body.has_value());
  CHECK(num(*listed.body, "group") == 7);
  const json::value* connections = listed.body->if_contains("connections");
  REQUIRE((connections != nullptr && connections->is_array()));
  std::vector<std::string> users;
  for (const auto& entry : connections->get_array()) {
    users.push_back(str(entry.get_object(), "user"));
    CHECK(str(entry.get_object(), "address") == "127.0.0.1");
  }
  std::sort(users.begin(), users.end());
  CHECK(users == std::vector<std::string>{"alice", "alice", "bob"});

  const HttpAnswer refused_list =
      admin_call(fixture.port(), http::verb::get, "/api/groups/7/connections", alice_token);
  CHECK(refused_list.status() == 403);
  CHECK(error_code_of(refused_list) == "forbidden");
  const HttpAnswer refused_close =
      admin_call(fixture.port(), http::verb::delete_, "/api/groups/7/members/bob", alice_token);
  CHECK(refused_close.status() == 403);
  CHECK(admin_call(fixture.port(), http::verb::get, "/api/groups/99/connections", bob).status() ==
        404);
  CHECK(admin_call(fixture.port(), http::verb::delete_, "/api/groups/7/members/a%20b", bob)
            .status() == 400);

  const HttpAnswer closed =
      admin_call(fixture.port(), http::verb::delete_, "/api/groups/7/members/alice", bob);
  REQUIRE(closed.status() == 200);
  CHECK(num(*closed.body, "closed") == 2);
  CHECK(str(*closed.body, "user") == "alice");
  for (WsClient* socket : {alice.get(), alice_again.get()}) {
    const Ending ending = socket->read_until_end();
    CHECK(ending.reason.code == 1008);
    CHECK(std::string(ending.reason.reason.c_str()) == "removed by admin");
  }
  // Bob stays; alice may come back (closing is not revoking).
  CHECK(TestServer::eventually([&] { return fixture.server->member_count(7) == 1; }));
  auto back = fixture.member("alice");
  CHECK(admin_call(fixture.port(), http::verb::delete_, "/api/groups/7/members/nobody", bob)
            .status() == 200);
}

TEST_CASE("publish with --auth none: anyone, under the body's \"from\" or \"api\"") {
  TestServer server;
  WsClient alice;
  alice.join(server.port(), 3, "alice");
  CHECK(publish(server.port(), 3, {"", R"({"text":"tick","from":"cron"})"}).status() == 201);
  CHECK(str(alice.next_of("message"), "from") == "cron");
  CHECK(publish(server.port(), 3, {"", R"({"text":"tock"})"}).status() == 201);
  CHECK(str(alice.next_of("message"), "from") == "api");
  CHECK(publish(server.port(), 3, {"", R"({"text":"x","from":""})"}).status() == 400);
}

TEST_CASE("publish on a node of two sharing Redis: delivered on the other node in order; 503 "
          "while Redis is away") {
  RedisServer redis;
  ServerConfig config;
  config.broker_url = redis.url();
  // Long enough for a loaded CI machine (at 500 ms a slow presence command closed the
  // session with 1011); Redis going away is seen at once, by the dropped connection.
  config.broker_command_timeout = 3s;
  PublishFixture fixture(config, false);
  TestServer node_a(fixture.config);
  TestServer node_b(fixture.config);
  for (const TestServer* node : {&node_a, &node_b}) // connected to Redis
    REQUIRE(TestServer::eventually(
        [&] { return http_request(node->port(), "/healthz").status() == 200; }));
  auto alice_on_b = std::make_unique<WsClient>();
  alice_on_b->set_header(http::field::authorization, "Bearer " + fixture.token("alice"));
  REQUIRE_FALSE(alice_on_b->connect(node_b.port(), "/ws/7"));
  alice_on_b->expect("welcome");
  alice_on_b->send_message("from b", "b1");
  const std::int64_t first = num(alice_on_b->next_of("ack"), "id");

  const HttpAnswer answer =
      publish(node_a.port(), 7, {fixture.service_token("crm"), R"({"text":"via a"})", "k-redis"});
  REQUIRE(answer.status() == 201);
  CHECK(num(*answer.body, "id") == first + 1);
  const json::object message = alice_on_b->next_of("message");
  CHECK(str(message, "from") == "crm");
  CHECK(str(message, "text") == "via a");
  CHECK(num(message, "id") == first + 1);
  // A retry on the same node answers from its memory.
  const HttpAnswer again =
      publish(node_a.port(), 7, {fixture.service_token("crm"), R"({"text":"via a"})", "k-redis"});
  CHECK(num(*again.body, "id") == first + 1);
  // The embedding app's Server::publish() on a node goes the same way.
  CHECK(node_a.publish(7, "crm-app", "via the API") == first + 2);
  CHECK(str(alice_on_b->next_of("message"), "text") == "via the API");

  redis.kill();
  CHECK(TestServer::eventually([&] {
    const HttpAnswer away = publish(node_a.port(), 7, {fixture.service_token("crm")});
    return away.status() == 503 && error_code_of(away) == "broker_unavailable";
  }));
  CHECK_THROWS_WITH_AS(node_a.publish(7, "crm-app", "lost"), doctest::Contains("broker"),
                       PublishFailed);
}
