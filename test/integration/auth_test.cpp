// Access (issue 4) over real sockets: login, tokens at the WebSocket handshake and on the
// HTTP API, 401/403 before any upgrade, 1008 at token expiry and after a revocation made
// through a second AccountStore on the same file (as `huddle group revoke` does).
#include "test_server.hpp"
#include "ws_client.hpp"

#include "auth/password.hpp"
#include "auth/secret_file.hpp"
#include "auth/token.hpp"
#include "store/account_store.hpp"

#include <jwt.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <vector>

using namespace huddle;
using namespace huddle::test;
using namespace std::chrono_literals;

namespace {

constexpr GroupId k_group = 7;

// A database with alice and bob in group 7 and carol in no group, and a server on it.
struct AccessFixture {
  explicit AccessFixture(ServerConfig base = {}) {
    {
      store::AccountStore accounts(db());
      for (const char* user : {"alice", "bob", "carol"})
        accounts.add_user(user, auth::hash_password(std::string(user) + "-password"));
      accounts.add_group(k_group, "General");
      accounts.grant(k_group, "alice", store::Role::member);
      accounts.grant(k_group, "bob", store::Role::admin);
    }
    base.db_path = db();
    if (base.auth == AuthMode::none) base.auth = AuthMode::builtin;
    base.jwt_secret_file = secret_file();
    base.access_check_interval = 100ms;
    server = std::make_unique<TestServer>(base);
  }

  std::string db() const { return dir.file("huddle.db"); }
  std::string secret_file() const { return dir.file("jwt-secret"); }

  // A token signed with the server's own secret, as a login would give, valid for `ttl`
  // from now (a negative ttl: expired that long ago).
  std::string token(const std::string& user, std::chrono::seconds ttl = 3600s) const {
    auth::TokenConfig config;
    config.hs256_secret = auth::load_or_create_secret(secret_file());
    config.ttl = 3600s;
    const auto issued_at = auth::Clock::now() + ttl - config.ttl;
    return auth::TokenService(config).issue(user, issued_at).token;
  }

  std::uint16_t port() const { return server->port(); }

  TempDir dir;
  std::unique_ptr<TestServer> server;
};

HttpCall bearer(const std::string& token) {
  HttpCall call;
  call.headers.emplace_back(http::field::authorization, "Bearer " + token);
  return call;
}

HttpCall upgrade_with(HttpCall call) {
  call.upgrade = true;
  return call;
}

// `forwarded_for`: an X-Forwarded-For header, as a proxy in front of the server would add.
HttpAnswer login(std::uint16_t port, const std::string& user, const std::string& password,
                 const std::string& forwarded_for = {}) {
  HttpCall call;
  call.method = http::verb::post;
  call.headers.emplace_back(http::field::content_type, "application/json");
  if (!forwarded_for.empty()) call.named_headers.emplace_back("X-Forwarded-For", forwarded_for);
  json::object body;
  body["username"] = user;
  body["password"] = password;
  call.body = json::serialize(body);
  return http_call(port, "/api/login", call);
}

std::string error_of(const HttpAnswer& answer) {
  return answer.body ? str(*answer.body, "error") : std::string("(no JSON body)");
}

// An HS256 token minted by "another service" with libjwt directly: a groups claim.
std::string external_token(const std::string& secret, const std::string& user,
                           const std::string& groups_json) {
  jwt_t* jwt = nullptr;
  REQUIRE(jwt_new(&jwt) == 0);
  std::unique_ptr<jwt_t, decltype(&jwt_free)> owner(jwt, &jwt_free);
  REQUIRE(jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                      static_cast<int>(secret.size())) == 0);
  REQUIRE(jwt_add_grant(jwt, "sub", user.c_str()) == 0);
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                       (std::chrono::system_clock::now() + 1h).time_since_epoch())
                       .count();
  REQUIRE(jwt_add_grant_int(jwt, "exp", exp) == 0);
  REQUIRE(jwt_add_grants_json(jwt, groups_json.c_str()) == 0);
  char* encoded = jwt_encode_str(jwt);
  REQUIRE(encoded != nullptr);
  std::string token(encoded);
  std::free(encoded); // libjwt 1.10 has no jwt_free_str
  return token;
}

} // namespace

