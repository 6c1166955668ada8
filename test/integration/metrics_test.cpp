// GET /metrics over real sockets: the values after a known session (logins, refused
// upgrades, messages, a close), the format's HELP/TYPE lines, and who may scrape.
// (test/interop/metrics_test.py parses a scrape with prometheus_client's own parser.)
#include "test_server.hpp"
#include "ws_client.hpp"

#include "auth/password.hpp"
#include "store/account_store.hpp"

#include <doctest/doctest.h>

#include <huddle/version.hpp>

#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>

using namespace huddle;
using namespace huddle::test;
using namespace std::chrono_literals;

namespace metrics_test { // the integration tests share one translation unit (meson.build)

constexpr GroupId k_group = 7;

// Alice and bob are members of group 7, carol of none; the history is a file, so commits run.
struct MetricsFixture {
  explicit MetricsFixture(ServerConfig config = {}) {
    {
      store::AccountStore accounts(dir.file("huddle.db"));
      for (const char* user : {"alice", "bob", "carol"})
        accounts.add_user(user, auth::hash_password(std::string(user) + "-password"));
      accounts.add_group(k_group, "General");
      accounts.grant(k_group, "alice", store::Role::member);
      accounts.grant(k_group, "bob", store::Role::member);
    }
    config.db_path = dir.file("huddle.db");
    config.auth = AuthMode::builtin;
    config.jwt_secret_file = dir.file("jwt-secret");
    server = std::make_unique<TestServer>(config);
  }
  std::uint16_t port() const { return server->port(); }

  TempDir dir;
  std::unique_ptr<TestServer> server;
};

HttpAnswer log_in(std::uint16_t port, const std::string& user, const std::string& password) {
  HttpCall call;
  call.method = http::verb::post;
  call.headers.emplace_back(http::field::content_type, "application/json");
  json::object body;
  body["username"] = user;
  body["password"] = password;
  call.body = json::serialize(body);
  return http_call(port, "/api/login", call);
}

// Every sample of a scrape by its series ("name{labels}"), and the families' TYPE lines.
struct Scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helps;

  double at(const std::string& series) const {
    const auto it = samples.find(series);
    if (it == samples.end()) FAIL("no sample " << series);
    return it->second;
  }
};

Scrape scrape(std::uint16_t port) {
  const HttpAnswer answer = http_request(port, "/metrics");
  REQUIRE_MESSAGE(!answer.ec, answer.ec.message());
  REQUIRE_MESSAGE(answer.status() == 200, answer.response.body());
  CHECK(answer.response[http::field::content_type].starts_with("text/plain; version=0.0.4"));
  Scrape result;
  std::istringstream in(answer.response.body());
  for (std::string line; std::getline(in, line);) {
    REQUIRE(!line.empty());
    std::istringstream words(line);
    if (line.starts_with("# TYPE ")) {
      std::string hash, keyword, name, type;
      words >> hash >> keyword >> name >> type;
      result.types[name] = type;
    } else if (line.starts_with("# HELP ")) {
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      result.helps.insert(name);
    } else {
      const auto space = line.rfind(' ');
      REQUIRE(space != std::string::npos);
      result.samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }
  return result;
}

} // namespace metrics_test

using namespace metrics_test;

