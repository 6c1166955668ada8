// Limits that close a connection: 1009 for an oversize frame, 1007 for invalid UTF-8,
// 1008 "slow consumer" for a reader whose queue overflows, while everyone else carries on.
#include "test_server.hpp"
#include "ws_client.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace huddle::test;

namespace {

// The index of the first id that is not its position + 1 (ids.size() when there is none).
std::size_t first_gap(const std::vector<std::int64_t>& ids) {
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != static_cast<std::int64_t>(i + 1)) return i;
  return ids.size();
}

} // namespace

TEST_CASE_TEMPLATE("a frame over max_message_bytes closes the connection with 1009", Client,
                   WsClient, WssClient) {
  huddle::ServerConfig config;
  config.max_message_bytes = 1024;
  TestServer server(served_for<Client>(config));
  Client big, peer;
  big.join(server.port(), 1, "big");
  peer.join(server.port(), 1, "peer");
  big.expect("join");

  // Exactly the limit is accepted.
  const std::string at_limit(1024, 'a');
  big.send(at_limit);
  CHECK(num(big.expect("ack"), "id") == 1);
  CHECK(str(peer.expect("message"), "text").size() == 1024);

  const std::string too_big(1025, 'b');
  (void)big.try_send(too_big); // the server may close before the whole frame is written
  const Ending ending = big.read_until_end();
  CHECK(ending.ec == websocket::error::closed);
  CHECK(ending.reason.code == websocket::close_code::too_big);
  CHECK(ending.frames.empty());

  // The others never see it and carry on.
  CHECK(str(peer.expect("leave"), "user") == "big");
  Client later;
  later.join(server.port(), 1, "later");
  CHECK(str(peer.expect("join"), "user") == "later");
  later.send_message("fine");
  const json::object message = peer.expect("message");
  CHECK(str(message, "text") == "fine");
  CHECK(num(message, "id") == 2);
}

