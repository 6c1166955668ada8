// The server's side of the opening handshake (RFC 6455 §4.2): which upgrade requests are
// refused and how, and the accept key. That real clients take the 101 is checked by the
// integration (Beast), interop (python3-websockets) and browser (Chromium) suites.
#include "net/ws_handshake.hpp"

#include <doctest/doctest.h>

namespace http = boost::beast::http;
using huddle::net::accept_extensions;
using huddle::net::accept_response;
using huddle::net::refuse_handshake;
using huddle::net::Request;
using huddle::net::websocket_accept;

namespace {

Request upgrade() {
  Request request(http::verb::get, "/ws/1", 11);
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  return request;
}

} // namespace

TEST_CASE("the accept key is base64(SHA-1(key + GUID)): RFC 6455 §1.3's own example") {
  CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("the 101 response switches to websocket with that key") {
  const std::string response = accept_response(upgrade());
  CHECK(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  CHECK(response.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(response.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(response.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
        std::string::npos);
  CHECK(response.ends_with("\r\n\r\n"));
}

TEST_CASE("permessage-deflate is answered only with --deflate, over all the offer lines") {
  Request request = upgrade();
  CHECK(!accept_extensions(request, true)); // no offer
  request.insert(http::field::sec_websocket_extensions, "x-webkit-deflate-frame");
  request.insert(http::field::sec_websocket_extensions,
                 "permessage-deflate; client_max_window_bits=99, permessage-deflate");
  CHECK(!accept_extensions(request, false)); // off: served as without it
  const auto extensions = accept_extensions(request, true);
  REQUIRE(extensions);
  CHECK(*extensions ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  const std::string response = accept_response(request, *extensions);
  CHECK(response.find("\r\nSec-WebSocket-Extensions: " + *extensions + "\r\n") !=
        std::string::npos);
  CHECK(response.ends_with("\r\n\r\n"));
  CHECK(accept_response(request).find("Extensions") == std::string::npos);
}

TEST_CASE("a valid version-13 upgrade is not refused") {
  CHECK_FALSE(refuse_handshake(upgrade()).has_value());
}

TEST_CASE("refusals: 400 for a bad method, HTTP version or key; 426 naming version 13") {
  Request post = upgrade();
  post.method(http::verb::post);
  Request http10 = upgrade();
  http10.version(10);
  Request no_key = upgrade();
  no_key.erase(http::field::sec_websocket_key);
  Request short_key = upgrade();
  short_key.set(http::field::sec_websocket_key, "c2hvcnQ=");
  Request bad_symbol = upgrade();
  bad_symbol.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZ*==");
  for (const Request* request : {&post, &http10, &no_key, &short_key, &bad_symbol}) {
    const auto refused = refuse_handshake(*request);
    REQUIRE(refused.has_value());
    CHECK(refused->result() == http::status::bad_request);
    CHECK(refused->body().find("\"bad_handshake\"") != std::string::npos);
  }

  Request old_version = upgrade();
  old_version.set(http::field::sec_websocket_version, "8");
  Request no_version = upgrade();
  no_version.erase(http::field::sec_websocket_version);
  for (const Request* request : {&old_version, &no_version}) {
    const auto refused = refuse_handshake(*request);
    REQUIRE(refused.has_value());
    CHECK(refused->result() == http::status::upgrade_required);
    CHECK((*refused)[http::field::sec_websocket_version] == "13");
  }
}
