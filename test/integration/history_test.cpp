// History over real sockets: the messages API (order, since, limit, bad parameters), the
// members API, reconnect with ?since= (no gap, no duplicate while messages keep coming),
// the "truncated" flag after retention, ids continuing after a restart on one file, and
// a database that cannot take writes for a while.
#include "test_server.hpp"
#include "ws_client.hpp"

#include "store/sqlite.hpp"

#include <doctest/doctest.h>

#include <set>
#include <thread>

using namespace huddle::test;

namespace {

// The JSON array a history request answers with; fails the test on anything else.
json::array history_get(std::uint16_t port, const std::string& target) {
  const HttpAnswer answer = http_request(port, target);
  REQUIRE_MESSAGE(!answer.ec, target << ": " << answer.ec.message());
  REQUIRE_MESSAGE(answer.status() == 200, target << ": " << answer.response.body());
  CHECK(answer.response[http::field::content_type] == "application/json");
  error_code ec;
  json::value value = json::parse(answer.response.body(), ec);
  REQUIRE_MESSAGE((!ec && value.is_array()), target << ": " << answer.response.body());
  return value.get_array();
}

std::vector<std::int64_t> history_ids(const json::array& messages) {
  std::vector<std::int64_t> ids;
  for (const auto& m : messages)
    ids.push_back(m.is_object() ? num(m.get_object(), "id") : -1);
  return ids;
}

std::vector<std::int64_t> id_range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> ids;
  for (auto id = first; id <= last; ++id)
    ids.push_back(id);
  return ids;
}

// Sends `count` messages "<prefix><n>" and reads their acks.
template <typename Client>
void send_acked(Client& client, int count, const std::string& prefix = "m") {
  for (int i = 1; i <= count; ++i)
    client.send_message(prefix + std::to_string(i));
  for (int i = 1; i <= count; ++i)
    client.next_of("ack");
}

huddle::ServerConfig file_config(const TempDir& dir) {
  huddle::ServerConfig config;
  config.db_path = dir.file("history.db");
  config.message_rate = 0; // a flood, on purpose (the rate limit is tested in abuse_test.cpp)
  return config;
}

} // namespace

TEST_CASE("the messages API: id order, since, limit, the newest by default") {
  TempDir dir;
  TestServer server(file_config(dir));
  WsClient alice;
  alice.join(server.port(), 7, "alice");
  send_acked(alice, 150);

  const json::array latest = history_get(server.port(), "/api/groups/7/messages");
  CHECK(history_ids(latest) == id_range(51, 150)); // the newest 100, oldest first
  const json::object& first = latest.at(0).get_object();
  CHECK(str(first, "type") == "message");
  CHECK(num(first, "group") == 7);
  CHECK(str(first, "from") == "alice");
  CHECK(str(first, "text") == "m51");
  CHECK(num(first, "ts") > 1'600'000'000'000);

  CHECK(history_ids(history_get(server.port(), "/api/groups/7/messages?since=0&limit=10")) ==
        id_range(1, 10));
  CHECK(history_ids(history_get(server.port(), "/api/groups/7/messages?limit=5&since=145")) ==
        id_range(146, 150));
  CHECK(history_ids(history_get(server.port(), "/api/groups/7/messages?since=0&limit=1000")) ==
        id_range(1, 150));
  CHECK(history_ids(history_get(server.port(), "/api/groups/7/messages?limit=3")) ==
        id_range(148, 150));
  CHECK(history_get(server.port(), "/api/groups/7/messages?since=150").empty());
  CHECK(history_get(server.port(), "/api/groups/8/messages").empty()); // a group never used
}

