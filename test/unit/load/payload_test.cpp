#include "load/payload.hpp"

#include "load/envelope.hpp"

#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace huddle::load;
namespace json = boost::json;

namespace {

// Bytes `text` takes deflated on its own (zlib level 6, 15-bit window, no context kept):
// what a server without context takeover sends for it.
std::size_t deflated_size(std::string const& text) {
  boost::beast::zlib::deflate_stream deflate;
  deflate.reset(6, 15, 8, boost::beast::zlib::Strategy::normal);
  std::vector<unsigned char> out(text.size() + 64);
  boost::beast::zlib::z_params z;
  z.next_in = text.data();
  z.avail_in = text.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  boost::system::error_code ec;
  deflate.write(z, boost::beast::zlib::Flush::full, ec);
  REQUIRE_FALSE(ec);
  return out.size() - z.avail_out;
}

std::string document(Marker const& m, std::size_t size, std::uint64_t seed = 1) {
  std::string out;
  make_json_document(out, m, size, seed);
  return out;
}

} // namespace

TEST_CASE("a json document is valid JSON of exactly --size bytes, with the marker as a field") {
  for (std::size_t const size :
       {k_json_payload_min_size, std::size_t{321}, std::size_t{600}, std::size_t{4096}}) {
    for (std::uint32_t seq = 0; seq < 300; ++seq) {
      // Markers of the longest kind too: with the longest drawn fields, they must still fit.
      for (Marker const& marker : {Marker{seq % 7, seq, 1'000'000ULL * seq},
                                   Marker{UINT32_MAX - seq, UINT64_MAX - seq, UINT64_MAX}}) {
        auto const doc = document(marker, size);
        CAPTURE(doc);
        REQUIRE(doc.size() == size);
        json::value const parsed = json::parse(doc);
        auto const& object = parsed.as_object();
        CHECK(parse_marker(object.at("client_msg_id").as_string()) == marker);
        CHECK(object.at("user").as_object().at("name").as_string().size() >= 3);
        // The text is what the rest of --size leaves, at least a few words.
        CHECK(object.at("text").as_string().size() >= 30);
        bool const plain = std::all_of(doc.begin(), doc.end(),
                                       [](char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
        CHECK(plain);
      }
    }
  }
}

TEST_CASE("json documents differ from message to message; a sender stays one user") {
  std::set<std::string> documents;
  std::set<std::string> texts;
  std::set<std::string> words;
  std::set<std::string> users;
  for (std::uint32_t sender = 0; sender < 4; ++sender) {
    std::string user;
    for (std::uint64_t seq = 0; seq < 50; ++seq) {
      // The same send time for all: what differs comes from (seed, sender, seq).
      auto const doc = document(Marker{sender, seq, 5'000'000}, 600);
      documents.insert(doc);
      auto const parsed = json::parse(doc);
      std::string const text(parsed.at("text").as_string());
      texts.insert(text);
      std::istringstream in(text);
      for (std::string word; in >> word;)
        words.insert(word);
      std::string const this_user = json::serialize(parsed.at("user"));
      if (seq == 0) user = this_user;
      CHECK(this_user == user);
    }
    users.insert(user);
  }
  CHECK(documents.size() == 200);
  CHECK(texts.size() == 200);
  CHECK(users.size() == 4);
  CHECK(words.size() >= 100); // sentences from the word list, not one phrase repeated
}

TEST_CASE("json documents are the same for a seed and differ between seeds") {
  Marker const m{2, 9, 123'456'789};
  CHECK(document(m, 600, 1) == document(m, 600, 1));
  CHECK(document(m, 600, 1) != document(m, 600, 2));
}

TEST_CASE("a json document compresses like text, not like padding") {
  // Padding is a repeated alphabet: deflate shrinks it to a small fraction, which no real
  // message does. A document should shrink, but to no less than a third of its size.
  std::string padding;
  make_payload(padding, Marker{1, 2, 3}, 600);
  CHECK(deflated_size(padding) * 8 < padding.size());
  for (std::uint64_t seq = 0; seq < 20; ++seq) {
    auto const doc = document(Marker{1, seq, 1'000'000 * seq}, 600);
    auto const deflated = deflated_size(doc);
    CAPTURE(deflated);
    CHECK(deflated * 3 > doc.size());
    CHECK(deflated < doc.size());
  }
}

TEST_CASE("a json payload is sent as a v1 message whose text is the document") {
  PayloadMaker maker(PayloadKind::json, 600, 1);
  Marker const m{3, 7, 1000};
  std::string const frame = maker.make(m);
  auto const parsed = json::parse(frame).as_object();
  CHECK(parsed.at("type").as_string() == "message");
  CHECK(parsed.at("text").as_string() == document(m, 600));

  // As huddle relays it: the document escaped inside the envelope. The marker is found
  // once, and the envelope's own keys are not confused by the document's.
  std::string const envelope = json::serialize(json::object{
      {"type", "message"}, {"group", 7}, {"id", 42}, {"from", "u3"}, {"text", document(m, 600)}});
  MarkerScanner scanner(envelope);
  CHECK(scanner.next() == m);
  CHECK_FALSE(scanner.next());
  CHECK(scanner.malformed() == 0);
  CHECK(message_id(envelope) == 42u);
  // Relayed as is (a raw relay): the frame still carries it.
  MarkerScanner raw(frame);
  CHECK(raw.next() == m);
}

TEST_CASE("the padding payload is the marker and padding, as before --payload") {
  PayloadMaker maker(PayloadKind::padding, 128, 1);
  Marker const m{3, 7, 1000};
  std::string expected;
  make_payload(expected, m, 128);
  CHECK(maker.make(m) == expected);
}

TEST_CASE("payload kinds by name") {
  PayloadKind kind = PayloadKind::padding;
  CHECK(parse_payload_kind("json", kind));
  CHECK(kind == PayloadKind::json);
  CHECK(payload_kind_name(kind) == "json");
  CHECK(parse_payload_kind("padding", kind));
  CHECK(kind == PayloadKind::padding);
  CHECK_FALSE(parse_payload_kind("JSON", kind));
  CHECK_FALSE(parse_payload_kind("", kind));
}
