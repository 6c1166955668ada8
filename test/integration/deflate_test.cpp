// permessage-deflate (RFC 7692, --deflate) over real sockets: Beast clients with and without
// the extension in one group, each getting every message whole; the server's compressed
// frames as they are on the wire (RSV1, no trailer, the same bytes for every recipient);
// and what a client may not send: a deflate bomb (1009, stopped at the limit), data that
// does not inflate (1007), RSV1 without the extension (1002).
#include "test_server.hpp"
#include "ws_client.hpp"

#include "net/permessage_deflate.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

using namespace huddle::test;

namespace deflate_test {

constexpr std::string_view k_offer = "permessage-deflate; client_max_window_bits";

huddle::ServerConfig with_deflate() {
  huddle::ServerConfig config;
  config.deflate = true;
  return config;
}

// A message text long enough to be compressed (over net::k_deflate_min_bytes).
std::string long_text(int n) {
  std::string text = "message " + std::to_string(n) + ":";
  while (text.size() < 600)
    text += " the quarterly numbers are in";
  return text;
}

// A masked client frame with this first byte (FIN, RSV1, opcode) and payload.
std::string client_frame(unsigned char first, std::string_view payload) {
  const std::array<unsigned char, 4> mask{0x37, 0xfa, 0x21, 0x3d};
  std::string frame{static_cast<char>(first)};
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    REQUIRE(payload.size() <= 0xFFFF);
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  frame.append(mask.begin(), mask.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return frame;
}

// A server frame as it was on the wire.
struct WireFrame {
  unsigned char first = 0; // FIN, RSV1-3, opcode
  std::string payload;
};

std::vector<WireFrame> wire_frames(const std::string& bytes) {
  std::vector<WireFrame> frames;
  std::size_t at = 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  while (at + 2 <= bytes.size()) {
    std::size_t length = byte(at + 1) & 0x7F;
    std::size_t header = 2;
    if (length == 126) {
      if (at + 4 > bytes.size()) break;
      length = static_cast<std::size_t>(byte(at + 2) << 8 | byte(at + 3));
      header = 4;
    } else if (length == 127) {
      if (at + 10 > bytes.size()) break;
      length = 0;
      for (int i = 0; i < 8; ++i)
        length = length << 8 | byte(at + 2 + i);
      header = 10;
    }
    if (at + header + length > bytes.size()) break;
    frames.push_back({byte(at), bytes.substr(at + header, length)});
    at += header + length;
  }
  return frames;
}

// The code of the first close frame: -1 for none.
int close_code(const std::vector<WireFrame>& frames) {
  for (const WireFrame& frame : frames)
    if ((frame.first & 0x0F) == 0x8 && frame.payload.size() >= 2)
      return static_cast<unsigned char>(frame.payload[0]) << 8 |
             static_cast<unsigned char>(frame.payload[1]);
  return -1;
}

// What a raw client that sends `frame` after joining gets back, up to the end.
std::vector<WireFrame> answer_to(std::uint16_t port, const std::string& frame,
                                 const std::string& offer, std::string* extensions = nullptr) {
  RawWsClient client;
  REQUIRE(client.upgrade(port, "/ws/9?name=raw", offer) == 101);
  if (extensions) *extensions = client.extensions();
  client.send(asio::buffer(frame));
  client.read_until_end(k_io_timeout);
  return wire_frames(client.received());
}

} // namespace deflate_test

using namespace deflate_test;

TEST_CASE_TEMPLATE(
    "--deflate: clients with and without the extension share a group, all get it all", Client,
    WsClient, WssClient) {
  TestServer server(served_for<Client>(with_deflate()));
  Client alice, bob, carol;
  alice.offer_deflate();
  bob.offer_deflate();
  alice.join(server.port(), 7, "alice");
  bob.join(server.port(), 7, "bob");
  carol.join(server.port(), 7, "carol"); // offers nothing: served as without --deflate
  const std::string accepted(alice.response()[http::field::sec_websocket_extensions]);
  CHECK(accepted.starts_with("permessage-deflate; server_no_context_takeover"));
  CHECK(accepted.find("client_no_context_takeover") != std::string::npos);
  CHECK(carol.response()[http::field::sec_websocket_extensions].empty());

  // Long (compressed) and short (sent as they are) messages, from every kind of sender;
  // Beast compresses what alice and bob send.
  for (int n = 0; n < 6; ++n) {
    Client& sender = n % 3 == 0 ? alice : n % 3 == 1 ? bob : carol;
    const std::string text = n % 2 == 0 ? long_text(n) : "short " + std::to_string(n);
    sender.send_message(text, "r" + std::to_string(n));
    for (Client* client : {&alice, &bob, &carol}) {
      if (client == &sender) {
        CHECK(str(client->next_of("ack"), "ref") == "r" + std::to_string(n));
        continue;
      }
      const json::object message = client->next_of("message");
      CHECK(str(message, "text") == text);
    }
  }
}

TEST_CASE("a compressed broadcast is one frame for all: RSV1, no trailer, the same bytes") {
  TestServer server(with_deflate());
  std::array<RawWsClient, 2> readers;
  for (RawWsClient& reader : readers) {
    REQUIRE(reader.upgrade(server.port(), "/ws/8?name=reader", std::string(k_offer)) == 101);
    CHECK(reader.extensions() ==
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  }
  RawWsClient plain;
  REQUIRE(plain.upgrade(server.port(), "/ws/8?name=plain") == 101);
  CHECK(plain.extensions().empty());
  WsClient sender;
  sender.join(server.port(), 8, "sender");
  const std::string text = long_text(1);
  sender.send_message(text, "r1");
  sender.next_of("ack");
  sender.close(); // the readers see its leave after the message

  const std::string close = client_frame(0x88, std::string("\x03\xe8", 2));
  std::vector<std::string> compressed;
  for (RawWsClient* client : {&readers[0], &readers[1], &plain}) {
    client->send(asio::buffer(close));
    client->read_until_end(k_io_timeout);
    const std::vector<WireFrame> frames = wire_frames(client->received());
    std::optional<WireFrame> message;
    for (const WireFrame& frame : frames) {
      if ((frame.first & 0x0F) != 0x1) continue;
      const bool rsv1 = (frame.first & 0x40) != 0;
      std::string payload = frame.payload;
      if (rsv1) {
        huddle::net::MessageInflater inflater;
        REQUIRE(inflater.inflate(payload, 1 << 20) == huddle::net::MessageInflater::Status::ok);
        payload = inflater.payload();
      }
      if (payload.find(R"("type":"message")") != std::string::npos) message = frame;
      if (!rsv1 && client != &plain) // welcome, presence: too short to compress
        CHECK(payload.size() < huddle::net::k_deflate_min_bytes);
    }
    REQUIRE(message);
    if (client == &plain) {
      CHECK(message->first == 0x81);
      CHECK(message->payload.find(text) != std::string::npos);
    } else {
      CHECK(message->first == 0xC1); // FIN, RSV1, text
      CHECK(message->payload.size() < text.size());
      CHECK(!message->payload.ends_with(std::string_view("\x00\x00\xff\xff", 4)));
      compressed.push_back(message->payload);
    }
  }
  REQUIRE(compressed.size() == 2);
  CHECK(compressed[0] == compressed[1]);
}

TEST_CASE("a deflate bomb is closed with 1009, an undecodable message with 1007") {
  huddle::ServerConfig config = with_deflate();
  TestServer server(config);
  // 10 MB of zeros compress to about 10 KB: under the 64 KiB limit on the wire, far over it
  // inflated.
  const std::string bomb = huddle::net::deflate_message(std::string(10 * 1024 * 1024, '\0'));
  REQUIRE(!bomb.empty());
  REQUIRE(bomb.size() < config.max_message_bytes);
  std::string extensions;
  CHECK(close_code(answer_to(server.port(), client_frame(0xC1, bomb), std::string(k_offer),
                             &extensions)) == 1009);
  CHECK(!extensions.empty());
  CHECK(close_code(answer_to(server.port(), client_frame(0xC2, bomb), std::string(k_offer))) ==
        1009); // binary too
  CHECK(close_code(answer_to(server.port(), client_frame(0xC1, "\xff\xff\xff\xff"),
                             std::string(k_offer))) == 1007);
  // Inflated text that is not UTF-8.
  const std::string not_utf8 = huddle::net::deflate_message(std::string(300, '\xff'));
  REQUIRE(!not_utf8.empty());
  CHECK(close_code(answer_to(server.port(), client_frame(0xC1, not_utf8), std::string(k_offer))) ==
        1007);
}

TEST_CASE("without --deflate, or without the extension, RSV1 is a protocol error (1002)") {
  const std::string compressed = huddle::net::deflate_message(long_text(2));
  {
    TestServer server; // --deflate off: the offer is not answered
    std::string extensions = "unset";
    CHECK(close_code(answer_to(server.port(), client_frame(0xC1, compressed), std::string(k_offer),
                               &extensions)) == 1002);
    CHECK(extensions.empty());
  }
  TestServer server(with_deflate());
  CHECK(close_code(answer_to(server.port(), client_frame(0xC1, compressed), "")) == 1002);
  // An invalid offer is declined, not echoed.
  std::string extensions = "unset";
  CHECK(close_code(answer_to(server.port(), client_frame(0xC1, compressed),
                             "permessage-deflate; client_max_window_bits=99", &extensions)) ==
        1002);
  CHECK(extensions.empty());
}
