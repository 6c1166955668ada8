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
#pragma once

#include "test_certificates.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
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
inline asio::ssl::context client_tls(const std::string& ca_file) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.load_verify_file(ca_file);
  tls.set_verify_mode(asio::ssl::verify_peer);
  return tls;
}

// The test CA's client context (TestCertificates' ca.pem), which every WssClient uses.
inline asio::ssl::context& test_client_tls() {
  static asio::ssl::context tls = client_tls(TestCertificates::get().file("ca.pem"));
  return tls;
}

// The TLS handshake of a client stream, verifying the server as "127.0.0.1".
inline error_code tls_handshake(asio::io_context& io,
                                beast::ssl_stream<beast::tcp_stream>& stream) {
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  return run_with_deadline(io, beast::get_lowest_layer(stream), k_io_timeout, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
  });
}

// NextLayer: beast::tcp_stream (WsClient, ws://) or beast::ssl_stream of it (WssClient, wss://).
template <typename NextLayer> class BasicWsClient {
public:
  static constexpr bool k_tls = !std::is_same_v<NextLayer, beast::tcp_stream>;

  BasicWsClient() requires(!k_tls) : ws_(io_) {}
  explicit BasicWsClient(asio::ssl::context& tls = test_client_tls()) requires k_tls
      : ws_(io_, tls) {}
  BasicWsClient(const BasicWsClient&) = delete;
  BasicWsClient& operator=(const BasicWsClient&) = delete;
  ~BasicWsClient() { abort(); }

  // TCP connect plus upgrade to `target` (e.g. "/ws/7?name=alice"). `receive_buffer`
  // (bytes, 0: the default) shrinks the socket's receive window, so a client that does
  // not read makes the server's queue grow sooner.
  error_code connect(std::uint16_t port, const std::string& target, int receive_buffer = 0) {
    ws_.set_option(websocket::stream_base::decorator(
        [headers = headers_, named = named_headers_](websocket::request_type& request) {
          for (const auto& [field, value] : headers)
            request.set(field, value);
          for (const auto& [name, value] : named)
            request.set(name, value);
        }));
    auto& stream = beast::get_lowest_layer(ws_);
    error_code ec;
    if (receive_buffer > 0) {
      stream.socket().open(tcp::v4(), ec);
      if (ec) return ec;
      stream.socket().set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
      if (ec) return ec;
    }
    ec = run_with_deadline(io_, stream, k_io_timeout, [&](auto handler) {
      stream.async_connect(local_endpoint(port), std::move(handler));
    });
    if (ec) return ec;
    if constexpr (k_tls) {
      ec = tls_handshake(io_, ws_.next_layer());
      if (ec) return ec;
    }
    const std::string host = "127.0.0.1:" + std::to_string(port);
    return run_with_deadline(io_, stream, k_io_timeout, [&](auto handler) {
      ws_.async_handshake(response_, host, target, std::move(handler));
    });
  }

  // Connects to group `group` as `name` (plus `query`, e.g. "&echo=1") and reads the
  // welcome frame, which must come first; returns it.
  json::object join(std::uint16_t port, std::int64_t group, const std::string& name,
                    const std::string& query = {}) {
    const std::string target = "/ws/" + std::to_string(group) + "?name=" + name + query;
    const error_code ec = connect(port, target);
    REQUIRE_MESSAGE(!ec, "joining " << target << ": " << ec.message());
    json::object welcome = read_json();
    CHECK(str(welcome, "type") == "welcome");
    CHECK(num(welcome, "group") == group);
    CHECK(str(welcome, "user") == name);
    return welcome;
  }

  Received read(std::chrono::milliseconds timeout = k_io_timeout) {
    Received received;
    received.ec = run_with_deadline(io_, beast::get_lowest_layer(ws_), timeout, [&](auto handler) {
      ws_.async_read(buffer_, std::move(handler));
    });
    if (!received.ec) {
      received.text = beast::buffers_to_string(buffer_.data());
      received.binary = !ws_.got_text();
    }
    buffer_.consume(buffer_.size());
    return received;
  }

  // The next frame, which must be a JSON object.
  json::object read_json(std::chrono::milliseconds timeout = k_io_timeout) {
    const Received received = read(timeout);
    REQUIRE_MESSAGE(!received.ec, "read failed: " << received.ec.message() << " (close code "
                                                  << ws_.reason().code << ")");
    auto object = parse_object(received.text);
    REQUIRE_MESSAGE(object.has_value(), "not a JSON object: " << received.text);
    return std::move(*object);
  }

  // The next frame, which must have this "type".
  json::object expect(std::string_view type) {
    json::object frame = read_json();
    CHECK_MESSAGE(str(frame, "type") == type,
                  "expected a " << type << " frame, got " << json::serialize(frame));
    return frame;
  }

  // The next frame of this "type", skipping others (e.g. presence events that may come
  // between a message and its ack); the skipped frames are appended to `skipped`.
  json::object next_of(std::string_view type, std::vector<json::object>* skipped = nullptr) {
    for (;;) {
      json::object frame = read_json();
      if (str(frame, "type") == type) return frame;
      if (skipped != nullptr) skipped->push_back(std::move(frame));
    }
  }

  // Reads until the connection ends (or `timeout` passes for one read).
  Ending read_until_end(std::chrono::milliseconds timeout = k_io_timeout) {
    Ending ending;
    for (;;) {
      Received received = read(timeout);
      if (received.ec) {
        ending.ec = received.ec;
        ending.reason = ws_.reason();
        return ending;
      }
      if (auto object = parse_object(received.text)) ending.frames.push_back(std::move(*object));
    }
  }

  error_code try_send(std::string_view text, bool binary = false) {
    ws_.binary(binary);
    return run_with_deadline(io_, beast::get_lowest_layer(ws_), k_io_timeout, [&](auto handler) {
      ws_.async_write(asio::buffer(text.data(), text.size()), std::move(handler));
    });
  }

  void send(std::string_view text) {
    const error_code ec = try_send(text);
    REQUIRE_MESSAGE(!ec, "send failed: " << ec.message());
  }

  // Sends {"type":"message","text":text} with "ref" when given.
  void send_message(std::string_view text, std::optional<std::string_view> ref = std::nullopt) {
    json::object frame;
    frame["type"] = "message";
    frame["text"] = text;
    if (ref) frame["ref"] = *ref;
    send(json::serialize(frame));
  }

  // A normal closing handshake, initiated by the client.
  error_code close(websocket::close_code code = websocket::close_code::normal) {
    const websocket::close_reason reason(code);
    return run_with_deadline(io_, beast::get_lowest_layer(ws_), k_io_timeout,
                             [&](auto handler) { ws_.async_close(reason, std::move(handler)); });
  }

  // Vanishes without a close frame: the socket is reset (SO_LINGER 0 sends RST), as when a
  // client's machine drops off the network or its process is killed.
  void abort() {
    auto& socket = beast::get_lowest_layer(ws_).socket();
    if (!socket.is_open()) return;
    error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }

  // Offers permessage-deflate at the next connect() (Beast's offer: client_max_window_bits),
  // and compresses what it sends when the server accepts.
  void offer_deflate() {
    websocket::permessage_deflate options;
    options.client_enable = true;
    ws_.set_option(options);
  }

  // A header for the upgrade request of the next connect() (e.g. Authorization, Cookie).
  void set_header(http::field field, std::string value) {
    headers_.emplace_back(field, std::move(value));
  }
  // The same for a field Beast has no enum for (X-Forwarded-For).
  void set_header(std::string name, std::string value) {
    named_headers_.emplace_back(std::move(name), std::move(value));
  }

  const websocket::response_type& response() const { return response_; }
  const websocket::close_reason& reason() const { return ws_.reason(); }

private:
  asio::io_context io_;
  websocket::stream<NextLayer> ws_;
  beast::flat_buffer buffer_;
  websocket::response_type response_;
  std::vector<std::pair<http::field, std::string>> headers_;
  std::vector<std::pair<std::string, std::string>> named_headers_;
};

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

