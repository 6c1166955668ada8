// libFuzzer target: protocol::parse_client_frame (src/core/protocol.cpp), the parse of every
// text frame a client sends, and the encoders its results go through.
// Input: one text frame's payload. Checked beyond "no crash": a frame yields a message with
// text or a named error; the error frame sent back is valid JSON; and for a frame of valid
// UTF-8 (the only kind Beast passes on, RFC 6455 §8.1) the message and ack frames are valid
// JSON that carry the text and ref unchanged.
#include "core/protocol.hpp"

#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

namespace json = boost::json;
namespace protocol = huddle::protocol;

json::object parse_object(const std::string& frame) {
  boost::system::error_code ec;
  json::value value = json::parse(frame, ec);
  if (ec || !value.is_object()) std::abort();
  return std::move(value.get_object());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto parsed = protocol::parse_client_frame(frame);
  if (auto* error = std::get_if<protocol::FrameError>(&parsed)) {
    if (protocol::info(error->code).close_code != 0 || error->detail.empty()) std::abort();
    // A detail may quote the frame's "type", which Boost.JSON parsed: valid UTF-8.
    (void)parse_object(protocol::encode_error(error->code, error->detail));
    return 0;
  }
  const auto& message = std::get<protocol::ClientMessage>(parsed);
  if (message.text.empty()) std::abort(); // an empty message is the error "empty_text"
  const std::string sent = protocol::encode_message(7, 42, "alice", message.text, 1);
  const std::string ack = protocol::encode_ack(message.ref, 42);
  if (!boost::beast::websocket::detail::check_utf8(frame.data(), frame.size())) return 0;
  if (parse_object(sent).at("text").as_string() != message.text) std::abort();
  const json::object ack_object = parse_object(ack);
  if (message.ref.has_value() != ack_object.contains("ref")) std::abort();
  if (message.ref && ack_object.at("ref").as_string() != *message.ref) std::abort();
  return 0;
}