TEST_CASE("login: a token and an HttpOnly SameSite=Strict cookie; one answer for every failure") {
  AccessFixture fixture;
  const HttpAnswer ok = login(fixture.port(), "alice", "alice-password");
  REQUIRE(ok.status() == 200);
  REQUIRE(ok.body.has_value());
  CHECK_FALSE(str(*ok.body, "token").empty());
  CHECK(str(*ok.body, "user") == "alice");
  CHECK(num(*ok.body, "expires_at") > 0);
  const std::string cookie(ok.response[http::field::set_cookie]);
  CHECK(cookie.starts_with("huddle_token=" + str(*ok.body, "token")));
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);

  // The token opens the group.
  WsClient alice;
  alice.set_header(http::field::authorization, "Bearer " + str(*ok.body, "token"));
  REQUIRE_FALSE(alice.connect(fixture.port(), "/ws/7"));
  CHECK(str(alice.expect("welcome"), "user") == "alice");

  const HttpAnswer wrong_password = login(fixture.port(), "alice", "nope");
  const HttpAnswer no_such_user = login(fixture.port(), "mallory", "nope");
  CHECK(wrong_password.status() == 401);
  CHECK(no_such_user.status() == 401);
  CHECK(error_of(wrong_password) == "invalid_credentials");
  CHECK(wrong_password.response.body() == no_such_user.response.body());
}

TEST_CASE("login: bad requests get 400, 405 and 415 with a JSON error") {
  AccessFixture fixture;
  HttpCall not_json;
  not_json.method = http::verb::post;
  not_json.headers.emplace_back(http::field::content_type, "text/plain");
  not_json.body = R"({"username":"alice","password":"alice-password"})";
  const HttpAnswer form = http_call(fixture.port(), "/api/login", not_json);
  CHECK(form.status() == 415);
  CHECK(error_of(form) == "unsupported_media_type");

  HttpCall garbage = not_json;
  garbage.headers = {{http::field::content_type, "application/json"}};
  for (const char* body :
       {"{", "[]", R"({"username":"alice"})", R"({"username":1,"password":2})"}) {
    garbage.body = body;
    const HttpAnswer answer = http_call(fixture.port(), "/api/login", garbage);
    CHECK_MESSAGE(answer.status() == 400, body);
    CHECK(error_of(answer) == "bad_request");
  }
  CHECK(http_request(fixture.port(), "/api/login").status() == 405);
}

TEST_CASE("login: failures from one address are slowed with 429 and Retry-After") {
  ServerConfig config;
  config.login_burst = 2;
  config.login_refill_interval = 60s;
  AccessFixture fixture(config);
  CHECK(login(fixture.port(), "alice", "wrong").status() == 401);
  CHECK(login(fixture.port(), "alice", "wrong").status() == 401);
  // Even the right password waits now: the address, not the account, is slowed.
  const HttpAnswer slowed = login(fixture.port(), "alice", "alice-password");
  CHECK(slowed.status() == 429);
  CHECK(error_of(slowed) == "too_many_attempts");
  CHECK_FALSE(slowed.response[http::field::retry_after].empty());
}

TEST_CASE("login: behind a trusted proxy, failures are counted per forwarded client") {
  ServerConfig config;
  config.login_burst = 2;
  config.login_refill_interval = 60s;
  config.trusted_proxies = {"127.0.0.1"};
  AccessFixture fixture(config);
  CHECK(login(fixture.port(), "alice", "wrong", "203.0.113.1").status() == 401);
  CHECK(login(fixture.port(), "alice", "wrong", "203.0.113.1").status() == 401);
  CHECK(login(fixture.port(), "alice", "alice-password", "203.0.113.1").status() == 429);
  // Five bad passwords from one client do not lock out the others behind the same proxy.
  CHECK(login(fixture.port(), "alice", "alice-password", "203.0.113.2").status() == 200);
  CHECK(login(fixture.port(), "alice", "alice-password").status() == 200); // the proxy's own
  // A client cannot shed its record by writing the header itself: the proxy appends.
  CHECK(login(fixture.port(), "alice", "alice-password", "198.51.100.1, 203.0.113.1").status() ==
        429);
}