TEST_CASE_TEMPLATE("a text frame that is not valid UTF-8 closes the connection with 1007", Client,
                   WsClient, WssClient) {
  TestServer server(served_for<Client>());
  Client bad, peer;
  bad.join(server.port(), 2, "bad");
  peer.join(server.port(), 2, "peer");
  bad.expect("join");

  for (const std::string& invalid : {std::string("abc\xff"), std::string("\xc3\x28"),
                                     std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    CAPTURE(invalid.size());
    Client client;
    client.join(server.port(), 3, "utf");
    (void)client.try_send(invalid);
    const Ending ending = client.read_until_end();
    CHECK(ending.ec == websocket::error::closed);
    CHECK(ending.reason.code == websocket::close_code::bad_payload);
    CHECK(ending.frames.empty());
  }

  const std::string invalid = "hi \xfe there";
  (void)bad.try_send(invalid);
  const Ending ending = bad.read_until_end();
  CHECK(ending.reason.code == websocket::close_code::bad_payload);
  CHECK(str(peer.expect("leave"), "user") == "bad");
  CHECK(TestServer::eventually([&] { return server.member_count(2) == 1; }));
}

TEST_CASE_TEMPLATE(
    "a reader that stops reading is closed with 1008 while a fast reader gets everything", Client,
    WsClient, WssClient) {
  huddle::ServerConfig config;
  config.send_queue_bytes = 64 * 1024;
  config.shutdown_timeout = std::chrono::seconds(20); // time for the slow one to read its close
  config.message_rate = 0; // a flood, on purpose (the rate limit is tested in abuse_test.cpp)
  TestServer server(served_for<Client>(config));
  constexpr huddle::GroupId group = 21;

  Client slow, fast, sender;
  // A small receive window, so the bytes in flight in TCP buffers stay small.
  REQUIRE(!slow.connect(server.port(), "/ws/21?name=slow", 4096));
  // `slow` never reads its welcome: wait for its registration, which may run on another
  // thread, so the others' frames come in a known order.
  REQUIRE(TestServer::eventually([&] { return server.member_count(group) == 1; }));
  fast.join(server.port(), group, "fast");
  sender.join(server.port(), group, "sender");
  CHECK(str(fast.expect("join"), "user") == "sender");
  REQUIRE(server.member_count(group) == 3);

  // The fast reader reads in its own thread until the final "done" message.
  std::vector<json::object> fast_frames;
  std::string fast_error;
  std::jthread fast_reader([&] {
    for (;;) {
      const Received received = fast.read(std::chrono::seconds(30));
      if (received.ec) {
        fast_error = received.ec.message();
        return;
      }
      auto frame = parse_object(received.text);
      if (!frame) {
        fast_error = "not JSON: " + received.text;
        return;
      }
      fast_frames.push_back(*frame);
      if (str(*frame, "type") == "message" && str(*frame, "text") == "done") return;
    }
  });

  // Flood in lock step (each ack read before the next send, so the sender's own queue
  // stays tiny) until the slow reader is removed, then a little more.
  const std::string padding(4000, 'x');
  constexpr int k_max_messages = 5000; // 20 MB: far beyond any socket buffer
  int sent = 0;
  int after_removal = -1;
  std::vector<std::int64_t> ack_ids;
  std::vector<json::object> sender_events; // the sender is a member: it sees slow leave
  while (sent < k_max_messages && after_removal < 20) {
    sender.send(std::to_string(sent) + ":" + padding);
    const json::object ack = sender.next_of("ack", &sender_events);
    ack_ids.push_back(num(ack, "id"));
    ++sent;
    if (after_removal >= 0) {
      ++after_removal;
    } else if (sent % 20 == 0 && server.member_count(group) == 2) {
      after_removal = 0;
    }
  }
  MESSAGE("the slow reader was removed after about " << sent - after_removal
                                                     << " messages of 4 KB");
  CHECK_MESSAGE(after_removal >= 0,
                "the slow reader was still a member after " << sent << " messages");
  sender.send("done");
  sender.next_of("ack", &sender_events);
  fast_reader.join();
  REQUIRE_MESSAGE(fast_error.empty(), "the fast reader failed: " << fast_error);

  // The sender's acks count up without a gap; the only other thing it saw is slow leaving.
  CHECK(first_gap(ack_ids) == ack_ids.size());
  REQUIRE(sender_events.size() == 1);
  CHECK(str(sender_events[0], "type") == "leave");
  CHECK(str(sender_events[0], "user") == "slow");

  // The fast reader got every message, in order, and saw the slow one leave.
  int expected = 0;
  bool saw_slow_leave = false;
  for (const auto& frame : fast_frames) {
    const std::string type = str(frame, "type");
    if (type == "leave") {
      saw_slow_leave = saw_slow_leave || str(frame, "user") == "slow";
      continue;
    }
    REQUIRE(type == "message");
    const std::string text = str(frame, "text");
    const bool in_order = num(frame, "id") == expected + 1 &&
                          (expected == sent ? text == "done"
                                            : text.starts_with(std::to_string(expected) + ":") &&
                                                  text.size() == std::to_string(expected).size() +
                                                                     1 + padding.size());
    REQUIRE_MESSAGE(in_order, "fast reader: message " << expected << " arrived as id "
                                                      << num(frame, "id") << " with text "
                                                      << text.substr(0, 12));
    ++expected;
  }
  CHECK(expected == sent + 1);
  CHECK(saw_slow_leave);

  // The slow reader wakes up: it gets a gap-free prefix of the group's messages, then 1008.
  const Ending ending = slow.read_until_end(std::chrono::seconds(10));
  CHECK_MESSAGE(ending.ec == websocket::error::closed, "ended with " << ending.ec.message());
  CHECK(ending.reason.code == websocket::close_code::policy_error);
  CHECK(std::string(ending.reason.reason.data(), ending.reason.reason.size()) == "slow consumer");
  REQUIRE(!ending.frames.empty());
  CHECK(str(ending.frames.front(), "type") == "welcome");
  std::vector<std::int64_t> slow_ids;
  for (const auto& frame : ending.frames)
    if (str(frame, "type") == "message") slow_ids.push_back(num(frame, "id"));
  CHECK(first_gap(slow_ids) == slow_ids.size());
  CHECK(slow_ids.size() < static_cast<std::size_t>(
                              sent)); // it did miss messages: it was closed, not kept waiting for
  CHECK(server.member_count(group) == 2);
}

TEST_CASE("a slow reader that never reads again is closed hard after shutdown_timeout") {
  huddle::ServerConfig config;
  config.send_queue_bytes = 64 * 1024;
  config.shutdown_timeout = std::chrono::milliseconds(300);
  config.message_rate = 0; // a flood, on purpose (the rate limit is tested in abuse_test.cpp)
  TestServer server(config);
  constexpr huddle::GroupId group = 22;

  WsClient stuck, sender;
  REQUIRE(!stuck.connect(server.port(), "/ws/22?name=stuck", 4096));
  // `stuck` never reads its welcome: wait for its registration (it may run on another thread).
  REQUIRE(TestServer::eventually([&] { return server.member_count(group) == 1; }));
  sender.join(server.port(), group, "sender");
  REQUIRE(server.member_count(group) == 2);

  const std::string padding(4000, 'y');
  int sent = 0;
  while (sent < 5000 && !(sent % 20 == 0 && server.member_count(group) == 1)) {
    sender.send(std::to_string(sent) + ":" + padding);
    sender.next_of("ack");
    ++sent;
  }
  REQUIRE_MESSAGE(server.member_count(group) == 1, "stuck was never removed");

  // stuck's socket is full, so its close frame cannot be written: the session must still
  // end (hard close once shutdown_timeout has passed) and release its slot.
  CHECK(TestServer::eventually([&] { return server.server().session_count() == 1; }));
  sender.send_message("after", "a");
  CHECK(str(sender.next_of("ack"), "ref") == "a");
  WsClient newcomer;
  newcomer.join(server.port(), group, "newcomer");
}
