// The WebSocket stream as a session reads it: how WsSession configures Beast's stream, how it
// reads one whole client message, and what a message becomes. WsSession (over TCP) and the
// fuzz target test/fuzz/ws_stream_fuzz.cpp (over Beast's in-memory test stream) both call
// these, so the fuzzer feeds bytes through the server's own read path.
#pragma once

#include "core/protocol.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/compose.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <cstddef>
#include <string_view>
#include <utility>
#include <variant>

namespace huddle::net {

// What an idle connection's read buffer holds while it waits (see async_read_message()).
inline constexpr std::size_t k_first_read_bytes = 64;

// Beast's options for a session's stream, from `config`. `on_control(frame_type)` is called
// for every ping, pong and close frame the peer sends, before Beast answers it: those are
// consumed inside Beast's read and never complete it, so without this a peer that only
// listens would look idle.
template <class NextLayer, class OnControl>
void configure_session_stream(boost::beast::websocket::stream<NextLayer>& ws,
                              const ServerConfig& config, OnControl on_control) {
  namespace websocket = boost::beast::websocket;
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = config.handshake_timeout;  // also bounds the closing handshake
  timeouts.idle_timeout = websocket::stream_base::none(); // the session pings and idles
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
    response.set(boost::beast::http::field::server, "huddle");
  }));
  ws.control_callback(
      [on_control = std::move(on_control)](websocket::frame_type kind, boost::beast::string_view) {
        on_control(kind);
      });
  ws.read_message_max(config.max_message_bytes);
}

namespace detail {

template <class NextLayer> struct ReadMessage {
  boost::beast::websocket::stream<NextLayer>& ws;
  boost::beast::flat_buffer& buffer;
  std::size_t bytes = 0;
  bool started = false;

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}, std::size_t read = 0) {
    bytes += read;
    if (started && (ec || ws.is_message_done())) return self.complete(ec, bytes);
    // Beast sizes a read's buffer before any byte has arrived (1.5 KB for a new message), and
    // an idle connection waits inside that read: so a message's first read asks for a few
    // bytes only, and the rest of the message is read with Beast's own sizing (0).
    const std::size_t limit = bytes == 0 ? k_first_read_bytes : 0;
    started = true;
    ws.async_read_some(buffer, limit, std::move(self));
  }
};

} // namespace detail

// Reads the next whole message onto the end of `buffer`; completes with
// (error_code, the message's size). The error is websocket::error::closed after the peer's
// close frame; Beast has already answered a message_too_big (1009), bad UTF-8 (1007) or a
// protocol violation (1002). A composed operation rather than a coroutine: an idle
// connection waits inside it, and it adds only these few bytes to Beast's pending read.
template <class NextLayer, class Token>
auto async_read_message(boost::beast::websocket::stream<NextLayer>& ws,
                        boost::beast::flat_buffer& buffer, Token&& token) {
  return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
      detail::ReadMessage<NextLayer>{ws, buffer}, token);
}

// What one whole message from a client asks for: a text frame goes to
// protocol::parse_client_frame; a binary frame is an error answered without closing.
inline std::variant<protocol::ClientMessage, protocol::FrameError>
parse_message(bool text, std::string_view payload) {
  if (!text) return protocol::FrameError{"binary_unsupported", "send text frames"};
  return protocol::parse_client_frame(payload);
}

} // namespace huddle::net
