#include "net/http_response.hpp"

#include <boost/json/serialize.hpp>

namespace huddle::net {

namespace http = boost::beast::http;

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

Response json_error(const Request& request, http::status status, std::string_view code,
                    std::string_view detail) {
  boost::json::object body;
  body["error"] = code;
  body["detail"] = detail;
  return json_response(request, status, body);
}

} // namespace huddle::net