TEST_CASE("login: X-Forwarded-For from a peer that is not a trusted proxy is ignored") {
  ServerConfig config;
  config.login_burst = 2;
  config.login_refill_interval = 60s;
  AccessFixture fixture(config);
  CHECK(login(fixture.port(), "alice", "wrong", "203.0.113.1").status() == 401);
  CHECK(login(fixture.port(), "alice", "wrong", "203.0.113.2").status() == 401);
  CHECK(login(fixture.port(), "alice", "alice-password", "203.0.113.3").status() == 429);
}

TEST_CASE("handshake: the per-address upgrade rate is checked before any token") {
  ServerConfig config;
  config.upgrade_rate_per_address = 1;
  config.upgrade_burst_per_address = 1;
  AccessFixture fixture(config);
  HttpCall call;
  call.upgrade = true;
  CHECK(http_call(fixture.port(), "/ws/7", call).status() == 401);
  const HttpAnswer refused = http_call(fixture.port(), "/ws/7", call);
  CHECK(refused.status() == 429);
  CHECK(error_of(refused) == "rate_limited");
}

TEST_CASE("login: beyond --max-pending-logins, 503 login_busy at once; the slots come back") {
  ServerConfig config;
  config.max_pending_logins = 1;
  AccessFixture fixture(config);
  // Each login holds its slot for an Argon2id check (~90 ms): sent together, the first
  // takes the only slot and the others find it taken.
  std::vector<std::future<HttpAnswer>> calls;
  for (int i = 0; i < 4; ++i)
    calls.push_back(std::async(std::launch::async,
                               [&] { return login(fixture.port(), "alice", "alice-password"); }));
  int ok = 0;
  int busy = 0;
  for (auto& call : calls) {
    const HttpAnswer answer = call.get();
    if (answer.status() == 200) ++ok;
    if (answer.status() == 503) {
      ++busy;
      CHECK(error_of(answer) == "login_busy");
      CHECK(answer.response[http::field::retry_after] == "1");
    }
  }
  CHECK(ok >= 1);
  CHECK(busy >= 1);
  CHECK(ok + busy == 4);
  // Finished logins give their slot back, and a refused one is no failed login.
  CHECK(login(fixture.port(), "alice", "alice-password").status() == 200);
  CHECK(login(fixture.port(), "alice", "alice-password").status() == 200);
}

TEST_CASE("handshake: missing, invalid, expired and tampered tokens get 401 before any upgrade") {
  AccessFixture fixture;
  const std::uint16_t port = fixture.port();
  const HttpAnswer missing = http_request(port, "/ws/7", true);
  CHECK(missing.status() == 401);
  CHECK(error_of(missing) == "unauthorized");

  const HttpAnswer garbage = http_call(port, "/ws/7", upgrade_with(bearer("not.a.token")));
  CHECK(garbage.status() == 401);

  const std::string expired = fixture.token("alice", -10s);
  const HttpAnswer late = http_call(port, "/ws/7", upgrade_with(bearer(expired)));
  CHECK(late.status() == 401);
  REQUIRE(late.body.has_value());
  CHECK(str(*late.body, "detail").find("expired") != std::string::npos);

  std::string tampered = fixture.token("alice");
  const auto payload_at = tampered.find('.') + 3;
  tampered[payload_at] = tampered[payload_at] == 'A' ? 'B' : 'A';
  CHECK(http_call(port, "/ws/7", upgrade_with(bearer(tampered))).status() == 401);

  // Signed with another secret.
  auth::TokenConfig other;
  other.hs256_secret = std::string(64, 'x');
  const std::string forged = auth::TokenService(other).issue("alice").token;
  CHECK(http_call(port, "/ws/7", upgrade_with(bearer(forged))).status() == 401);
}

