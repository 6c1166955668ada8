// Abuse limits (issue 11) over real sockets: the per-connection message rate (rate_limited,
// then 1008 "rate limit"), the per-address limits on connections and upgrades (HTTP 429 with
// Retry-After before any upgrade), X-Forwarded-For believed from trusted proxies only, and
// control frames: a ping answered with its pong, close frames with a code RFC 6455 §7.4
// forbids answered with 1002.
#include "test_server.hpp"
#include "ws_client.hpp"

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>
#include <vector>

using namespace huddle::test;

namespace abuse_test {

// The answer to an upgrade that was refused before it happened.
struct Refused {
  unsigned status = 0;
  std::string error;       // the JSON body's "error"
  std::string retry_after; // the Retry-After header
};

Refused refusal_of(const HttpAnswer& answer) {
  return {answer.status(), answer.body ? str(*answer.body, "error") : std::string(),
          std::string(answer.response[http::field::retry_after])};
}

// An upgrade request on a connection that closes once it is answered.
HttpAnswer try_upgrade(std::uint16_t port, const std::string& target,
                       const std::string& forwarded_for = {}) {
  HttpCall call;
  call.upgrade = true;
  if (!forwarded_for.empty()) call.named_headers.emplace_back("X-Forwarded-For", forwarded_for);
  return http_call(port, target, call);
}

// A masked close frame (RFC 6455 §5.5.1) carrying `code` and no reason.
std::array<unsigned char, 8> close_frame(std::uint16_t code) {
  const std::array<unsigned char, 4> mask{0x12, 0x34, 0x56, 0x78};
  return {0x88,
          0x80 | 2,
          mask[0],
          mask[1],
          mask[2],
          mask[3],
          static_cast<unsigned char>((code >> 8) ^ mask[0]),
          static_cast<unsigned char>((code & 0xFF) ^ mask[1])};
}

// A server frame: its opcode and payload.
struct ServerFrame {
  unsigned opcode = 0;
  std::string payload;
};

// The whole frames in `bytes` (unmasked server frames), in order.
std::vector<ServerFrame> frames_of(const std::string& bytes) {
  std::vector<ServerFrame> frames;
  std::size_t at = 0;
  while (at + 2 <= bytes.size()) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
    std::size_t length = byte(at + 1) & 0x7F;
    std::size_t header = 2;
    if (length == 126) {
      if (at + 4 > bytes.size()) break;
      length = byte(at + 2) << 8 | byte(at + 3);
      header = 4;
    } else if (length == 127) {
      if (at + 10 > bytes.size()) break;
      length = 0;
      for (int i = 0; i < 8; ++i)
        length = length << 8 | byte(at + 2 + i);
      header = 10;
    }
    if (at + header + length > bytes.size()) break;
    frames.push_back({byte(at) & 0x0Fu, bytes.substr(at + header, length)});
    at += header + length;
  }
  return frames;
}

// The code of the first close frame in `bytes`: -1 for none, 0 for one without a code.
int first_close_code(const std::string& bytes) {
  for (const ServerFrame& frame : frames_of(bytes)) {
    if (frame.opcode != 0x8) continue;
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(frame.payload[i]); };
    return frame.payload.size() >= 2 ? (byte(0) << 8 | byte(1)) : 0;
  }
  return -1;
}

// A masked ping frame carrying `payload` (at most 125 bytes).
std::string ping_frame(std::string_view payload) {
  const std::array<unsigned char, 4> mask{0x9a, 0x0b, 0x3c, 0x4d};
  std::string frame{static_cast<char>(0x89), static_cast<char>(0x80 | payload.size())};
  frame.append(mask.begin(), mask.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return frame;
}

// What the server answered to a client close frame with `code`.
int close_reply(std::uint16_t port, std::uint16_t code) {
  RawWsClient client;
  REQUIRE(client.upgrade(port, "/ws/5?name=closer") == 101);
  const auto frame = close_frame(code);
  client.send(asio::buffer(frame));
  client.read_until_end(k_io_timeout);
  return first_close_code(client.received());
}

} // namespace abuse_test

using namespace abuse_test;

