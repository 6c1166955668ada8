// Protocol v1 over real sockets: welcome, presence, messages, acks, echo, plain-text
// frames and error frames (docs/protocol.md, DESIGN.md "Wire protocol v1").
//
// "Nothing else arrived" is shown without waiting for a timeout: a later frame from
// someone else (a sentinel) must be the very next one a client reads.
#include "test_server.hpp"
#include "ws_client.hpp"

#include <huddle/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

using namespace huddle::test;

TEST_CASE_TEMPLATE("welcome comes first, with last_id and the other users online", Client, WsClient,
                   WssClient) {
  TestServer server(served_for<Client>());
  Client alice;
  const json::object first = alice.join(server.port(), 7, "alice");
  CHECK(num(first, "last_id") == 0);
  CHECK(strings(first, "members").empty());

  for (int i = 1; i <= 3; ++i) {
    alice.send_message("m" + std::to_string(i));
    CHECK(num(alice.expect("ack"), "id") == i);
  }

  Client bob;
  const json::object welcome = bob.join(server.port(), 7, "bob");
  CHECK(num(welcome, "last_id") == 3);
  CHECK(strings(welcome, "members") == std::vector<std::string>{"alice"});
  const json::object join = alice.expect("join");
  CHECK(num(join, "group") == 7);
  CHECK(str(join, "user") == "bob");

  // last_id is exactly the id before bob's first live message.
  alice.send_message("m4");
  const json::object message = bob.expect("message");
  CHECK(num(message, "id") == 4);
  CHECK(num(message, "group") == 7);
  CHECK(str(message, "from") == "alice");
  CHECK(str(message, "text") == "m4");
  CHECK(num(message, "ts") > 1'600'000'000'000); // milliseconds since the epoch
  CHECK(num(alice.expect("ack"), "id") == 4);
}

TEST_CASE("a user without ?name= gets a guest name") {
  TestServer server;
  WsClient client;
  REQUIRE(!client.connect(server.port(), "/ws/3"));
  const json::object welcome = client.expect("welcome");
  CHECK(str(welcome, "user").starts_with("guest-"));
}

TEST_CASE("groups are isolated from each other") {
  TestServer server;
  WsClient a1, a2, b1, b2;
  a1.join(server.port(), 1, "a1");
  a2.join(server.port(), 1, "a2");
  b1.join(server.port(), 2, "b1");
  b2.join(server.port(), 2, "b2");
  CHECK(str(a1.expect("join"), "user") == "a2");
  CHECK(str(b1.expect("join"), "user") == "b2");

  a1.send_message("for group 1");
  b1.send_message("for group 2");
  a1.send_message("again group 1");

  // Each group numbers its own messages from 1.
  CHECK(num(a1.expect("ack"), "id") == 1);
  CHECK(num(a1.expect("ack"), "id") == 2);
  CHECK(num(b1.expect("ack"), "id") == 1);

  json::object m = a2.expect("message");
  CHECK(str(m, "text") == "for group 1");
  CHECK(num(m, "group") == 1);
  m = a2.expect("message");
  CHECK(str(m, "text") == "again group 1");

  // b2's next frame is group 2's message, then the sentinel: nothing from group 1.
  m = b2.expect("message");
  CHECK(str(m, "text") == "for group 2");
  CHECK(num(m, "group") == 2);
  b1.send_message("sentinel");
  m = b2.expect("message");
  CHECK(str(m, "text") == "sentinel");
  CHECK(num(m, "id") == 2);

  CHECK(server.member_count(1) == 2);
  CHECK(server.member_count(2) == 2);
}

TEST_CASE_TEMPLATE("the sender is excluded from its broadcast unless echo=1", Client, WsClient,
                   WssClient) {
  TestServer server(served_for<Client>());
  Client quiet, echoing, listener;
  quiet.join(server.port(), 4, "quiet");
  echoing.join(server.port(), 4, "echoing", "&echo=1");
  listener.join(server.port(), 4, "listener");
  CHECK(str(quiet.expect("join"), "user") == "echoing");
  CHECK(str(quiet.expect("join"), "user") == "listener");
  CHECK(str(echoing.expect("join"), "user") == "listener");

  SUBCASE("echo=0 (the default): an ack, never the message itself") {
    quiet.send_message("no echo", "q1");
    const json::object ack = quiet.expect("ack");
    CHECK(str(ack, "ref") == "q1");
    CHECK(num(ack, "id") == 1);
    CHECK(str(listener.expect("message"), "text") == "no echo");
    CHECK(str(echoing.expect("message"), "text") == "no echo");
    // quiet's next frame is the sentinel, not its own message.
    listener.send_message("sentinel");
    const json::object next = quiet.expect("message");
    CHECK(str(next, "text") == "sentinel");
    CHECK(str(next, "from") == "listener");
  }
  SUBCASE("echo=1: the sender gets its message like everyone, then the ack") {
    echoing.send_message("with echo", "e1");
    const json::object own = echoing.expect("message");
    CHECK(str(own, "text") == "with echo");
    CHECK(str(own, "from") == "echoing");
    CHECK(num(own, "id") == 1);
    const json::object ack = echoing.expect("ack");
    CHECK(str(ack, "ref") == "e1");
    CHECK(num(ack, "id") == 1);
    CHECK(num(quiet.expect("message"), "id") == 1);
    CHECK(num(listener.expect("message"), "id") == 1);
  }
}

