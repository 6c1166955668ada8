// Test clients for the integration tests: a WebSocket client (Beast) and plain HTTP requests,
// each also over TLS (WssClient, http_call with a TLS context: client_tls()).
//
// Each client owns its own io_context and runs it only while one of its operations is
// pending, so a test reads like synchronous code. Every operation has a deadline (the
// tcp_stream's expiry, backed by io_context::run_for): a server that stays silent fails
// the test instead of hanging it. A timed-out WebSocket operation leaves the client
// unusable (its socket is closed), which is fine: a timeout is a failure.
//
// Blocking sockets with SO_RCVTIMEO would not do: Asio's synchronous reads poll() without
// a timeout when the kernel reports EAGAIN, so they would still wait forever.
//
// A WsClient may be used from one thread at a time; different clients may run in
// different threads (each has its own io_context).
//
// The clients' code is in ws_client.cpp, and BasicWsClient is instantiated there, once, for
// ws and wss (extern template below): instantiating Beast's websocket and HTTP client
// templates in every test file made most of the integration tests' compile time.
#pragma once

#include "test_certificates.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace huddle::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Long enough for a loaded CI machine; a healthy server answers in microseconds.
inline constexpr std::chrono::milliseconds k_io_timeout{5000};

inline tcp::endpoint local_endpoint(std::uint16_t port) {
  return {asio::ip::make_address_v4("127.0.0.1"), port};
}

