// The clients of ws_client.hpp, and BasicWsClient's one instantiation for ws and for wss.
#include "ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <doctest/doctest.h>

namespace huddle::test {

asio::ssl::context client_tls(const std::string& ca_file) {
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.load_verify_file(ca_file);
  tls.set_verify_mode(asio::ssl::verify_peer);
  return tls;
}

asio::ssl::context& test_client_tls() {
  static asio::ssl::context tls = client_tls(TestCertificates::get().file("ca.pem"));
  return tls;
}

error_code tls_handshake(asio::io_context& io, beast::ssl_stream<beast::tcp_stream>& stream) {
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  return run_with_deadline(io, beast::get_lowest_layer(stream), k_io_timeout, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
  });
}

namespace {

// The stream of a client over `io`, with `tls` for wss (returned as a prvalue: a member
// initialised from it is the same object).
template <typename NextLayer>
websocket::stream<NextLayer> client_stream(asio::io_context& io, asio::ssl::context* tls) {
  if constexpr (BasicWsClient<NextLayer>::k_tls)
    return websocket::stream<NextLayer>(io, *tls);
  else
    return websocket::stream<NextLayer>(io);
}

} // namespace

template <typename NextLayer>
BasicWsClient<NextLayer>::BasicWsClient(asio::ssl::context* tls)
    : ws_(client_stream<NextLayer>(io_, tls)) {}

template <typename NextLayer> BasicWsClient<NextLayer>::~BasicWsClient() {
  abort();
}

template <typename NextLayer>
error_code BasicWsClient<NextLayer>::connect(std::uint16_t port, const std::string& target,
                                             int receive_buffer) {
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

template <typename NextLayer>
json::object BasicWsClient<NextLayer>::join(std::uint16_t port, std::int64_t group,
                                            const std::string& name, const std::string& query) {
  const std::string target = "/ws/" + std::to_string(group) + "?name=" + name + query;
  const error_code ec = connect(port, target);
  REQUIRE_MESSAGE(!ec, "joining " << target << ": " << ec.message());
  json::object welcome = read_json();
  CHECK(str(welcome, "type") == "welcome");
  CHECK(num(welcome, "group") == group);
  CHECK(str(welcome, "user") == name);
  return welcome;
}

template <typename NextLayer>
Received BasicWsClient<NextLayer>::read(std::chrono::milliseconds timeout) {
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

template <typename NextLayer>
json::object BasicWsClient<NextLayer>::read_json(std::chrono::milliseconds timeout) {
  const Received received = read(timeout);
  REQUIRE_MESSAGE(!received.ec, "read failed: " << received.ec.message() << " (close code "
                                                << ws_.reason().code << ")");
  auto object = parse_object(received.text);
  REQUIRE_MESSAGE(object.has_value(), "not a JSON object: " << received.text);
  return std::move(*object);
}

template <typename NextLayer> json::object BasicWsClient<NextLayer>::expect(std::string_view type) {
  json::object frame = read_json();
  CHECK_MESSAGE(str(frame, "type") == type,
                "expected a " << type << " frame, got " << json::serialize(frame));
  return frame;
}

template <typename NextLayer>
json::object BasicWsClient<NextLayer>::next_of(std::string_view type,
                                               std::vector<json::object>* skipped) {
  for (;;) {
    json::object frame = read_json();
    if (str(frame, "type") == type) return frame;
    if (skipped != nullptr) skipped->push_back(std::move(frame));
  }
}

template <typename NextLayer>
Ending BasicWsClient<NextLayer>::read_until_end(std::chrono::milliseconds timeout) {
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

template <typename NextLayer>
error_code BasicWsClient<NextLayer>::try_send(std::string_view text, bool binary) {
  ws_.binary(binary);
  return run_with_deadline(io_, beast::get_lowest_layer(ws_), k_io_timeout, [&](auto handler) {
    ws_.async_write(asio::buffer(text.data(), text.size()), std::move(handler));
  });
}

template <typename NextLayer> void BasicWsClient<NextLayer>::send(std::string_view text) {
  const error_code ec = try_send(text);
  REQUIRE_MESSAGE(!ec, "send failed: " << ec.message());
}

template <typename NextLayer>
void BasicWsClient<NextLayer>::send_message(std::string_view text,
                                            std::optional<std::string_view> ref) {
  json::object frame;
  frame["type"] = "message";
  frame["text"] = text;
  if (ref) frame["ref"] = *ref;
  send(json::serialize(frame));
}

template <typename NextLayer>
error_code BasicWsClient<NextLayer>::close(websocket::close_code code) {
  const websocket::close_reason reason(code);
  return run_with_deadline(io_, beast::get_lowest_layer(ws_), k_io_timeout,
                           [&](auto handler) { ws_.async_close(reason, std::move(handler)); });
}

template <typename NextLayer> void BasicWsClient<NextLayer>::abort() {
  auto& socket = beast::get_lowest_layer(ws_).socket();
  if (!socket.is_open()) return;
  error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

template <typename NextLayer> void BasicWsClient<NextLayer>::offer_deflate() {
  websocket::permessage_deflate options;
  options.client_enable = true;
  ws_.set_option(options);
}

template <typename NextLayer>
void BasicWsClient<NextLayer>::set_header(http::field field, std::string value) {
  headers_.emplace_back(field, std::move(value));
}

template <typename NextLayer>
void BasicWsClient<NextLayer>::set_header(std::string name, std::string value) {
  named_headers_.emplace_back(std::move(name), std::move(value));
}

template <typename NextLayer>
const websocket::close_reason& BasicWsClient<NextLayer>::reason() const {
  return ws_.reason();
}

template class BasicWsClient<beast::tcp_stream>;
template class BasicWsClient<beast::ssl_stream<beast::tcp_stream>>;

namespace {

// One request and its answer on a connected stream (tcp_stream, or ssl_stream after the
// handshake).
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

} // namespace

HttpAnswer http_call(std::uint16_t port, const std::string& target, const HttpCall& call,
                     asio::ssl::context* tls) {
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

HttpAnswer http_request(std::uint16_t port, const std::string& target, bool upgrade,
                        http::verb method) {
  HttpCall call;
  call.method = method;
  call.upgrade = upgrade;
  return http_call(port, target, call);
}

unsigned RawWsClient::upgrade(std::uint16_t port, const std::string& target,
                              const std::string& extensions) {
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

void RawWsClient::send(asio::const_buffer bytes) {
  const error_code ec = run_with_deadline(io_, stream_, k_io_timeout, [&](auto handler) {
    asio::async_write(stream_, bytes, std::move(handler));
  });
  REQUIRE_MESSAGE(!ec, ec.message());
}

error_code RawWsClient::read_until_end(std::chrono::milliseconds timeout) {
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

std::string RawWsClient::received() const {
  return beast::buffers_to_string(buffer_.data());
}

} // namespace huddle::test