TEST_CASE("over message_rate a message is refused with rate_limited; persisting closes 1008") {
  huddle::ServerConfig config;
  config.message_rate = 1; // slow refill: the test's own pace cannot earn many tokens
  config.message_burst = 3;
  config.rate_limit_close_after = 5;
  TestServer server(config);
  WsClient sender, peer;
  sender.join(server.port(), 1, "sender");
  peer.join(server.port(), 1, "peer");
  sender.expect("join");

  // One message at a time, each answered (ack or error) before the next, until closed.
  std::vector<std::string> accepted, refused;
  std::vector<std::string> answers; // "ack" or "error", in order
  websocket::close_reason ended;
  for (int i = 0; i < 100; ++i) {
    const std::string ref = "r" + std::to_string(i);
    if (sender.try_send(R"({"type":"message","text":"m)" + std::to_string(i) + R"(","ref":")" +
                        ref + "\"}"))
      break;
    const Received received = sender.read();
    if (received.ec) {
      CHECK(received.ec == websocket::error::closed);
      ended = sender.reason();
      break;
    }
    const auto frame = parse_object(received.text);
    REQUIRE(frame.has_value());
    const std::string type = str(*frame, "type");
    answers.push_back(type);
    CHECK(str(*frame, "ref") == ref);
    if (type == "ack") {
      accepted.push_back("m" + std::to_string(i));
    } else {
      REQUIRE(type == "error");
      CHECK(str(*frame, "code") == "rate_limited");
      CHECK_FALSE(str(*frame, "detail").empty());
      const std::int64_t retry = num(*frame, "retry_after_ms");
      CHECK(retry >= 1);
      CHECK(retry <= 1000);
      refused.push_back("m" + std::to_string(i));
    }
  }
  CHECK(ended.code == websocket::close_code::policy_error);
  CHECK(std::string(ended.reason.data(), ended.reason.size()) == "rate limit");
  REQUIRE(accepted.size() >= 3); // the burst
  // Closed on the 5th refusal in a row: the four answers before it were refusals.
  REQUIRE(answers.size() >= 4);
  for (std::size_t i = answers.size() - 4; i < answers.size(); ++i)
    CHECK(answers[i] == "error");

  // The peer got every accepted message and no refused one, then saw the sender leave.
  std::vector<std::string> delivered;
  for (;;) {
    const json::object frame = peer.read_json();
    if (str(frame, "type") == "leave") break;
    REQUIRE(str(frame, "type") == "message");
    delivered.push_back(str(frame, "text"));
  }
  CHECK(delivered == accepted);
}

TEST_CASE("message_rate 0 lets a connection send as fast as it likes") {
  huddle::ServerConfig config;
  config.message_rate = 0;
  TestServer server(config);
  WsClient sender;
  sender.join(server.port(), 2, "sender");
  for (int i = 0; i < 300; ++i)
    sender.send_message("m", "r" + std::to_string(i));
  for (int i = 0; i < 300; ++i)
    CHECK(str(sender.next_of("ack"), "ref") == "r" + std::to_string(i));
}

TEST_CASE("an address over max_connections_per_address gets 429 before any upgrade") {
  huddle::ServerConfig config;
  config.max_connections_per_address = 2;
  config.upgrade_rate_per_address = 0;
  TestServer server(config);
  WsClient first, second;
  first.join(server.port(), 3, "first");
  second.join(server.port(), 3, "second");

  const Refused third = refusal_of(try_upgrade(server.port(), "/ws/3?name=third"));
  CHECK(third.status == 429);
  CHECK(third.error == "too_many_address_connections");
  CHECK(std::stoi(third.retry_after) >= 1);
  CHECK(server.member_count(3) == 2);

  // A closed connection gives its slot back.
  REQUIRE_FALSE(first.close());
  CHECK(TestServer::eventually([&] {
    WsClient again;
    return !again.connect(server.port(), "/ws/3?name=again");
  }));
}

