// Unit tests of the HTTP routing (src/net/http_session.cpp through net/http_routes.hpp): raw
// requests parsed by Beast as a connection parses them, routed by a ServerState with an
// in-memory database, no sockets. The cases are inputs the fuzz target
// test/fuzz/http_route_fuzz.cpp found (docs/fuzzing.md).
#include "net/http_routes.hpp"
#include "net/server_state.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace huddle::net;

struct Routes {
  asio::io_context io;
  std::shared_ptr<ServerState> state =
      std::make_shared<ServerState>(io.get_executor(), huddle::ServerConfig{});

  // The response to one raw request (which must parse: the server answers those that do not
  // with its own 400).
  Response respond(std::string_view raw) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(k_max_request_body);
    boost::system::error_code ec;
    parser.put(asio::buffer(raw.data(), raw.size()), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parser.is_done());
    const Request request = parser.release();
    std::optional<Response> response;
    asio::co_spawn(io, route(request, *state, "127.0.0.1"),
                   [&response](std::exception_ptr error, Response answer) {
                     if (error) std::rethrow_exception(error);
                     response = std::move(answer);
                   });
    io.restart();
    io.run();
    REQUIRE(response);
    return std::move(*response);
  }
};

// The error body, which must parse as JSON (Boost.JSON also checks it is UTF-8).
json::object error_body(const Response& response) {
  CHECK(response[http::field::content_type] == "application/json");
  boost::system::error_code ec;
  json::value body = json::parse(response.body(), ec);
  INFO("body: ", response.body());
  REQUIRE_FALSE(ec);
  REQUIRE(body.is_object());
  return body.as_object();
}

std::string field(const json::object& body, std::string_view name) {
  return std::string(body.at(name).as_string());
}

} // namespace

TEST_CASE("a path that is not UTF-8 is quoted in the 404 as valid JSON") {
  Routes routes;
  // http_route_fuzz: `GET /health\xe7`. Beast accepts any byte above 0x7F in a target, and
  // the 404's detail quoted it as it was.
  const Response response = routes.respond("GET /health\xe7 HTTP/1.1\r\nHost: lo\r\n\r\n");
  CHECK(response.result() == http::status::not_found);
  const json::object body = error_body(response);
  CHECK(field(body, "error") == "not_found");
  CHECK(field(body, "detail") == "no route for /health\xEF\xBF\xBD"); // U+FFFD
}

TEST_CASE("a quoted path cut inside a UTF-8 character is still valid JSON") {
  Routes routes;
  // The 404 quotes 200 bytes of the path: here the cut falls inside "é" (C3 A9).
  const std::string path = "/" + std::string(198, 'a') + "\xC3\xA9";
  const Response response = routes.respond("GET " + path + " HTTP/1.1\r\nHost: lo\r\n\r\n");
  CHECK(response.result() == http::status::not_found);
  CHECK(field(error_body(response), "detail") ==
        "no route for /" + std::string(198, 'a') + "\xEF\xBF\xBD");
}

TEST_CASE("a group id that is not UTF-8 is quoted in the 400 as valid JSON") {
  Routes routes;
  const Response response =
      routes.respond("GET /api/groups/1\xF0\x9F/messages HTTP/1.1\r\nHost: lo\r\n\r\n");
  CHECK(response.result() == http::status::bad_request);
  const json::object body = error_body(response);
  CHECK(field(body, "error") == "bad_group");
  // Two replacements: F0 opens a 4-byte sequence the group id ends inside of; 9F then
  // stands alone.
  CHECK(field(body, "detail").ends_with("\"1\xEF\xBF\xBD\xEF\xBF\xBD\""));
}

TEST_CASE("valid UTF-8 in a quoted path is kept as it is") {
  Routes routes;
  const Response response =
      routes.respond("GET /caf\xC3\xA9/\xF0\x9F\x91\x8B HTTP/1.1\r\nHost: lo\r\n\r\n");
  CHECK(field(error_body(response), "detail") == "no route for /caf\xC3\xA9/\xF0\x9F\x91\x8B");
}
