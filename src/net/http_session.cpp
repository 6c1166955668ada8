#include "net/http_session.hpp"

#include "net/server_state.hpp"
#include "net/target.hpp"
#include "net/ws_session.hpp"

#include <huddle/version.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/log/trivial.hpp>

// g++ 12 at -O2 inlines Asio's coroutine-frame allocation (aligned_alloc behind a class
// operator new) into run_http_session() and then reports its matching class operator delete
// as mismatched: a false positive (GCC bug 109224 and relatives).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace huddle::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Request bodies are not used by any route yet; keep them small.
constexpr std::size_t k_max_request_body = 64 * 1024;

namespace {

using Request = WsSession::Request;
using Response = http::response<http::string_body>;

Response json_response(const Request& request, http::status status, json::object body) {
  Response response{status, request.version()};
  response.set(http::field::server, "huddle");
  response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = json::serialize(body);
  response.prepare_payload();
  return response;
}

Response json_error(const Request& request, http::status status, std::string_view code,
                    std::string_view detail) {
  return json_response(request, status, {{"error", code}, {"detail", detail}});
}

// GET /api/groups/{id}/messages and /members.
asio::awaitable<Response> api_route(const Request& request, ServerState& state) {
  auto parsed = parse_api_target(request.target());
  if (!parsed) {
    const std::string_view target = request.target();
    co_return json_error(request, http::status::not_found, "not_found",
                         "no route for " +
                             std::string(target.substr(0, target.find('?')).substr(0, 200)));
  }
  if (auto* error = std::get_if<TargetError>(&*parsed))
    co_return json_error(request, http::status::bad_request, error->code, error->detail);
  if (request.method() != http::verb::get)
    co_return json_error(request, http::status::method_not_allowed, "method_not_allowed",
                         "use GET");
  const ApiTarget& api = std::get<ApiTarget>(*parsed);

  if (api.resource == ApiTarget::Resource::members) {
    const std::vector<std::string> users = co_await state.chat().online_users(api.group);
    json::array names;
    for (const auto& user : users)
      names.emplace_back(user);
    json::object body;
    body["group"] = api.group;
    body["members"] = std::move(names);
    co_return json_response(request, http::status::ok, std::move(body));
  }

  // The reads run on the store's threads; this coroutine resumes on its own strand.
  std::vector<MessagePtr> messages;
  if (api.since)
    messages = co_await state.history().async_read(api.group, *api.since, INT64_MAX, api.limit);
  else
    messages = co_await state.history().async_read_latest(api.group, api.limit);
  // Each stored message already has its protocol frame: the body is those frames.
  std::string body = "[";
  for (const MessagePtr& message : messages) {
    if (body.size() > 1) body += ',';
    body += *message->frame();
  }
  body += ']';
  Response response{http::status::ok, request.version()};
  response.set(http::field::server, "huddle");
  response.set(http::field::content_type, "application/json");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  co_return response;
}

Response route(const Request& request, ServerState& state) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    if (request.method() != http::verb::get)
      return json_error(request, http::status::method_not_allowed, "method_not_allowed", "use GET");
    return json_response(
        request, http::status::ok,
        {{"status", "ok"}, {"version", k_version}, {"connections", state.session_count()}});
  }
  if (path.starts_with(k_ws_prefix))
    return json_error(request, http::status::upgrade_required, "upgrade_required",
                      "this endpoint speaks WebSocket only");
  return json_error(request, http::status::not_found, "not_found",
                    "no route for " + std::string(path.substr(0, 200)));
}

} // namespace

asio::awaitable<void> run_http_session(asio::ip::tcp::socket socket,
                                       std::shared_ptr<ServerState> state_ptr) {
  ServerState& state = *state_ptr;
  const ServerConfig& config = state.config();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(k_max_request_body);
    stream.expires_after(config.handshake_timeout);
    auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (read_error == http::error::end_of_stream || read_error == beast::error::timeout ||
        read_error == asio::error::connection_reset || read_error == asio::error::eof)
      break;
    Request request = parser.release();
    if (read_error) {
      request.version(11);
      request.keep_alive(false);
      Response response =
          json_error(request, http::status::bad_request, "bad_request", read_error.message());
      co_await http::async_write(stream, response, use_tuple);
      break;
    }

    const std::string_view target = request.target();
    if (target.starts_with(k_ws_prefix) && beast::websocket::is_upgrade(request)) {
      auto parsed = parse_ws_target(target);
      Response refusal;
      if (auto* error = std::get_if<TargetError>(&parsed)) {
        refusal = json_error(request, http::status::bad_request, error->code, error->detail);
      } else if (!state.try_reserve_slot()) {
        refusal = state.stopping()
                      ? json_error(request, http::status::service_unavailable, "shutting_down",
                                   "the server is shutting down")
                      : json_error(request, http::status::service_unavailable,
                                   "too_many_connections", "the server is at --max-connections");
      } else {
        auto& ws_target = std::get<WsTarget>(parsed);
        std::string user =
            ws_target.name ? *ws_target.name : "guest-" + std::to_string(state.next_guest_number());
        auto session = std::make_shared<WsSession>(std::move(stream), state_ptr,
                                                   std::move(ws_target), std::move(user));
        try {
          co_await session->run(std::move(request));
        } catch (const std::exception& e) {
          BOOST_LOG_TRIVIAL(error) << "session failed: " << e.what();
        }
        state.release_slot();
        co_return;
      }
      refusal.keep_alive(false);
      co_await http::async_write(stream, refusal, use_tuple);
      break;
    }

    Response response;
    if (target.starts_with(k_api_groups_prefix)) {
      std::string failure;
      try {
        response = co_await api_route(request, state);
      } catch (const std::exception& e) { // the history database failed
        failure = e.what();
      }
      if (!failure.empty()) {
        BOOST_LOG_TRIVIAL(error) << "API request failed: " << failure;
        response = json_error(request, http::status::internal_server_error, "internal_error",
                              "the history could not be read");
      }
    } else
      response = route(request, state);
    auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
    if (write_error || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

} // namespace huddle::net
