// libFuzzer target: HTTP requests as a connection reads and routes them. The bytes of one
// connection go through Beast's request parser (with the server's body limit) over an
// in-memory stream, one keep-alive request after another, into the server's own routing
// (net/http_routes.hpp: route() for every request, parse_ws_target() and check_upgrade() for
// an upgrade, which stops there as the server hands over to a session), and each response
// is written back as the server writes it. Every input is served twice, by a ServerState
// with AuthMode::none and by one with AuthMode::builtin, both with in-memory databases; the
// builtin one signs with a fixed secret so seed tokens verify (test/fuzz/corpus/make_seeds.py).
// Checked beyond "no crash": no exception escapes a route, no request is a 500 (nothing can
// fail in memory), and every JSON body is valid JSON (UTF-8 included).
#include "core/use_tuple.hpp"
#include "net/http_response.hpp"
#include "net/http_routes.hpp"
#include "net/server_state.hpp"
#include "net/target.hpp"
#include "net/ws_session.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = huddle::net;
using huddle::use_tuple;

// The seeds' tokens are signed with this (HS256).
constexpr std::string_view k_secret =
    "fuzzing-secret-0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string k_peer_address = "192.0.2.1";

struct Servers {
  asio::io_context io;
  std::shared_ptr<net::ServerState> open;
  std::shared_ptr<net::ServerState> accounts;
};

// Made once and never destroyed: the states' threads outlive every input, and libFuzzer
// exits without unwinding.
Servers& servers() {
  static Servers* instance = [] {
    auto* made = new Servers;
    // Routes log refusals (failed logins): not what a fuzzing run wants on its terminal.
    huddle::ServerConfig open;
    open.logger = huddle::make_null_logger();
    made->open = std::make_shared<net::ServerState>(made->io.get_executor(), open);

    char dir_template[] = "/tmp/huddle-fuzz-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) std::abort();
    const std::filesystem::path secret_file = std::filesystem::path(dir_template) / "secret";
    std::ofstream(secret_file) << k_secret;
    huddle::ServerConfig accounts;
    accounts.logger = open.logger;
    accounts.auth = huddle::AuthMode::builtin;
    accounts.jwt_secret_file = secret_file.string();
    made->accounts = std::make_shared<net::ServerState>(made->io.get_executor(), accounts);
    std::filesystem::remove_all(dir_template); // read by the constructor
    return made;
  }();
  return *instance;
}

void check_response(const net::Response& response) {
  if (response.result() == http::status::internal_server_error) std::abort();
  if (response[http::field::content_type] != "application/json") return;
  boost::system::error_code ec;
  (void)boost::json::parse(response.body(), ec);
  if (ec) {
    std::fprintf(stderr, "not JSON (%s): %s\n", ec.message().c_str(), response.body().c_str());
    std::abort();
  }
}

// run_http_session()'s loop (net/http_session.cpp) over `stream`, without the socket's
// timeouts and the session it would start.
asio::awaitable<void> connection(beast::test::stream& stream, net::ServerState& state) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(net::request_body_limit(state.config()));
    auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (read_error == http::error::end_of_stream || read_error == asio::error::eof) co_return;
    net::Request request = parser.release();
    net::Response response;
    if (read_error) {
      request.version(11);
      request.keep_alive(false);
      response = net::json_error(request, net::HttpError::bad_request, read_error.message());
    } else if (request.target().starts_with(net::k_ws_prefix) &&
               beast::websocket::is_upgrade(request)) {
      auto parsed = net::parse_ws_target(request.target());
      if (auto* error = std::get_if<net::TargetError>(&parsed)) {
        response = net::json_error(request, error->code, error->detail);
      } else {
        std::string user;
        net::SessionAccess access;
        auto refusal = co_await net::check_upgrade(request, state, std::get<net::WsTarget>(parsed),
                                                   user, access);
        if (!refusal) co_return; // the server would start a session now
        response = std::move(*refusal);
      }
      response.keep_alive(false);
    } else {
      response = co_await net::route(request, state, k_peer_address);
    }
    check_response(response);
    auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
    if (write_error || !response.keep_alive()) co_return;
  }
}

void serve(Servers& all, net::ServerState& state, std::string_view bytes) {
  beast::test::stream client(all.io);
  beast::test::stream server(all.io);
  server.connect(client); // responses land in `client`, unread
  server.append(bytes);
  server.close_remote(); // after those bytes, the client is gone (EOF)
  bool done = false;
  asio::co_spawn(all.io, connection(server, state), [&done](std::exception_ptr error) {
    if (error) std::rethrow_exception(error); // a route threw: the server would answer 500
    done = true;
  });
  all.io.restart();
  all.io.run();
  if (!done) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)servers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Servers& all = servers();
  serve(all, *all.open, bytes);
  serve(all, *all.accounts, bytes);
  return 0;
}