TEST_CASE("the messages API refuses bad parameters with 400 and a JSON error") {
  TestServer server;
  const std::pair<const char*, const char*> cases[] = {
      {"/api/groups/0/messages", "bad_group"},
      {"/api/groups/abc/messages", "bad_group"},
      {"/api/groups/7/messages?since=-1", "bad_since"},
      {"/api/groups/7/messages?since=x", "bad_since"},
      {"/api/groups/7/messages?limit=0", "bad_limit"},
      {"/api/groups/7/messages?limit=1001", "bad_limit"},
      {"/api/groups/7/messages?limit=ten", "bad_limit"},
      {"/ws/7?since=-5", "bad_since"},
  };
  for (const auto& entry : cases) { // not a structured binding: clang 14 cannot capture one
    const char* target = entry.first;
    const char* code = entry.second;
    const bool upgrade = std::string_view(target).starts_with("/ws/");
    const HttpAnswer answer = http_request(server.port(), target, upgrade);
    REQUIRE(!answer.ec);
    CHECK_MESSAGE(answer.status() == 400, target);
    REQUIRE_MESSAGE(answer.body.has_value(), target);
    CHECK_MESSAGE(str(*answer.body, "error") == code, target);
    CHECK_MESSAGE(!str(*answer.body, "detail").empty(), target);
  }
  const HttpAnswer other = http_request(server.port(), "/api/groups/7/other");
  CHECK(other.status() == 404);
  // POST is the publish API (publish_test.cpp); other methods are refused.
  const HttpAnswer put =
      http_request(server.port(), "/api/groups/7/messages", false, http::verb::put);
  CHECK(put.status() == 405);
}

TEST_CASE("the members API lists the users online, once per user") {
  TestServer server;
  auto members = [&] {
    const HttpAnswer answer = http_request(server.port(), "/api/groups/5/members");
    REQUIRE(answer.status() == 200);
    REQUIRE(answer.body.has_value());
    CHECK(num(*answer.body, "group") == 5);
    return strings(*answer.body, "members");
  };
  CHECK(members().empty());
  WsClient bob, alice, alice_tab;
  bob.join(server.port(), 5, "bob");
  alice.join(server.port(), 5, "alice");
  alice_tab.join(server.port(), 5, "alice");
  CHECK(members() == std::vector<std::string>{"alice", "bob"});
  alice.close();
  alice_tab.abort(); // no close frame: noticed when the socket fails
  CHECK(TestServer::eventually([&] { return members() == std::vector<std::string>{"bob"}; }));
}

TEST_CASE_TEMPLATE("reconnecting with since replays what was missed, then goes live: no gap, no "
                   "duplicate, while others keep sending",
                   Client, WsClient, WssClient) {
  TempDir dir;
  TestServer server(served_for<Client>(file_config(dir)));
  Client carol;
  carol.join(server.port(), 1, "carol");
  std::int64_t last_seen = 0;
  {
    Client bob;
    bob.join(server.port(), 1, "bob");
    carol.expect("join");
    carol.send_message("before");
    last_seen = num(bob.expect("message"), "id");
    carol.next_of("ack");
    bob.close(); // bob goes away having seen `last_seen`
  }
  send_acked(carol, 500, "offline ");

  // Carol sends 500 more while bob reconnects and replays.
  std::thread sender([&] { send_acked(carol, 500, "live "); });
  Client bob;
  const json::object welcome =
      bob.join(server.port(), 1, "bob", "&since=" + std::to_string(last_seen));
  CHECK(num(welcome, "last_id") > last_seen);
  CHECK(welcome.if_contains("truncated") != nullptr);
  CHECK(str(welcome, "type") == "welcome");
  CHECK_FALSE(welcome.at("truncated").as_bool());

  std::vector<std::int64_t> received;
  std::set<std::string> texts;
  while (received.size() < 1000) {
    const json::object message = bob.next_of("message");
    received.push_back(num(message, "id"));
    texts.insert(str(message, "text"));
  }
  sender.join();
  CHECK(received == id_range(last_seen + 1, last_seen + 1000)); // all, once, in order
  CHECK(texts.size() == 1000);
  CHECK(texts.count("offline 1") == 1);
  CHECK(texts.count("live 500") == 1);
}

