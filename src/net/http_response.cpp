#include "net/http_response.hpp"

#include <boost/json/serialize.hpp>

#include <string>

namespace huddle::net {

namespace http = boost::beast::http;

namespace {

// `text` with each byte that does not begin a valid UTF-8 sequence replaced by U+FFFD.
// Boost.JSON writes a string's bytes as they are, and error details quote the request (whose
// target may hold any byte above 0x7F, and is cut at a byte count): without this such a body
// would not be JSON (RFC 8259 §8.1).
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t code = 0;
    if (lead < 0x80)
      length = 1, code = lead;
    else if ((lead & 0xE0) == 0xC0)
      length = 2, code = lead & 0x1F;
    else if ((lead & 0xF0) == 0xE0)
      length = 3, code = lead & 0x0F;
    else if ((lead & 0xF8) == 0xF0)
      length = 4, code = lead & 0x07;
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr char32_t k_min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    // Not overlong, not past U+10FFFF, not a surrogate.
    valid = valid && code >= k_min_for_length[length] && code <= 0x10FFFF &&
            !(code >= 0xD800 && code <= 0xDFFF);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xEF\xBF\xBD"); // U+FFFD REPLACEMENT CHARACTER
      ++i;
    }
  }
  return out;
}

} // namespace

Response json_text_response(const Request& request, http::status status, std::string body) {
  Response response{status, request.version()};
  response.set(http::field::server, "huddle");
  response.set(http::field::content_type, "application/json");
  // Answers depend on the caller's token: no shared cache may keep them.
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response json_response(const Request& request, http::status status,
                       const boost::json::object& body) {
  return json_text_response(request, status, boost::json::serialize(body));
}

Response json_error(const Request& request, HttpError error, std::string_view detail) {
  boost::json::object body;
  body["error"] = info(error).wire;
  body["detail"] = valid_utf8(detail);
  return json_response(request, static_cast<http::status>(info(error).status), body);
}

} // namespace huddle::net
