#include "net/ws_handshake.hpp"

#include "net/permessage_deflate.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/range/iterator_range.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <cctype>

namespace huddle::net {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view k_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 §1.3

// Whether `key` is base64 of 16 bytes (§4.1 item 7): 22 symbols and "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || !key.ends_with("==")) return false;
  for (const char c : key.substr(0, 22))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  return true;
}

} // namespace

std::optional<Response> refuse_handshake(const Request& request) {
  if (request.method() != http::verb::get)
    return json_error(request, HttpError::bad_handshake, "a WebSocket upgrade is a GET");
  if (request.version() < 11)
    return json_error(request, HttpError::bad_handshake, "a WebSocket upgrade needs HTTP/1.1");
  const auto version = request.find(http::field::sec_websocket_version);
  if (version == request.end() || version->value() != "13") {
    Response response = json_error(request, HttpError::unsupported_websocket_version,
                                   "this server speaks WebSocket version 13");
    response.set(http::field::sec_websocket_version, "13");
    return response;
  }
  const auto key = request.find(http::field::sec_websocket_key);
  if (key == request.end() || !valid_key(key->value()))
    return json_error(request, HttpError::bad_handshake,
                      "Sec-WebSocket-Key must be base64 of 16 bytes");
  return std::nullopt;
}

std::string websocket_accept(std::string_view key) {
  std::string input(key);
  input += k_guid;
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> text{}; // with a NUL
  const int size = EVP_EncodeBlock(text.data(), digest.data(), digest.size());
  return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(size));
}

std::optional<std::string> accept_extensions(const Request& request, bool deflate) {
  if (!deflate) return std::nullopt;
  // Several header lines make one list (RFC 7230 §3.2.2).
  std::string offers;
  for (const auto& field :
       boost::make_iterator_range(request.equal_range(http::field::sec_websocket_extensions))) {
    if (!offers.empty()) offers += ", ";
    offers += field.value();
  }
  if (offers.empty()) return std::nullopt;
  return negotiate_deflate(offers);
}

std::string accept_response(const Request& request, std::string_view extensions) {
  std::string response = "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Server: huddle\r\n"
                         "Sec-WebSocket-Accept: ";
  response += websocket_accept(request[http::field::sec_websocket_key]);
  if (!extensions.empty()) {
    response += "\r\nSec-WebSocket-Extensions: ";
    response += extensions;
  }
  response += "\r\n\r\n";
  return response;
}

} // namespace huddle::net