TEST_CASE("handshake: a member enters under the token's name; a non-member gets 403") {
  AccessFixture fixture;
  const std::uint16_t port = fixture.port();
  WsClient alice;
  alice.set_header(http::field::authorization, "Bearer " + fixture.token("alice"));
  REQUIRE_FALSE(alice.connect(port, "/ws/7?name=mallory")); // ?name= cannot pick the name
  CHECK(str(alice.expect("welcome"), "user") == "alice");

  const HttpAnswer carol = http_call(port, "/ws/7", upgrade_with(bearer(fixture.token("carol"))));
  CHECK(carol.status() == 403);
  CHECK(error_of(carol) == "forbidden");
  // A valid user of a group that does not exist.
  CHECK(http_call(port, "/ws/8", upgrade_with(bearer(fixture.token("alice")))).status() == 403);
  // Bad ids are still 400, whoever asks.
  CHECK(http_call(port, "/ws/abc", upgrade_with(bearer(fixture.token("alice")))).status() == 400);
}

TEST_CASE("handshake: the token may come as the cookie or ?token=; a cookie from another site is "
          "refused") {
  AccessFixture fixture;
  const std::uint16_t port = fixture.port();
  WsClient by_cookie;
  by_cookie.set_header(http::field::cookie, "theme=dark; huddle_token=" + fixture.token("bob"));
  by_cookie.set_header(http::field::origin, "http://127.0.0.1:" + std::to_string(port));
  REQUIRE_FALSE(by_cookie.connect(port, "/ws/7"));
  CHECK(str(by_cookie.expect("welcome"), "user") == "bob");

  WsClient by_query;
  REQUIRE_FALSE(by_query.connect(port, "/ws/7?token=" + fixture.token("alice")));
  CHECK(str(by_query.expect("welcome"), "user") == "alice");

  HttpCall hijack;
  hijack.upgrade = true;
  hijack.headers = {{http::field::cookie, "huddle_token=" + fixture.token("bob")},
                    {http::field::origin, "https://evil.example"}};
  const HttpAnswer refused = http_call(port, "/ws/7", hijack);
  CHECK(refused.status() == 403);
  CHECK(error_of(refused) == "cross_origin");
}

TEST_CASE("HTTP API: the group routes need a member's token; /api/groups lists the caller's") {
  AccessFixture fixture;
  const std::uint16_t port = fixture.port();
  CHECK(http_request(port, "/api/groups/7/messages").status() == 401);
  CHECK(http_request(port, "/api/groups/7/members").status() == 401);
  CHECK(http_call(port, "/api/groups/7/messages", bearer(fixture.token("carol"))).status() == 403);
  CHECK(http_call(port, "/api/groups/7/members", bearer(fixture.token("carol"))).status() == 403);
  CHECK(http_call(port, "/api/groups/7/messages", bearer(fixture.token("alice"))).status() == 200);
  CHECK(http_call(port, "/api/groups/7/members", bearer(fixture.token("alice"))).status() == 200);

  CHECK(http_request(port, "/api/groups").status() == 401);
  const HttpAnswer bobs = http_call(port, "/api/groups", bearer(fixture.token("bob")));
  REQUIRE(bobs.status() == 200);
  REQUIRE(bobs.body.has_value());
  CHECK(str(*bobs.body, "user") == "bob");
  const json::array& groups = bobs.body->at("groups").as_array();
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].at("id").as_int64() == k_group);
  CHECK(groups[0].at("title").as_string() == "General");
  CHECK(groups[0].at("role").as_string() == "admin");
  const HttpAnswer carols = http_call(port, "/api/groups", bearer(fixture.token("carol")));
  REQUIRE(carols.body.has_value());
  CHECK(carols.body->at("groups").as_array().empty());
}

TEST_CASE("logout clears the cookie") {
  AccessFixture fixture;
  HttpCall call;
  call.method = http::verb::post;
  const HttpAnswer answer = http_call(fixture.port(), "/api/logout", call);
  CHECK(answer.status() == 200);
  const std::string cookie(answer.response[http::field::set_cookie]);
  CHECK(cookie.starts_with("huddle_token=;"));
  CHECK(cookie.find("Max-Age=0") != std::string::npos);
}

TEST_CASE("a socket whose token expires is closed with 1008 \"token expired\"") {
  AccessFixture fixture;
  WsClient alice;
  alice.set_header(http::field::authorization, "Bearer " + fixture.token("alice", 2s));
  REQUIRE_FALSE(alice.connect(fixture.port(), "/ws/7"));
  alice.expect("welcome");
  const Ending ending = alice.read_until_end(15s);
  CHECK(ending.reason.code == websocket::close_code::policy_error);
  CHECK(std::string(ending.reason.reason.c_str()) == "token expired");
}