TEST_CASE("upgrades over upgrade_rate_per_address get 429 rate_limited with Retry-After") {
  huddle::ServerConfig config;
  config.max_connections_per_address = 0;
  config.upgrade_rate_per_address = 1;
  config.upgrade_burst_per_address = 3;
  TestServer server(config);
  std::vector<unsigned> statuses;
  Refused refused;
  for (int i = 0; i < 10 && refused.status == 0; ++i) {
    const HttpAnswer answer = try_upgrade(server.port(), "/ws/4?name=u" + std::to_string(i));
    REQUIRE(!answer.ec);
    statuses.push_back(answer.status());
    if (answer.status() != 101) refused = refusal_of(answer);
  }
  REQUIRE(statuses.size() >= 4);
  CHECK(statuses[0] == 101);
  CHECK(statuses[1] == 101);
  CHECK(statuses[2] == 101);
  CHECK(refused.status == 429);
  CHECK(refused.error == "rate_limited");
  CHECK(refused.retry_after == "1");
  // A bad request counts as an attempt too, and is refused before its target is read.
  CHECK(refusal_of(try_upgrade(server.port(), "/ws/0")).status == 429);
}

TEST_CASE("X-Forwarded-For names the client only when the peer is a trusted proxy") {
  huddle::ServerConfig config;
  config.max_connections_per_address = 1;
  config.upgrade_rate_per_address = 0;

  SUBCASE("trusted: each forwarded client has its own limit") {
    config.trusted_proxies = {"127.0.0.0/8"};
    TestServer server(config);
    WsClient a, b, proxy_itself;
    a.set_header("X-Forwarded-For", "203.0.113.1");
    b.set_header("X-Forwarded-For", "198.51.100.9, 203.0.113.2"); // the left one is forged
    REQUIRE_FALSE(a.connect(server.port(), "/ws/6?name=a"));
    REQUIRE_FALSE(b.connect(server.port(), "/ws/6?name=b"));
    REQUIRE_FALSE(proxy_itself.connect(server.port(), "/ws/6?name=p")); // no header: 127.0.0.1
    CHECK(refusal_of(try_upgrade(server.port(), "/ws/6?name=a2", "203.0.113.1")).status == 429);
    CHECK(refusal_of(try_upgrade(server.port(), "/ws/6?name=b2", "203.0.113.2")).status == 429);
    CHECK(refusal_of(try_upgrade(server.port(), "/ws/6?name=p2")).status == 429);
    // A client cannot escape its limit by writing a header of its own: the proxy appends.
    CHECK(
        refusal_of(try_upgrade(server.port(), "/ws/6?name=a3", "192.0.2.1, 203.0.113.1")).status ==
        429);
    CHECK(try_upgrade(server.port(), "/ws/6?name=c", "203.0.113.3").status() == 101);
  }

  SUBCASE("not trusted: the header is ignored, every request is the peer's") {
    TestServer server(config);
    WsClient a;
    a.set_header("X-Forwarded-For", "203.0.113.1");
    REQUIRE_FALSE(a.connect(server.port(), "/ws/6?name=a"));
    CHECK(refusal_of(try_upgrade(server.port(), "/ws/6?name=b", "203.0.113.2")).status == 429);
  }
}

TEST_CASE("a ping is answered with a pong carrying its payload, a close with its code") {
  TestServer server;
  RawWsClient client;
  REQUIRE(client.upgrade(server.port(), "/ws/5?name=pinger") == 101);
  const std::string ping = ping_frame("are you there?");
  client.send(asio::buffer(ping));
  const auto close = close_frame(1000);
  client.send(asio::buffer(close));
  client.read_until_end(k_io_timeout);
  std::vector<std::string> pongs;
  int close_code = -1;
  for (const ServerFrame& frame : frames_of(client.received())) {
    if (frame.opcode == 0xA) pongs.push_back(frame.payload);
    if (frame.opcode == 0x8) {
      CHECK(pongs.size() == 1); // the pong came before the close
      close_code = static_cast<unsigned char>(frame.payload.at(0)) << 8 |
                   static_cast<unsigned char>(frame.payload.at(1));
    }
  }
  CHECK(pongs == std::vector<std::string>{"are you there?"});
  CHECK(close_code == 1000);
}

TEST_CASE("a client close with a code RFC 6455 forbids is answered with 1002") {
  TestServer server;
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 5001, 65535}) {
    CAPTURE(code);
    CHECK(close_reply(server.port(), code) == 1002);
  }
  // Valid codes are echoed, as RFC 6455 §5.5.1 asks.
  for (std::uint16_t code : {1000, 1001, 1003, 1008, 3000, 4000, 4999}) {
    CAPTURE(code);
    CHECK(close_reply(server.port(), code) == code);
  }
  CHECK(TestServer::eventually([&] { return server.server().session_count() == 0; }));
}