TEST_CASE("GET /metrics counts what a session did") {
  MetricsFixture fixture;
  const std::uint16_t port = fixture.port();

  // Logins: two succeed, one fails.
  const HttpAnswer alice_login = log_in(port, "alice", "alice-password");
  const HttpAnswer bob_login = log_in(port, "bob", "bob-password");
  REQUIRE(alice_login.status() == 200);
  REQUIRE(bob_login.status() == 200);
  CHECK(log_in(port, "alice", "wrong").status() == 401);
  // Refused upgrades: no token (401), not a member (403), a bad group id (400).
  CHECK(http_request(port, "/ws/7", true).status() == 401);
  const std::string carol_token = str(*log_in(port, "carol", "carol-password").body, "token");
  CHECK(http_request(port, "/ws/7?token=" + carol_token, true).status() == 403);
  CHECK(http_request(port, "/ws/abc?token=" + carol_token, true).status() == 400);

  WsClient alice, bob;
  REQUIRE(!alice.connect(port, "/ws/7?token=" + str(*alice_login.body, "token")));
  alice.expect("welcome");
  REQUIRE(!bob.connect(port, "/ws/7?token=" + str(*bob_login.body, "token")));
  bob.expect("welcome");
  alice.expect("join");
  for (int i = 0; i < 3; ++i)
    alice.send_message("hello " + std::to_string(i), "r" + std::to_string(i));
  for (int i = 0; i < 3; ++i) {
    CHECK(str(bob.expect("message"), "text") == "hello " + std::to_string(i));
    alice.expect("ack"); // acked: stored, so the history committed it
  }
  REQUIRE(!alice.close()); // the server echoes 1000

  // The close's echo and alice's leave happen after alice's side saw the close.
  REQUIRE(TestServer::eventually([&] {
    const Scrape s = scrape(port);
    return s.at("huddle_connections") == 1 &&
           s.at("huddle_close_frames_sent_total{code=\"1000\"}") == 1;
  }));
  const Scrape s = scrape(port);
  CHECK(s.at("huddle_groups") == 1);
  CHECK(s.at("huddle_messages_received_total") == 3);
  CHECK(s.at("huddle_messages_delivered_total") == 3); // to bob; alice sent without echo
  // alice: welcome, join, 3 acks; bob: welcome, 3 messages, leave (maybe not yet written).
  CHECK(s.at("huddle_frames_written_total") >= 9);
  CHECK(s.at("huddle_bytes_written_total") > 0);
  CHECK(s.at("huddle_logins_total{result=\"success\"}") == 3);
  CHECK(s.at("huddle_logins_total{result=\"invalid_credentials\"}") == 1);
  CHECK(s.at("huddle_logins_total{result=\"throttled\"}") == 0);
  CHECK(s.at("huddle_upgrades_refused_total{status=\"401\"}") == 1);
  CHECK(s.at("huddle_upgrades_refused_total{status=\"403\"}") == 1);
  CHECK(s.at("huddle_upgrades_refused_total{status=\"400\"}") == 1);
  CHECK(s.at("huddle_upgrades_refused_total{status=\"429\"}") == 0);
  CHECK(s.at("huddle_close_frames_sent_total{code=\"1008\"}") == 0);
  CHECK(s.at("huddle_slow_consumer_closes_total") == 0);
  CHECK(s.at("huddle_deliveries_dropped_total") == 0);
  CHECK(s.at("huddle_send_queue_max_bytes") >= 0);
  CHECK(s.at("huddle_history_queue_messages") == 0);
  CHECK(s.at("huddle_history_commit_failures_total") == 0);
  // Every message was acked after its commit: at least one commit, at most one each.
  const double commits = s.at("huddle_history_commit_seconds_count");
  CHECK(commits >= 1);
  CHECK(commits <= 3);
  CHECK(s.at("huddle_history_commit_seconds_bucket{le=\"+Inf\"}") == commits);
  CHECK(s.at("huddle_build_info{version=\"" + std::string(k_version) + "\"}") == 1);
  CHECK(s.at("process_open_fds") > 0);
  CHECK(s.at("process_resident_memory_bytes") > 0);
  CHECK(s.at("process_cpu_seconds_total") >= 0);

  // Every series belongs to a family with HELP and TYPE.
  for (const auto& sample : s.samples) {
    const std::string& series = sample.first; // not a structured binding: CAPTURE takes it
    std::string family = series.substr(0, series.find('{'));
    if (!s.types.contains(family))
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
    CAPTURE(series);
    CHECK(s.types.contains(family));
    CHECK(s.helps.contains(family));
  }
  CHECK(s.types.at("huddle_history_commit_seconds") == "histogram");
  CHECK(s.types.at("huddle_messages_delivered_total") == "counter");
  CHECK(s.types.at("huddle_connections") == "gauge");
}