TEST_CASE("revoking a membership from another process closes that user's sockets with 1008") {
  AccessFixture fixture;
  const std::uint16_t port = fixture.port();
  WsClient alice_tab1;
  WsClient alice_tab2;
  WsClient bob;
  for (WsClient* client : {&alice_tab1, &alice_tab2})
    client->set_header(http::field::authorization, "Bearer " + fixture.token("alice"));
  bob.set_header(http::field::authorization, "Bearer " + fixture.token("bob"));
  REQUIRE_FALSE(alice_tab1.connect(port, "/ws/7"));
  REQUIRE_FALSE(alice_tab2.connect(port, "/ws/7"));
  REQUIRE_FALSE(bob.connect(port, "/ws/7"));
  alice_tab1.expect("welcome");
  alice_tab2.expect("welcome");
  bob.expect("welcome");

  store::AccountStore(fixture.db()).revoke(k_group, "alice"); // what `huddle group revoke` does

  for (WsClient* tab : {&alice_tab1, &alice_tab2}) {
    const Ending ending = tab->read_until_end(10s);
    CHECK(ending.reason.code == websocket::close_code::policy_error);
    CHECK(std::string(ending.reason.reason.c_str()) == "access revoked");
  }
  // Bob stays: he sees alice leave and can still talk.
  CHECK(str(bob.next_of("leave"), "user") == "alice");
  bob.send_message("still here", "r1");
  CHECK(num(bob.next_of("ack"), "id") >= 1);
  // And alice cannot come back.
  CHECK(http_call(port, "/ws/7", upgrade_with(bearer(fixture.token("alice")))).status() == 403);
}

TEST_CASE("--auth jwt: a token minted elsewhere with a groups claim; no login here") {
  TempDir dir;
  const std::string secret = auth::load_or_create_secret(dir.file("shared-secret"));
  ServerConfig config;
  config.auth = AuthMode::jwt;
  config.jwt_secret_file = dir.file("shared-secret");
  config.db_path = dir.file("huddle.db");
  TestServer server(config);
  const std::uint16_t port = server.port();

  WsClient dana; // in no database: the token's claim is the membership
  dana.set_header(http::field::authorization,
                  "Bearer " + external_token(secret, "dana", R"({"groups":[7,9]})"));
  REQUIRE_FALSE(dana.connect(port, "/ws/9"));
  CHECK(str(dana.expect("welcome"), "user") == "dana");
  const std::string only_seven = external_token(secret, "dana", R"({"groups":[7]})");
  CHECK(http_call(port, "/ws/9", upgrade_with(bearer(only_seven))).status() == 403);

  const HttpAnswer login_here = login(port, "dana", "whatever");
  CHECK(login_here.status() == 404);
  CHECK(error_of(login_here) == "login_disabled");
}

TEST_CASE("AuthMode::none refuses an address other than loopback unless told otherwise") {
  boost::asio::io_context io;
  ServerConfig config;
  config.auth = AuthMode::none;
  config.address = "0.0.0.0";
  config.port = 0;
  CHECK_THROWS_AS(Server(io.get_executor(), config), std::invalid_argument);
  // The library names its settings, not huddle serve's flags.
  CHECK_THROWS_WITH(Server(io.get_executor(), config),
                    doctest::Contains("ServerConfig::allow_anonymous_on_network"));
  config.allow_anonymous_on_network = true;
  CHECK_NOTHROW(Server(io.get_executor(), config));
}

TEST_CASE("GET / serves the web client with a content security policy") {
  TestServer server;
  const HttpAnswer page = http_request(server.port(), "/");
  CHECK(page.status() == 200);
  CHECK(std::string(page.response[http::field::content_type]).starts_with("text/html"));
  CHECK(page.response.body().find("<html") != std::string::npos);
  CHECK_FALSE(page.response["Content-Security-Policy"].empty());
  CHECK(http_request(server.port(), "/no-such-file.js").status() == 404);
}
