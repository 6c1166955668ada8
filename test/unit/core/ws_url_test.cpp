// Unit tests of parse_ws_url (src/core/ws_url.{hpp,cpp}): what `huddle chat` and huddle-load
// connect to for a ws:// or wss:// URL, and the message for each way a URL can be wrong.
#include "core/ws_url.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using huddle::core::parse_ws_url;
using huddle::core::WsUrl;

namespace {

// The message parse_ws_url refuses `url` with; empty when it accepts it.
std::string refusal(std::string const& url) {
  try {
    parse_ws_url(url);
  } catch (std::invalid_argument const& e) {
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("ws:// and wss:// give the host, the port and the request target") {
  WsUrl const plain = parse_ws_url("ws://127.0.0.1:8080/ws/7");
  CHECK_FALSE(plain.tls);
  CHECK(plain.host == "127.0.0.1");
  CHECK(plain.port == 8080);
  CHECK(plain.target == "/ws/7");
  CHECK(plain.host_header() == "127.0.0.1:8080");
  CHECK(plain.authority() == "127.0.0.1:8080");

  WsUrl const tls = parse_ws_url("wss://chat.example.org:8443/ws/7?since=41&echo=1");
  CHECK(tls.tls);
  CHECK(tls.host == "chat.example.org");
  CHECK(tls.port == 8443);
  CHECK(tls.target == "/ws/7?since=41&echo=1");
}

TEST_CASE("the port defaults to the scheme's, and the Host header leaves a default port out") {
  CHECK(parse_ws_url("ws://h/ws/1").port == 80);
  CHECK(parse_ws_url("wss://h/ws/1").port == 443);
  CHECK(parse_ws_url("ws://h/ws/1").host_header() == "h");
  CHECK(parse_ws_url("wss://h:443/ws/1").host_header() == "h");
  CHECK(parse_ws_url("wss://h:80/ws/1").host_header() == "h:80");
  CHECK(parse_ws_url("ws://h:443/ws/1").host_header() == "h:443");
  CHECK(parse_ws_url("wss://h/ws/1").authority() == "h:443");
}

TEST_CASE("schemes are case-insensitive; no path is \"/\"; the query is kept") {
  CHECK(parse_ws_url("WSS://h:1").tls);
  CHECK(parse_ws_url("Ws://h:1").port == 1);
  CHECK(parse_ws_url("ws://h:1").target == "/");
  CHECK(parse_ws_url("ws://h:1?x=1").target == "/?x=1");
  CHECK(parse_ws_url("ws://h:1/ws/1?").target == "/ws/1?");
}

TEST_CASE("an IPv6 host is given without brackets, and bracketed where a port follows") {
  WsUrl const url = parse_ws_url("ws://[::1]:9000/ws/2");
  CHECK(url.host == "::1");
  CHECK(url.port == 9000);
  CHECK(url.host_header() == "[::1]:9000");
  CHECK(url.authority() == "[::1]:9000");
  CHECK(parse_ws_url("wss://[2001:db8::1]/ws/2").host_header() == "[2001:db8::1]");
}

TEST_CASE("percent-encoding: decoded in the host, kept in the target") {
  WsUrl const url = parse_ws_url("ws://ex%61mple.org/ws/1?name=a%20b");
  CHECK(url.host == "example.org");
  CHECK(url.target == "/ws/1?name=a%20b");
}

TEST_CASE("each wrong URL is refused with what is wrong") {
  struct Case {
    std::string url;
    std::string says;
  };
  for (auto const& c : {
           Case{"", "empty"},
           Case{"127.0.0.1:8080/ws/1", "ws:// or wss://"},
           Case{"http://h/ws/1", "scheme \"http\""},
           Case{"https://h/ws/1", "not ws or wss"},
           Case{"localhost:8080/ws/1", "scheme \"localhost\""},
           Case{"ws:///ws/1", "no host"},
           Case{"ws:/ws/1", "no host"},
           Case{"ws://:8080/ws/1", "no host"},
           Case{"ws://h:0/ws/1", "port \"0\""},
           Case{"ws://h:65536/ws/1", "port \"65536\""},
           Case{"ws://h:/ws/1", "port \"\""},
           Case{"ws://h:80a/ws/1", "port \"80a\""},
           Case{"ws://[::1]:x/ws/1", "port \"x\""},
           Case{"ws://::1/ws/1", "IPv6 address without brackets"},
           Case{"ws://[::1/ws/1", "not a URL of the form ws://HOST[:PORT]/PATH"},
           Case{"ws://[::1]x/ws/1", "malformed host"},
           Case{"ws://alice:secret@h/ws/1", "user information"},
           Case{"ws://h/ws/1#top", "fragment"},
           Case{"ws://h/ws/{group}", "position 11"},
           Case{"ws://h/ws/a b", "position 12"},
           Case{"ws://[v1.x]/ws/1", "IPvFuture"},
       }) {
    CAPTURE(c.url);
    std::string const message = refusal(c.url);
    CAPTURE(message);
    CHECK(message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("a refusal does not repeat the URL, so a password in it is not echoed") {
  CHECK(refusal("ws://alice:secret@h/ws/1").find("secret") == std::string::npos);
}