// One request and its answer on a connected stream (tcp_stream, or ssl_stream after the
// handshake).
template <typename Stream>
HttpAnswer http_exchange(asio::io_context& io, Stream& stream, std::uint16_t port,
                         const std::string& target, const HttpCall& call);

// A one-shot HTTP/1.1 request on a fresh connection; with `tls`, HTTPS.
inline HttpAnswer http_call(std::uint16_t port, const std::string& target, const HttpCall& call,
                            asio::ssl::context* tls = nullptr) {
  asio::io_context io;
  const auto connect = [&](beast::tcp_stream& stream) {
    return run_with_deadline(io, stream, k_io_timeout, [&](auto handler) {
      stream.async_connect(local_endpoint(port), std::move(handler));
    });
  };
  HttpAnswer answer;
  if (!tls) {
    beast::tcp_stream stream(io);
    answer.ec = connect(stream);
    return answer.ec ? answer : http_exchange(io, stream, port, target, call);
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, *tls);
  answer.ec = connect(beast::get_lowest_layer(stream));
  if (!answer.ec) answer.ec = tls_handshake(io, stream);
  return answer.ec ? answer : http_exchange(io, stream, port, target, call);
}

template <typename Stream>
HttpAnswer http_exchange(asio::io_context& io, Stream& stream, std::uint16_t port,
                         const std::string& target, const HttpCall& call) {
  HttpAnswer answer;
  http::request<http::string_body> request{call.method, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.keep_alive(false);
  if (call.upgrade) {
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    request.set(http::field::sec_websocket_version, "13");
  }
  for (const auto& [field, value] : call.headers)
    request.set(field, value);
  for (const auto& [name, value] : call.named_headers)
    request.set(name, value);
  request.body() = call.body;
  if (!call.body.empty() || call.method == http::verb::post) request.prepare_payload();
  auto& lowest = beast::get_lowest_layer(stream);
  answer.ec = run_with_deadline(io, lowest, k_io_timeout, [&](auto handler) {
    http::async_write(stream, request, std::move(handler));
  });
  if (answer.ec) return answer;
  beast::flat_buffer buffer;
  answer.ec = run_with_deadline(io, lowest, k_io_timeout, [&](auto handler) {
    http::async_read(stream, buffer, answer.response, std::move(handler));
  });
  if (!answer.ec) answer.body = parse_object(answer.response.body());
  return answer;
}

inline HttpAnswer http_request(std::uint16_t port, const std::string& target, bool upgrade = false,
                               http::verb method = http::verb::get) {
  HttpCall call;
  call.method = method;
  call.upgrade = upgrade;
  return http_call(port, target, call);
}

// A client that upgrades by hand on a raw TCP socket, then sends and reads bytes as they
// are: it sends what a WebSocket library would not, and never answers a ping (a Beast
// client would, while a read is pending).
class RawWsClient {
public:
  // Sends the upgrade request (offering `extensions` when not empty) and reads the 101
  // response.
  unsigned upgrade(std::uint16_t port, const std::string& target,
                   const std::string& extensions = {}) {
    error_code ec = run_with_deadline(io_, stream_, k_io_timeout, [&](auto handler) {
      stream_.async_connect(local_endpoint(port), std::move(handler));
    });
    REQUIRE_MESSAGE(!ec, ec.message());
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    request.set(http::field::sec_websocket_version, "13");
    if (!extensions.empty()) request.set(http::field::sec_websocket_extensions, extensions);
    ec = run_with_deadline(io_, stream_, k_io_timeout, [&](auto handler) {
      http::async_write(stream_, request, std::move(handler));
    });
    REQUIRE_MESSAGE(!ec, ec.message());
    http::response_parser<http::empty_body> parser;
    ec = run_with_deadline(io_, stream_, k_io_timeout, [&](auto handler) {
      http::async_read_header(stream_, buffer_, parser, std::move(handler));
    });
    REQUIRE_MESSAGE(!ec, ec.message());
    extensions_ = parser.get()[http::field::sec_websocket_extensions];
    return parser.get().result_int();
  }

  // The 101's Sec-WebSocket-Extensions ("" without one).
  const std::string& extensions() const { return extensions_; }

  // Writes `bytes` as they are (frames built by hand).
  void send(asio::const_buffer bytes) {
    const error_code ec = run_with_deadline(io_, stream_, k_io_timeout, [&](auto handler) {
      asio::async_write(stream_, bytes, std::move(handler));
    });
    REQUIRE_MESSAGE(!ec, ec.message());
  }

  // Reads raw bytes until the server ends the connection; returns how it ended and keeps
  // every byte received (the frames the server sent, unparsed).
  error_code read_until_end(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return asio::error::timed_out;
      auto space = buffer_.prepare(4096);
      std::size_t got = 0;
      const error_code ec = run_with_deadline(io_, stream_, left, [&](auto handler) {
        stream_.async_read_some(
            space, [&got, handler = std::move(handler)](error_code e, std::size_t n) mutable {
              got = n;
              handler(e);
            });
      });
      buffer_.commit(got);
      if (ec) return ec;
    }
  }

  std::string received() const { return beast::buffers_to_string(buffer_.data()); }

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
