// permessage-deflate, sans I/O (RFC 7692): the Sec-WebSocket-Extensions grammar, which offers
// the server accepts and what it answers, and the compression and bounded inflation of one
// message. That real clients take the answer and the frames is checked by the integration
// (Beast) and interop (python3-websockets) suites.
#include "net/permessage_deflate.hpp"

#include "net/frame_reader.hpp"

#include <zlib.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>

using huddle::net::deflate_message;
using huddle::net::ExtensionOffer;
using huddle::net::k_deflate_min_bytes;
using huddle::net::MessageInflater;
using huddle::net::negotiate_deflate;
using huddle::net::parse_extension_offers;
using Status = MessageInflater::Status;

namespace {

constexpr std::string_view k_accepted =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

// A realistic protocol frame, long enough to be compressed.
std::string chat_frame(int id) {
  return R"({"type":"message","group":7,"id":)" + std::to_string(id) +
         R"(,"from":"alice","text":"the quarterly numbers are in, and the quarterly numbers )"
         R"(look good: see the quarterly report","ts":1764000000123})";
}

// `text` compressed by zlib with `flush` (raw deflate, a 15-bit window), as a client might.
std::string raw_deflate(std::string_view text, int flush) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&stream, text.size()) + 16, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, flush);
  REQUIRE((result == Z_OK || result == Z_STREAM_END));
  out.resize(out.size() - stream.avail_out);
  deflateEnd(&stream);
  return out;
}

const std::string_view k_trailer("\x00\x00\xff\xff", 4);

} // namespace

TEST_CASE("Sec-WebSocket-Extensions: several offers, parameters with and without values") {
  const auto offers = parse_extension_offers(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=10 ,, "
      "x-webkit-deflate-frame,permessage-deflate;client_max_window_bits=\"1\\5\"\t; a = b");
  REQUIRE(offers);
  REQUIRE(offers->size() == 3);
  const ExtensionOffer& first = (*offers)[0];
  CHECK(first.name == "permessage-deflate");
  REQUIRE(first.parameters.size() == 2);
  CHECK(first.parameters[0].name == "client_max_window_bits");
  CHECK(!first.parameters[0].value);
  CHECK(first.parameters[1].name == "server_max_window_bits");
  CHECK(first.parameters[1].value == "10");
  CHECK((*offers)[1].name == "x-webkit-deflate-frame");
  CHECK((*offers)[1].parameters.empty());
  const ExtensionOffer& third = (*offers)[2];
  REQUIRE(third.parameters.size() == 2);
  CHECK(third.parameters[0].value == "15"); // a quoted-string, its quoted-pair unquoted
  CHECK(third.parameters[1].name == "a");
  CHECK(third.parameters[1].value == "b");
  CHECK(parse_extension_offers("")->empty());
}

TEST_CASE("a header that breaks the grammar yields no offers at all") {
  for (const std::string_view bad :
       {"permessage-deflate;", "permessage-deflate; =1", "; a", "permessage-deflate; a=",
        "permessage-deflate; a=\"15", "permessage-deflate; a=\"1\\", "permessage deflate",
        "permessage-deflate; a=b c", "permessage-deflate; a=\"\x01\"", "perm(essage"}) {
    CAPTURE(bad);
    CHECK(!parse_extension_offers(bad));
    CHECK(!negotiate_deflate(bad));
  }
}

TEST_CASE("acceptable offers: the answer always asks for no context takeover either way") {
  for (const std::string_view offer :
       {"permessage-deflate",                         // Firefox
        "permessage-deflate; client_max_window_bits", // Chromium, python websockets
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; client_max_window_bits=\"10\"",
        "x-webkit-deflate-frame, permessage-deflate", "foo; bar=1, permessage-deflate"}) {
    CAPTURE(offer);
    CHECK(negotiate_deflate(offer) == k_accepted);
  }
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits=15") ==
        std::string(k_accepted) + "; server_max_window_bits=15");
}

TEST_CASE("invalid offers are declined, not echoed") {
  for (const std::string_view offer :
       {"permessage-deflate; client_max_window_bits=99",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=ten",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; server_max_window_bits",    // a value is required
        "permessage-deflate; server_max_window_bits=10", // smaller than the shared window
        "permessage-deflate; server_max_window_bits=99",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"", "permessage-deflate; mystery",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
        "x-webkit-deflate-frame", "Permessage-Deflate-Not", "foo"}) {
    CAPTURE(offer);
    CHECK(!negotiate_deflate(offer));
  }
}

TEST_CASE("the first acceptable offer is taken: a declined one is skipped") {
  CHECK(negotiate_deflate("permessage-deflate; server_max_window_bits=9, "
                          "permessage-deflate; client_max_window_bits=99, "
                          "permessage-deflate; server_max_window_bits=15, "
                          "permessage-deflate") ==
        std::string(k_accepted) + "; server_max_window_bits=15");
}