TEST_CASE_TEMPLATE("acks carry the client's ref and the assigned id", Client, WsClient, WssClient) {
  TestServer server(served_for<Client>());
  Client alice, bob;
  alice.join(server.port(), 11, "alice");
  bob.join(server.port(), 11, "bob");
  alice.expect("join");

  // One step at a time: frames on different sockets have no order between them.
  alice.send_message("one", "c1");
  alice.send_message("two", "c2");
  json::object ack = alice.expect("ack");
  CHECK(str(ack, "ref") == "c1");
  CHECK(num(ack, "id") == 1);
  ack = alice.expect("ack");
  CHECK(str(ack, "ref") == "c2");
  CHECK(num(ack, "id") == 2);

  bob.send_message("three", "b1");
  const json::object from_bob = alice.expect("message");
  CHECK(num(from_bob, "id") == 3);
  CHECK(str(from_bob, "text") == "three");

  alice.send_message("four"); // no ref: the ack has none
  ack = alice.expect("ack");
  CHECK(!ack.contains("ref"));
  CHECK(num(ack, "id") == 4);

  CHECK(num(bob.expect("message"), "id") == 1);
  CHECK(num(bob.expect("message"), "id") == 2);
  // An ack waits for the history's commit (--durability batch), so alice's message 4,
  // broadcast meanwhile, may reach bob before his ack for 3 does: either order is right.
  std::vector<json::object> before_ack;
  ack = bob.next_of("ack", &before_ack);
  CHECK(str(ack, "ref") == "b1");
  CHECK(num(ack, "id") == 3);
  const json::object four = before_ack.empty() ? bob.expect("message") : before_ack.front();
  CHECK(before_ack.size() <= 1);
  CHECK(str(four, "type") == "message");
  CHECK(num(four, "id") == 4);
}

TEST_CASE("a text frame that is not a JSON object is the text of a message") {
  TestServer server;
  WsClient typist, reader;
  typist.join(server.port(), 5, "typist");
  reader.join(server.port(), 5, "reader");
  typist.expect("join");

  const std::vector<std::string> texts = {
      "hello there", "\"a JSON string\"", "[1, 2, 3]", "42", "{not json", "  ", "héllo wörld ✓"};
  for (const auto& text : texts)
    typist.send(text);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const json::object ack = typist.expect("ack");
    CHECK(!ack.contains("ref"));
    CHECK(num(ack, "id") == static_cast<std::int64_t>(i + 1));
    const json::object message = reader.expect("message");
    CHECK(str(message, "text") == texts[i]);
    CHECK(str(message, "from") == "typist");
  }
}

TEST_CASE("bad frames get an error frame and the socket stays open") {
  TestServer server;
  WsClient client, peer;
  client.join(server.port(), 6, "client");
  peer.join(server.port(), 6, "peer");
  client.expect("join");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"subscribe","text":"x"})", "unknown_type"},
      {R"({"type":"message"})", "missing_text"},
      {R"({"type":"message","text":5})", "missing_text"},
      {R"({"type":"message","text":""})", "empty_text"},
      {R"({"text":"no type"})", "missing_type"},
      {R"({"type":7,"text":"x"})", "missing_type"},
      {R"({"type":"message","text":"x","ref":5})", "bad_ref"},
      {"", "empty_text"},
  };
  for (const auto& item : cases) {
    const std::string& frame = item.first; // not a structured binding: clang 14 cannot capture one
    const std::string& code = item.second;
    CAPTURE(frame);
    client.send(frame);
    const json::object error = client.expect("error");
    CHECK(str(error, "code") == code);
    CHECK(!str(error, "detail").empty());
  }

  const std::string binary_payload = "\x01\x02\x03";
  REQUIRE(!client.try_send(binary_payload, true));
  const json::object error = client.expect("error");
  CHECK(str(error, "code") == "binary_unsupported");

  // Still open, and none of the bad frames became a message or used an id.
  client.send_message("still here", "ok");
  const json::object ack = client.expect("ack");
  CHECK(str(ack, "ref") == "ok");
  CHECK(num(ack, "id") == 1);
  const json::object message = peer.expect("message");
  CHECK(str(message, "text") == "still here");
  CHECK(num(message, "id") == 1);
}