TEST_CASE("GET /metrics: loopback only without a token, never a forwarded request") {
  ServerConfig config;
  config.trusted_proxies = {"127.0.0.1/32"};
  TestServer server(config);
  CHECK(http_request(server.port(), "/metrics").status() == 200);
  CHECK(http_request(server.port(), "/metrics", false, http::verb::post).status() == 405);
  // A client behind the (trusted) proxy is not local.
  HttpCall forwarded;
  forwarded.named_headers.emplace_back("X-Forwarded-For", "203.0.113.5");
  const HttpAnswer remote = http_call(server.port(), "/metrics", forwarded);
  CHECK(remote.status() == 403);
  REQUIRE(remote.body.has_value());
  CHECK(str(*remote.body, "error") == "forbidden");
  // Even one that claims to be local: a proxy forwarded it.
  HttpCall local_claim;
  local_claim.named_headers.emplace_back("X-Forwarded-For", "127.0.0.1");
  CHECK(http_call(server.port(), "/metrics", local_claim).status() == 403);
  HttpCall standard_header;
  standard_header.named_headers.emplace_back("Forwarded", "for=127.0.0.1");
  CHECK(http_call(server.port(), "/metrics", standard_header).status() == 403);
}

TEST_CASE("GET /metrics with a metrics token wants it as a bearer token") {
  ServerConfig config;
  config.metrics_token = "0123456789abcdef0123456789abcdef";
  TestServer server(config);
  const HttpAnswer none = http_request(server.port(), "/metrics");
  CHECK(none.status() == 401);
  CHECK(none.response[http::field::www_authenticate] == "Bearer");
  HttpCall wrong;
  wrong.headers.emplace_back(http::field::authorization, "Bearer 0123456789abcdef0123456789abcdeX");
  CHECK(http_call(server.port(), "/metrics", wrong).status() == 401);
  HttpCall right;
  right.headers.emplace_back(http::field::authorization, "Bearer " + config.metrics_token);
  const HttpAnswer answer = http_call(server.port(), "/metrics", right);
  CHECK(answer.status() == 200);
  CHECK(answer.response.body().find("huddle_connections 0\n") != std::string::npos);
  // With the token, a forwarded request is fine: the token is what grants access.
  right.named_headers.emplace_back("X-Forwarded-For", "203.0.113.5");
  CHECK(http_call(server.port(), "/metrics", right).status() == 200);
}

TEST_CASE("GET /metrics counts a slow consumer's close and the deliveries it dropped") {
  ServerConfig config;
  config.send_queue_bytes = 64 * 1024;
  config.shutdown_timeout = 300ms;
  config.message_rate = 0; // a flood, on purpose
  TestServer server(config);
  constexpr GroupId group = 22;
  WsClient stuck, sender;
  REQUIRE(!stuck.connect(server.port(), "/ws/22?name=stuck", 4096)); // never reads
  REQUIRE(TestServer::eventually([&] { return server.member_count(group) == 1; }));
  sender.join(server.port(), group, "sender");
  const std::string padding(4000, 'y');
  for (int sent = 0; sent < 5000 && !(sent % 20 == 0 && server.member_count(group) == 1); ++sent) {
    sender.send(std::to_string(sent) + ":" + padding);
    sender.next_of("ack");
  }
  REQUIRE_MESSAGE(server.member_count(group) == 1, "stuck was never closed");
  const Scrape s = scrape(server.port());
  CHECK(s.at("huddle_slow_consumer_closes_total") == 1);
  CHECK(s.at("huddle_deliveries_dropped_total") >= 1);
  // No close frame to count: stuck's socket is full, so it ends without one (hard close).
  // Everything the sender sent was offered to stuck until it overflowed, and none after.
  CHECK(s.at("huddle_messages_delivered_total") < s.at("huddle_messages_received_total"));
}