TEST_CASE("a compressed message has no 00 00 ff ff trailer, and inflates back") {
  const std::string text = chat_frame(42);
  const std::string compressed = deflate_message(text);
  REQUIRE(!compressed.empty());
  CHECK(compressed.size() < text.size());
  CHECK(!compressed.ends_with(k_trailer)); // RFC 7692 §7.2.1
  // What zlib itself makes, trailer removed: the same stream.
  const std::string by_zlib = raw_deflate(text, Z_SYNC_FLUSH);
  REQUIRE(by_zlib.ends_with(k_trailer));
  MessageInflater inflater;
  REQUIRE(inflater.inflate(compressed, 64 * 1024) == Status::ok);
  CHECK(inflater.payload() == text);
  // No context carries over: the same text compresses the same the second time.
  CHECK(deflate_message(text) == compressed);
}

TEST_CASE("frames that would not shrink are left uncompressed") {
  CHECK(deflate_message("").empty());
  CHECK(deflate_message("{}").empty());
  std::string noise; // random bytes: no repetition for deflate to use
  std::mt19937 random(42);
  while (noise.size() < 300)
    noise.push_back(static_cast<char>(random() & 0xFF));
  CHECK(deflate_message(noise).empty());
  CHECK(k_deflate_min_bytes > 0);
}

TEST_CASE("inflation is bounded by the limit on the inflated size: a deflate bomb stops there") {
  const std::string zeros(10 * 1024 * 1024, '\0'); // 10 MB that compress to about 10 KB
  const std::string bomb = deflate_message(zeros);
  REQUIRE(!bomb.empty());
  CHECK(bomb.size() < 20 * 1024);
  MessageInflater inflater;
  CHECK(inflater.inflate(bomb, 64 * 1024) == Status::too_big);
  CHECK(inflater.payload().size() <= 64 * 1024 + 1); // stopped one byte past the limit

  // Exactly at the limit is fine; one byte over is not.
  const std::string text = chat_frame(1);
  const std::string compressed = deflate_message(text);
  CHECK(inflater.inflate(compressed, text.size()) == Status::ok);
  CHECK(inflater.payload() == text);
  CHECK(inflater.inflate(compressed, text.size() - 1) == Status::too_big);

  // After a bomb the next message starts afresh.
  CHECK(inflater.inflate(compressed, 64 * 1024) == Status::ok);
  CHECK(inflater.payload() == text);
  inflater.shrink();
}

TEST_CASE("inflating messages as clients send them: many in a row, a final block, empty") {
  MessageInflater inflater;
  for (int id = 1; id <= 50; ++id) {
    const std::string text = chat_frame(id);
    std::string payload = raw_deflate(text, Z_SYNC_FLUSH);
    payload.resize(payload.size() - k_trailer.size());
    REQUIRE(inflater.inflate(payload, 64 * 1024) == Status::ok);
    CHECK(inflater.payload() == text);
  }
  // A client may end a message with a final block (BFINAL), trailer and all.
  const std::string text = chat_frame(7);
  REQUIRE(inflater.inflate(raw_deflate(text, Z_FINISH), 64 * 1024) == Status::ok);
  CHECK(inflater.payload() == text);
  // An empty message is an empty stored block, or nothing at all once the trailer is gone.
  CHECK(inflater.inflate(std::string_view("\x00", 1), 16) == Status::ok);
  CHECK(inflater.payload().empty());
  CHECK(inflater.inflate("", 16) == Status::ok);
  CHECK(inflater.payload().empty());
  // A big message, over the step the output grows by, within the limit.
  const std::string big(200 * 1024, 'x');
  REQUIRE(inflater.inflate(deflate_message(big), big.size()) == Status::ok);
  CHECK(inflater.payload() == big);
}

TEST_CASE("data that is not a deflate stream is refused") {
  MessageInflater inflater;
  CHECK(inflater.inflate("\xff\xff\xff\xff", 1024) == Status::invalid); // reserved block type
  CHECK(inflater.inflate("\x07garbage", 1024) == Status::invalid);
  // Anything after a final block.
  CHECK(inflater.inflate(raw_deflate("hello", Z_FINISH) + "xyz", 1024) == Status::invalid);
}

TEST_CASE("UTF-8 of inflated text is checked by the caller") {
  CHECK(huddle::net::is_valid_utf8("h\xc3\xa9llo"));
  CHECK(!huddle::net::is_valid_utf8("\xc3"));
  CHECK(!huddle::net::is_valid_utf8("\xff"));
}