TEST_CASE_TEMPLATE(
    "presence: a user with two sockets joins once and leaves after the last one closes", Client,
    WsClient, WssClient) {
  TestServer server(served_for<Client>());
  Client bob;
  bob.join(server.port(), 8, "bob");

  Client alice1;
  const json::object welcome1 = alice1.join(server.port(), 8, "alice");
  CHECK(strings(welcome1, "members") == std::vector<std::string>{"bob"});
  CHECK(str(bob.expect("join"), "user") == "alice");

  Client alice2;
  const json::object welcome2 = alice2.join(server.port(), 8, "alice");
  const auto members2 = strings(welcome2, "members");
  CHECK(std::find(members2.begin(), members2.end(), "bob") != members2.end());
  CHECK(server.member_count(8) == 3);

  // No second join for alice: bob's next frame is carol's join.
  Client carol;
  carol.join(server.port(), 8, "carol");
  CHECK(str(bob.expect("join"), "user") == "carol");
  CHECK(str(alice1.expect("join"), "user") == "carol");
  CHECK(str(alice2.expect("join"), "user") == "carol");

  // alice's first socket closes: she is still online, so no leave.
  REQUIRE(!alice1.close());
  REQUIRE(TestServer::eventually([&] { return server.member_count(8) == 3; }));
  carol.send_message("after alice1 closed");
  CHECK(num(carol.expect("ack"), "id") == 1);
  json::object next = bob.expect("message");
  CHECK(str(next, "text") == "after alice1 closed");
  CHECK(str(alice2.expect("message"), "text") == "after alice1 closed");

  // Her last socket closes: now bob and carol see her leave.
  REQUIRE(!alice2.close());
  json::object leave = bob.expect("leave");
  CHECK(str(leave, "user") == "alice");
  CHECK(num(leave, "group") == 8);
  CHECK(str(carol.expect("leave"), "user") == "alice");
  CHECK(server.member_count(8) == 2);

  REQUIRE(!carol.close());
  CHECK(str(bob.expect("leave"), "user") == "carol");
  REQUIRE(!bob.close());
  CHECK(TestServer::eventually([&] { return server.member_count(8) == 0; }));
}

TEST_CASE("an io_context pool (huddle serve's model): groups on both threads, all delivered") {
  // Server(executors, config): one io_context per thread; each group's sessions move to
  // one of them at the upgrade (group id modulo 2: groups 1 and 2 live on different ones).
  namespace asio = boost::asio;
  std::vector<std::unique_ptr<asio::io_context>> pool;
  std::vector<asio::any_io_executor> executors;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  for (int i = 0; i < 2; ++i) {
    pool.push_back(std::make_unique<asio::io_context>(1));
    executors.push_back(pool.back()->get_executor());
    keep_running.push_back(asio::make_work_guard(*pool.back()));
  }
  huddle::ServerConfig config;
  config.port = 0;
  config.message_rate = 0; // a flood, on purpose (the rate limit is tested in abuse_test.cpp)
  std::optional<huddle::Server> server;
  server.emplace(executors, config);
  std::promise<void> run_done;
  asio::co_spawn(*pool[0], server->run(), [&](std::exception_ptr) { run_done.set_value(); });
  std::vector<std::thread> threads;
  for (auto& context : pool)
    threads.emplace_back([&context] { context->run(); });
  struct JoinAtExit { // also when a REQUIRE throws
    std::vector<std::unique_ptr<asio::io_context>>& pool;
    std::vector<std::thread>& threads;
    void now() {
      for (auto& context : pool)
        context->stop();
      for (auto& thread : threads)
        if (thread.joinable()) thread.join();
    }
    ~JoinAtExit() { now(); }
  } join_at_exit{pool, threads};

  {
    WsClient a1, a2, b1, b2;
    a1.join(server->port(), 1, "a1");
    a2.join(server->port(), 1, "a2");
    b1.join(server->port(), 2, "b1");
    b2.join(server->port(), 2, "b2");
    CHECK(str(a1.expect("join"), "user") == "a2");
    CHECK(str(b1.expect("join"), "user") == "b2");
    for (int i = 1; i <= 50; ++i) {
      a1.send_message("a" + std::to_string(i));
      b2.send_message("b" + std::to_string(i));
    }
    for (int i = 1; i <= 50; ++i) {
      const json::object to_a2 = a2.expect("message");
      CHECK(str(to_a2, "text") == "a" + std::to_string(i));
      CHECK(num(to_a2, "id") == i);
      const json::object to_b1 = b1.expect("message");
      CHECK(str(to_b1, "text") == "b" + std::to_string(i));
      CHECK(num(to_b1, "id") == i);
    }
    CHECK(server->session_count() == 4);
  }

  server->stop();
  CHECK(run_done.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  keep_running.clear();
  join_at_exit.now();
  // As huddle serve does: the server, then the io_contexts, the first (the shared state's) last.
  server.reset();
  while (!pool.empty())
    pool.pop_back();
}
