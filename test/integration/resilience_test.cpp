// Peers that go away badly: clients that vanish without a close frame in the middle of a
// broadcast, and clients that stop answering pings (idle timeout).
#include "test_server.hpp"
#include "ws_client.hpp"

#include <boost/asio/write.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>

using namespace huddle::test;

TEST_CASE("20 clients vanishing without a close during a broadcast: the server keeps serving") {
  huddle::ServerConfig config;
  config.message_rate = 0; // a flood, on purpose (the rate limit is tested in abuse_test.cpp)
  TestServer server(config);
  constexpr huddle::GroupId group = 5;
  constexpr int k_vanishing = 20;
  constexpr int k_messages = 300;

  WsClient survivor, sender;
  survivor.join(server.port(), group, "survivor");
  sender.join(server.port(), group, "sender");
  CHECK(str(survivor.expect("join"), "user") == "sender");
  std::vector<std::unique_ptr<WsClient>> vanishing;
  for (int i = 0; i < k_vanishing; ++i) {
    vanishing.push_back(std::make_unique<WsClient>());
    vanishing.back()->join(server.port(), group, "v" + std::to_string(i));
    CHECK(str(survivor.expect("join"), "user") == "v" + std::to_string(i));
    CHECK(str(sender.expect("join"), "user") == "v" + std::to_string(i));
  }
  REQUIRE(server.member_count(group) == 2 + k_vanishing);

  // The sender broadcasts in its own thread, reading each ack; leave frames may come in
  // between, since the sender is a member too.
  std::atomic<int> sent{0};
  std::string sender_error;
  std::vector<std::int64_t> ack_ids;
  std::jthread sending([&] {
    for (int i = 0; i <= k_messages; ++i) {
      const std::string text = i == k_messages ? "done" : "m" + std::to_string(i);
      if (auto ec = sender.try_send(text)) {
        sender_error = "send: " + ec.message();
        return;
      }
      sent = i + 1;
      for (;;) {
        const Received received = sender.read(std::chrono::seconds(10));
        if (received.ec) {
          sender_error = "read: " + received.ec.message();
          return;
        }
        auto frame = parse_object(received.text);
        if (frame && str(*frame, "type") == "ack") {
          ack_ids.push_back(num(*frame, "id"));
          break;
        }
      }
    }
  });

  // The vanishing clients drop off (TCP reset, no close frame) while the broadcast runs.
  TestServer::eventually([&] { return sent >= 20; });
  for (auto& client : vanishing) {
    client->abort();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // The survivor gets every message in order, and a leave for each vanished client.
  int expected = 0;
  int leaves = 0;
  std::string survivor_error;
  while (expected <= k_messages || leaves < k_vanishing) {
    const Received received = survivor.read(std::chrono::seconds(10));
    if (received.ec) {
      survivor_error = received.ec.message();
      break;
    }
    auto frame = parse_object(received.text);
    REQUIRE(frame.has_value());
    const std::string type = str(*frame, "type");
    if (type == "leave") {
      CHECK(str(*frame, "user").starts_with("v"));
      ++leaves;
      continue;
    }
    REQUIRE(type == "message");
    const bool in_order =
        num(*frame, "id") == expected + 1 &&
        str(*frame, "text") == (expected == k_messages ? "done" : "m" + std::to_string(expected));
    REQUIRE_MESSAGE(in_order, "survivor: message " << expected << " arrived as " << received.text);
    ++expected;
  }
  sending.join();
  CHECK_MESSAGE(survivor_error.empty(), "the survivor's connection failed: " << survivor_error);
  CHECK_MESSAGE(sender_error.empty(), "the sender's connection failed: " << sender_error);
  CHECK(expected == k_messages + 1);
  CHECK(leaves == k_vanishing);
  REQUIRE(ack_ids.size() == k_messages + 1);
  for (std::size_t i = 0; i < ack_ids.size(); ++i)
    REQUIRE_MESSAGE(ack_ids[i] == static_cast<std::int64_t>(i + 1),
                    "ack " << i << " has id " << ack_ids[i]);

  // Only the survivors are members; the sessions are gone; newcomers are served.
  CHECK(TestServer::eventually([&] { return server.member_count(group) == 2; }));
  CHECK(TestServer::eventually([&] { return server.server().session_count() == 2; }));
  WsClient newcomer;
  const json::object welcome = newcomer.join(server.port(), group, "newcomer");
  CHECK(strings(welcome, "members") == std::vector<std::string>{"sender", "survivor"});
  CHECK(num(welcome, "last_id") == k_messages + 1);
  newcomer.send_message("hello");
  CHECK(str(survivor.expect("join"), "user") == "newcomer");
  CHECK(str(survivor.expect("message"), "text") == "hello");
  CHECK(http_request(server.port(), "/healthz").status() == 200);
}

namespace {

huddle::ServerConfig idle_config() {
  huddle::ServerConfig config;
  config.ping_interval = std::chrono::milliseconds(100);
  config.idle_timeout = std::chrono::milliseconds(400);
  return config;
}

} // namespace

TEST_CASE("a client that never answers pings is dropped after idle_timeout") {
  TestServer server(idle_config());
  RawWsClient silent; // never reads frames, so never answers a ping
  REQUIRE(silent.upgrade(server.port(), "/ws/31?name=silent") == 101);
  REQUIRE(TestServer::eventually([&] { return server.member_count(31) == 1; }));

  const error_code ended = silent.read_until_end(std::chrono::seconds(10));
  CHECK_MESSAGE((ended == asio::error::eof || ended == asio::error::connection_reset),
                "the connection was not dropped: " << ended.message());

  // What it got: the welcome (an unmasked text frame, opcode 0x1 with FIN) then at least
  // one ping (0x89), and no close frame it could have answered.
  const std::string bytes = silent.received();
  REQUIRE(bytes.size() >= 2);
  CHECK(static_cast<unsigned char>(bytes[0]) == 0x81);
  CHECK(bytes.find(R"("type":"welcome")") != std::string::npos);
  CHECK(bytes.find('\x89') != std::string::npos);

  CHECK(TestServer::eventually([&] { return server.member_count(31) == 0; }));
  CHECK(TestServer::eventually([&] { return server.server().session_count() == 0; }));
}

TEST_CASE("a client that vanishes without a close frame produces a leave after idle_timeout") {
  TestServer server(idle_config());
  WsClient watcher; // always reading from here on, so it answers pings and stays
  watcher.join(server.port(), 32, "watcher");
  RawWsClient silent; // never reads frames, so never answers a ping
  REQUIRE(silent.upgrade(server.port(), "/ws/32?name=silent") == 101);
  CHECK(str(watcher.expect("join"), "user") == "silent");
  const json::object leave = watcher.next_of("leave");
  CHECK(str(leave, "user") == "silent");
  CHECK(num(leave, "group") == 32);
  CHECK(TestServer::eventually([&] { return server.member_count(32) == 1; }));
}

TEST_CASE("a client that answers pings but sends nothing stays connected past idle_timeout") {
  TestServer server(idle_config());
  // listener reads all the time (Beast answers each ping with a pong while a read is
  // pending) but never sends a message of its own.
  WsClient listener;
  listener.join(server.port(), 32, "listener");
  Received first;
  std::jthread reading([&] { first = listener.read(std::chrono::seconds(10)); });

  // Several idle timeouts of silence from the listener, apart from its pongs.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  WsClient talker;
  talker.join(server.port(), 32, "talker");
  reading.join();
  REQUIRE_MESSAGE(!first.ec, "the listener was dropped although it answered every ping: "
                                 << first.ec.message() << " (close code " << listener.reason().code
                                 << ")");
  const auto join = parse_object(first.text);
  REQUIRE(join.has_value());
  CHECK(str(*join, "type") == "join");
  CHECK(str(*join, "user") == "talker");
  talker.send_message("still there?");
  CHECK(str(listener.expect("message"), "text") == "still there?");
}

TEST_CASE("a connection that never finishes its HTTP request is closed after handshake_timeout") {
  huddle::ServerConfig config;
  config.handshake_timeout = std::chrono::milliseconds(200);
  TestServer server(config);
  asio::io_context io;
  beast::tcp_stream stream(io);
  error_code ec = run_with_deadline(io, stream, k_io_timeout, [&](auto handler) {
    stream.async_connect(local_endpoint(server.port()), std::move(handler));
  });
  REQUIRE(!ec);
  const std::string partial = "GET /ws/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"; // never ends
  ec = run_with_deadline(io, stream, k_io_timeout, [&](auto handler) {
    asio::async_write(stream, asio::buffer(partial), std::move(handler));
  });
  REQUIRE(!ec);
  char byte = 0;
  ec = run_with_deadline(io, stream, std::chrono::seconds(10), [&](auto handler) {
    stream.async_read_some(asio::buffer(&byte, 1), std::move(handler));
  });
  CHECK_MESSAGE((ec == asio::error::eof || ec == asio::error::connection_reset),
                "the half-open request was not dropped: " << ec.message());
  CHECK(http_request(server.port(), "/healthz").status() == 200);
}