TEST_CASE("since older than retention: the welcome says truncated, replay starts at the oldest "
          "kept") {
  TempDir dir;
  huddle::ServerConfig config = file_config(dir);
  config.history_per_group = 10;
  TestServer server(config);
  WsClient alice;
  alice.join(server.port(), 2, "alice");
  send_acked(alice, 30);
  // Retention runs in the background, every few seconds.
  CHECK(TestServer::eventually(
      [&] {
        return history_ids(history_get(server.port(), "/api/groups/2/messages?since=0")) ==
               id_range(21, 30);
      },
      std::chrono::seconds(20)));

  auto replay = [&](std::int64_t since, bool truncated, std::int64_t first) {
    WsClient bob;
    const json::object welcome =
        bob.join(server.port(), 2, "bob", "&since=" + std::to_string(since));
    CHECK(num(welcome, "last_id") == 30);
    REQUIRE(welcome.if_contains("truncated") != nullptr);
    CHECK(welcome.at("truncated").as_bool() == truncated);
    for (std::int64_t id = first; id <= 30; ++id)
      CHECK(num(bob.expect("message"), "id") == id);
    // The next frame is live (a join): nothing else was replayed. The previous round's
    // sentinel may still be leaving on another thread: its `leave` is live too.
    WsClient sentinel;
    sentinel.join(server.port(), 2, "sentinel");
    json::object next = bob.read_json();
    while (str(next, "type") == "leave")
      next = bob.read_json();
    CHECK(str(next, "type") == "join");
    CHECK(str(next, "user") == "sentinel");
  };
  replay(5, true, 21);
  replay(25, false, 26);
  replay(0, true, 21);

  WsClient plain; // no since: no replay, no "truncated"
  const json::object welcome = plain.join(server.port(), 2, "plain");
  CHECK(welcome.if_contains("truncated") == nullptr);
}

TEST_CASE("ids continue after a restart on the same history file") {
  TempDir dir;
  {
    TestServer server(file_config(dir));
    WsClient alice;
    alice.join(server.port(), 4, "alice");
    send_acked(alice, 3);
  }
  TestServer server(file_config(dir));
  WsClient alice;
  const json::object welcome = alice.join(server.port(), 4, "alice");
  CHECK(num(welcome, "last_id") == 3);
  alice.send_message("after restart");
  CHECK(num(alice.next_of("ack"), "id") == 4);
  const json::array all = history_get(server.port(), "/api/groups/4/messages?since=0");
  CHECK(history_ids(all) == id_range(1, 4));
  CHECK(str(all.at(3).get_object(), "text") == "after restart");
}

TEST_CASE("a database that cannot write: a full queue refuses messages with an error, then "
          "everything held is stored and acked") {
  TempDir dir;
  huddle::ServerConfig config = file_config(dir);
  config.history_queue_limit = 1;
  TestServer server(config);
  WsClient alice;
  WsClient bob;
  alice.join(server.port(), 4, "alice");
  bob.join(server.port(), 4, "bob");
  alice.next_of("join");

  // Another program holds the file's write lock: the store's commit waits for it.
  huddle::store::Database other = huddle::store::open_database(config.db_path);
  huddle::store::exec(other.get(), "BEGIN IMMEDIATE");
  alice.send_message("one", "c1");
  CHECK(str(bob.next_of("message"), "text") == "one"); // delivered before it is stored
  alice.send_message("two", "c2");
  const json::object refused = alice.next_of("error");
  CHECK(str(refused, "code") == "history_unavailable");
  CHECK(str(refused, "ref") == "c2");

  huddle::store::exec(other.get(), "ROLLBACK");
  const json::object ack = alice.next_of("ack");
  CHECK(str(ack, "ref") == "c1");
  CHECK(num(ack, "id") == 1);
  alice.send_message("three", "c3");
  CHECK(num(alice.next_of("ack"), "id") == 2);
  const json::object three = bob.next_of("message"); // "two" never went out
  CHECK(str(three, "text") == "three");
  CHECK(num(three, "id") == 2);
  CHECK(history_ids(history_get(server.port(), "/api/groups/4/messages?since=0")) ==
        id_range(1, 2));
}

TEST_CASE("stopping while the database cannot write completes, and what it could not store "
          "is never acked") {
  TempDir dir;
  huddle::ServerConfig config = file_config(dir);
  config.shutdown_timeout = std::chrono::milliseconds(200);
  huddle::store::Database other = huddle::store::open_database(config.db_path);
  TestServer server(config);
  WsClient alice;
  WsClient bob;
  alice.join(server.port(), 4, "alice");
  bob.join(server.port(), 4, "bob");

  huddle::store::exec(other.get(), "BEGIN IMMEDIATE");
  alice.send_message("unstorable", "c1");
  CHECK(str(bob.next_of("message"), "text") == "unstorable");
  server.stop();
  // Bounded by the shutdown timeout and one SQLite busy timeout (5 s), not by the lock.
  CHECK(server.wait_run_done(std::chrono::seconds(30)));
  const Ending ending = alice.read_until_end();
  CHECK(ending.reason.code == websocket::close_code::going_away);
  for (const json::object& frame : ending.frames)
    CHECK(str(frame, "type") != "ack");
  huddle::store::exec(other.get(), "ROLLBACK");
  huddle::store::Statement stored(other.get(), "SELECT count(*) FROM messages");
  REQUIRE(stored.next());
  CHECK(stored.integer(0) == 0);
}

