// The HTTP side's request and response types, and the JSON responses every route answers
// with: a body object, or an error `{"error": code, "detail": text}` (docs/protocol.md).
#pragma once

#include "net/http_error.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>

#include <string_view>

namespace huddle::net {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// `body` is already JSON text (e.g. stored message frames joined into an array).
Response json_text_response(const Request& request, boost::beast::http::status status,
                            std::string body);
Response json_response(const Request& request, boost::beast::http::status status,
                       const boost::json::object& body);
// `error`'s code, answered with its status (net/http_error.hpp); `detail` says what was wrong
// with this request.
Response json_error(const Request& request, HttpError error, std::string_view detail);

} // namespace huddle::net
