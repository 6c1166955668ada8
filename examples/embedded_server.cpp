// Embedding huddle's Server in a coroutine app: the app owns the io_context, runs the
// server beside its own work, routes the server's log events into its own logging, and stops
// it when done. Here "its own work" is a tiny WebSocket client that joins group 1, says hello
// and waits for its ack, and then a message the app publishes into the group from its code.
//
// Build: link huddle (meson: dependency('huddle'), pkg-config: huddle).
#include <huddle/server.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <iostream>
#include <mutex>

namespace asio = boost::asio;
namespace beast = boost::beast;

// The app's own logging: here, huddle's events at info and above on stdout, prefixed.
class AppLogger final : public huddle::Logger {
public:
  bool enabled(huddle::LogLevel level) const noexcept override {
    return level >= huddle::LogLevel::info;
  }
  void write(huddle::LogLevel level, std::string_view event,
             std::span<const huddle::LogField> fields) override {
    const std::lock_guard lock(mutex_);
    std::cout << "app log: " << huddle::to_string(level) << ' '
              << huddle::format_log_event(event, fields) << '\n';
  }

private:
  std::mutex mutex_;
};

asio::awaitable<bool> say_hello(huddle::Server& server) {
  const std::uint16_t port = server.port();
  beast::websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  const asio::ip::tcp::endpoint address(asio::ip::make_address("127.0.0.1"), port);
  co_await beast::get_lowest_layer(ws).async_connect(address, asio::use_awaitable);
  co_await ws.async_handshake("127.0.0.1", "/ws/1?name=example", asio::use_awaitable);

  const std::string hello = "hello from an embedding app";
  co_await ws.async_write(asio::buffer(hello), asio::use_awaitable);
  beast::flat_buffer buffer;
  for (int frames = 0; frames < 10; ++frames) { // welcome, then the ack
    co_await ws.async_read(buffer, asio::use_awaitable);
    const std::string frame = beast::buffers_to_string(buffer.data());
    buffer.clear();
    std::cout << "received " << frame << '\n';
    if (frame.find("\"type\":\"ack\"") != std::string::npos) break;
  }
  // The app publishes into the group from its own code: the members get it as a message.
  const huddle::MessageId id = co_await server.publish(1, "example-app", "hello from the app");
  std::cout << "published id " << id << '\n';
  for (int frames = 0; frames < 10; ++frames) {
    co_await ws.async_read(buffer, asio::use_awaitable);
    const std::string frame = beast::buffers_to_string(buffer.data());
    buffer.clear();
    std::cout << "received " << frame << '\n';
    if (frame.find("\"from\":\"example-app\"") != std::string::npos) {
      const beast::websocket::close_reason normal(beast::websocket::close_code::normal);
      co_await ws.async_close(normal, asio::use_awaitable);
      co_return true;
    }
  }
  co_return false;
}

int main() {
  asio::io_context io;
  huddle::ServerConfig config;
  config.port = 0; // any free port
  config.logger = std::make_shared<AppLogger>();
  huddle::Server server(io.get_executor(), config);
  std::cout << "huddle listening on port " << server.port() << '\n';

  asio::co_spawn(io, server.run(), asio::detached);
  bool acked = false;
  asio::co_spawn(io, say_hello(server), [&](std::exception_ptr error, bool ok) {
    acked = !error && ok;
    server.stop(); // run() completes once every session has closed
  });
  io.run();
  std::cout << (acked ? "acked and published: ok\n" : "no ack or no published message\n");
  return acked ? 0 : 1;
}