namespace {

std::string api_epoch(std::uint16_t port, std::int64_t group) {
  const HttpAnswer answer =
      http_request(port, "/api/groups/" + std::to_string(group) + "/messages");
  REQUIRE(answer.status() == 200);
  return std::string(answer.response["Huddle-Epoch"]);
}

// The frame after the welcome is live: a join of a sentinel that connects now.
void expect_live_next(WsClient& client, std::uint16_t port, std::int64_t group) {
  WsClient sentinel;
  sentinel.join(port, group, "sentinel");
  // The previous sentinel may still be leaving on another thread: its `leave` is live too.
  json::object next = client.read_json();
  while (str(next, "type") == "leave")
    next = client.read_json();
  CHECK(str(next, "type") == "join");
  CHECK(str(next, "user") == "sentinel");
}

} // namespace

TEST_CASE("the epoch: in the welcome and the history API, kept by a clean restart; a since "
          "from another epoch or beyond last_id is answered with reset and no replay") {
  TempDir dir;
  std::string epoch;
  {
    TestServer server(file_config(dir));
    WsClient alice;
    epoch = str(alice.join(server.port(), 3, "alice"), "epoch");
    CHECK(epoch.size() == 16);
    CHECK(api_epoch(server.port(), 3) == epoch);
    send_acked(alice, 5);
  }
  TestServer server(file_config(dir));
  CHECK(api_epoch(server.port(), 3) == epoch);

  auto welcome_for = [&](WsClient& bob, const std::string& query) {
    const json::object welcome = bob.join(server.port(), 3, "bob", query);
    CHECK(num(welcome, "last_id") == 5);
    CHECK(str(welcome, "epoch") == epoch);
    return welcome;
  };
  {
    WsClient bob;
    const json::object welcome = welcome_for(bob, "&since=2&epoch=" + epoch);
    CHECK(welcome.if_contains("reset") == nullptr);
    CHECK(welcome.at("truncated").as_bool() == false);
    for (std::int64_t id = 3; id <= 5; ++id)
      CHECK(num(bob.expect("message"), "id") == id);
  }
  for (const std::string& query : {std::string("&since=2&epoch=0123456789abcdef"),
                                   std::string("&since=6"), "&since=6&epoch=" + epoch}) {
    CAPTURE(query);
    WsClient bob;
    const json::object welcome = welcome_for(bob, query);
    REQUIRE(welcome.if_contains("reset") != nullptr);
    CHECK(welcome.at("reset").as_bool());
    CHECK(welcome.if_contains("truncated") == nullptr);
    expect_live_next(bob, server.port(), 3);
  }
  const HttpAnswer bad = http_request(server.port(), "/ws/3?since=1&epoch=no%20way", true);
  CHECK(bad.status() == 400);
  REQUIRE(bad.body.has_value());
  CHECK(str(*bad.body, "error") == "bad_epoch");
}

TEST_CASE("replay sends at most --replay-limit of the newest, page by page, then goes live") {
  TempDir dir;
  huddle::ServerConfig config = file_config(dir);
  config.replay_limit = 300;
  config.send_queue_bytes = 16 * 1024; // pages of 4 KiB: about 40 messages each
  TestServer server(config);
  WsClient alice;
  alice.join(server.port(), 6, "alice");
  send_acked(alice, 400, std::string(60, 'x'));
  {
    WsClient bob;
    const json::object welcome = bob.join(server.port(), 6, "bob", "&since=50");
    CHECK(welcome.at("truncated").as_bool()); // 350 missed, 300 replayed
    for (std::int64_t id = 101; id <= 400; ++id)
      REQUIRE(num(bob.expect("message"), "id") == id);
    expect_live_next(bob, server.port(), 6);
  }
  WsClient carol;
  const json::object welcome = carol.join(server.port(), 6, "carol", "&since=150");
  CHECK_FALSE(welcome.at("truncated").as_bool()); // 250 missed: all of them
  for (std::int64_t id = 151; id <= 400; ++id)
    REQUIRE(num(carol.expect("message"), "id") == id);
  expect_live_next(carol, server.port(), 6);
}