// Starts an asynchronous operation with `start(handler)` and runs `io` until it completes
// or `timeout` passes; on the deadline the stream is closed, which fails the operation.
template <typename Start>
error_code run_with_deadline(asio::io_context& io, beast::tcp_stream& stream,
                             std::chrono::milliseconds timeout, Start start) {
  std::optional<error_code> result;
  stream.expires_after(timeout);
  start([&result](error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run_for(timeout + 1s); // the expiry normally fires first; this is the backstop
  if (!result) {
    stream.close();
    io.restart();
    io.run_for(1s);
  }
  stream.expires_never();
  return result.value_or(asio::error::timed_out);
}

// String and integer fields of a server frame; "" and -1 when absent or of another type.
inline std::string str(const json::object& frame, std::string_view key) {
  const json::value* v = frame.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}
inline std::int64_t num(const json::object& frame, std::string_view key) {
  const json::value* v = frame.if_contains(key);
  if (v == nullptr) return -1;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return -1;
}
inline std::vector<std::string> strings(const json::object& frame, std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = frame.if_contains(key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& item : v->get_array())
    out.push_back(item.is_string() ? std::string(item.get_string()) : json::serialize(item));
  return out;
}

inline std::optional<json::object> parse_object(std::string_view text) {
  error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.get_object();
}

// One frame read by a WsClient: an error (the connection ended) or a message.
struct Received {
  error_code ec;
  std::string text;
  bool binary = false;
};

// How a connection ended, from the client's side.
struct Ending {
  error_code ec;                    // websocket::error::closed after a close frame
  websocket::close_reason reason;   // the server's close frame, when there was one
  std::vector<json::object> frames; // what arrived before the end
};

// A TLS client context that trusts the test CA (TestCertificates' ca.pem) and verifies the
// server's name, as a browser would.
asio::ssl::context client_tls(const std::string& ca_file);

// The test CA's client context (TestCertificates' ca.pem), which every WssClient uses.
asio::ssl::context& test_client_tls();

// The TLS handshake of a client stream, verifying the server as "127.0.0.1".
error_code tls_handshake(asio::io_context& io, beast::ssl_stream<beast::tcp_stream>& stream);

// NextLayer: beast::tcp_stream (WsClient, ws://) or beast::ssl_stream of it (WssClient, wss://).
template <typename NextLayer> class BasicWsClient {
public:
  static constexpr bool k_tls = !std::is_same_v<NextLayer, beast::tcp_stream>;

  BasicWsClient() requires(!k_tls) : BasicWsClient(nullptr) {}
  explicit BasicWsClient(asio::ssl::context& tls = test_client_tls()) requires k_tls
      : BasicWsClient(&tls) {}
  BasicWsClient(const BasicWsClient&) = delete;
  BasicWsClient& operator=(const BasicWsClient&) = delete;
  ~BasicWsClient();

  // TCP connect plus upgrade to `target` (e.g. "/ws/7?name=alice"). `receive_buffer`
  // (bytes, 0: the default) shrinks the socket's receive window, so a client that does
  // not read makes the server's queue grow sooner.
  error_code connect(std::uint16_t port, const std::string& target, int receive_buffer = 0);

  // Connects to group `group` as `name` (plus `query`, e.g. "&echo=1") and reads the
  // welcome frame, which must come first; returns it.
  json::object join(std::uint16_t port, std::int64_t group, const std::string& name,
                    const std::string& query = {});

  Received read(std::chrono::milliseconds timeout = k_io_timeout);

  // The next frame, which must be a JSON object.
  json::object read_json(std::chrono::milliseconds timeout = k_io_timeout);

  // The next frame, which must have this "type".
  json::object expect(std::string_view type);

  // The next frame of this "type", skipping others (e.g. presence events that may come
  // between a message and its ack); the skipped frames are appended to `skipped`.
  json::object next_of(std::string_view type, std::vector<json::object>* skipped = nullptr);

  // Reads until the connection ends (or `timeout` passes for one read).
  Ending read_until_end(std::chrono::milliseconds timeout = k_io_timeout);

  error_code try_send(std::string_view text, bool binary = false);

  void send(std::string_view text);

  // Sends {"type":"message","text":text} with "ref" when given.
  void send_message(std::string_view text, std::optional<std::string_view> ref = std::nullopt);

  // A normal closing handshake, initiated by the client.
  error_code close(websocket::close_code code = websocket::close_code::normal);

  // Vanishes without a close frame: the socket is reset (SO_LINGER 0 sends RST), as when a
  // client's machine drops off the network or its process is killed.
  void abort();

  // Offers permessage-deflate at the next connect() (Beast's offer: client_max_window_bits),
  // and compresses what it sends when the server accepts.
  void offer_deflate();

  // A header for the upgrade request of the next connect() (e.g. Authorization, Cookie).
  void set_header(http::field field, std::string value);
  // The same for a field Beast has no enum for (X-Forwarded-For).
  void set_header(std::string name, std::string value);

  const websocket::response_type& response() const { return response_; }
  const websocket::close_reason& reason() const;

private:
  // The public constructors' work, out of line (clang 14 matches no out-of-line definition
  // of a constrained constructor with its declaration); `tls` is null for ws.
  explicit BasicWsClient(asio::ssl::context* tls);

  asio::io_context io_;
  websocket::stream<NextLayer> ws_;
  beast::flat_buffer buffer_;
  websocket::response_type response_;
  std::vector<std::pair<http::field, std::string>> headers_;
  std::vector<std::pair<std::string, std::string>> named_headers_;
};

extern template class BasicWsClient<beast::tcp_stream>;
extern template class BasicWsClient<beast::ssl_stream<beast::tcp_stream>>;

using WsClient = BasicWsClient<beast::tcp_stream>;
using WssClient = BasicWsClient<beast::ssl_stream<beast::tcp_stream>>;

// An HTTP request as a test over `Client`'s transport makes it: HTTPS next to WssClient.
template <typename Client> asio::ssl::context* tls_for() {
  if constexpr (Client::k_tls) return &test_client_tls();
  return nullptr;
}

// The answer to one HTTP request, with its body parsed when it is JSON.
struct HttpAnswer {
  error_code ec;
  http::response<http::string_body> response;
  std::optional<json::object> body;

  unsigned status() const { return response.result_int(); }
};

// What an HTTP request carries besides its target.
struct HttpCall {
  http::verb method = http::verb::get;
  std::vector<std::pair<http::field, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> named_headers; // e.g. X-Forwarded-For
  std::string body;
  bool upgrade = false; // the headers of a WebSocket upgrade (RFC 6455 §4.1)
};

// A one-shot HTTP/1.1 request on a fresh connection; with `tls`, HTTPS.
HttpAnswer http_call(std::uint16_t port, const std::string& target, const HttpCall& call,
                     asio::ssl::context* tls = nullptr);

HttpAnswer http_request(std::uint16_t port, const std::string& target, bool upgrade = false,
                        http::verb method = http::verb::get);

// A client that upgrades by hand on a raw TCP socket, then sends and reads bytes as they
// are: it sends what a WebSocket library would not, and never answers a ping (a Beast
// client would, while a read is pending).
class RawWsClient {
public:
  // Sends the upgrade request (offering `extensions` when not empty) and reads the 101
  // response.
  unsigned upgrade(std::uint16_t port, const std::string& target,
                   const std::string& extensions = {});

  // The 101's Sec-WebSocket-Extensions ("" without one).
  const std::string& extensions() const { return extensions_; }

  // Writes `bytes` as they are (frames built by hand).
  void send(asio::const_buffer bytes);

  // Reads raw bytes until the server ends the connection; returns how it ended and keeps
  // every byte received (the frames the server sent, unparsed).
  error_code read_until_end(std::chrono::milliseconds timeout);

  std::string received() const;

private:
  asio::io_context io_;
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
  std::string extensions_;
};

} // namespace huddle::test

// The names of test cases run over both transports (TEST_CASE_TEMPLATE).
TYPE_TO_STRING_AS("ws", huddle::test::WsClient);
TYPE_TO_STRING_AS("wss", huddle::test::WssClient);
