// libFuzzer target: the WebSocket frame stream as a session reads it. The bytes a client sends
// after the upgrade go through Beast's websocket::stream over huddle's SerialWriteStream layer
// (over Beast's in-memory test stream instead of TCP), configured, read and handled by the
// functions WsSession uses (net/session_stream.hpp): masking, fragmentation, control frames
// and the replies Beast writes to them, UTF-8 checks, the message size limit, the 64-byte
// first read, then parse_client_frame() and the reply encoders.
// Input: byte 0 is the most bytes one transport read returns (0: no limit), so the parser
// also meets frames split anywhere; the rest is what the client sends. Client frames must be
// masked (RFC 6455 §5.3), as a real client's are.
#include "core/use_tuple.hpp"
#include "net/serial_write_stream.hpp"
#include "net/session_stream.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = huddle::net;
namespace protocol = huddle::protocol;

using Stream = websocket::stream<net::BasicSerialWriteStream<beast::test::stream>>;

// A small limit, so messages over it (closed with 1009) fit in libFuzzer's default inputs.
huddle::ServerConfig fuzz_config() {
  huddle::ServerConfig config;
  config.max_message_bytes = 1024;
  return config;
}

http::request<http::string_body> upgrade_request() {
  http::request<http::string_body> request{http::verb::get, "/ws/7", 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  return request;
}

// WsSession::run()'s accept and WsSession::reader()'s loop, without the chat behind them.
asio::awaitable<void> session(Stream& ws, const huddle::ServerConfig& config) {
  net::configure_session_stream(ws, config, [](websocket::frame_type) {});
  {
    const auto request = upgrade_request();
    auto [accept_error] = co_await ws.async_accept(request, huddle::use_tuple);
    if (accept_error) std::abort(); // a valid upgrade request, answered into memory
  }
  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, bytes] = co_await net::async_read_message(ws, buffer, huddle::use_tuple);
    if (ec) co_return;
    if (bytes > config.max_message_bytes || buffer.size() != bytes) std::abort();
    const std::string_view payload(static_cast<const char*>(buffer.data().data()), bytes);
    const auto parsed = net::parse_message(ws.got_text(), payload);
    if (const auto* error = std::get_if<protocol::FrameError>(&parsed))
      (void)protocol::encode_error(error->code, error->detail);
    else
      (void)protocol::encode_message(7, 1, "alice", std::get<protocol::ClientMessage>(parsed).text,
                                     0);
    buffer.consume(bytes);
    if (buffer.capacity() > 16 * 1024) buffer.shrink_to_fit();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return -1; // not a useful input: keep it out of the corpus
  static const huddle::ServerConfig config = fuzz_config();
  asio::io_context io;
  beast::test::stream client(io);
  Stream ws{beast::test::stream(io)};
  beast::test::stream& server = ws.next_layer().next_layer();
  server.connect(client); // Beast's replies (101, pongs, closes) land in `client`, unread
  if (data[0] != 0) server.read_size(data[0]);
  server.append(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  server.close_remote(); // after those bytes, the client is gone (EOF)

  bool done = false;
  asio::co_spawn(io, session(ws, config), [&done](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
    done = true;
  });
  io.run();
  if (!done) std::abort(); // the session waits for something that never comes
  return 0;
}
