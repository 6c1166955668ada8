#include "net/access_routes.hpp"

#include "core/log.hpp"
#include "net/credentials.hpp"
#include "net/server_state.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <chrono>
#include <variant>

namespace huddle::net {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Response unauthorized(const Request& request, std::string_view detail) {
  Response response = json_error(request, HttpError::unauthorized, detail);
  response.set(http::field::www_authenticate, "Bearer");
  return response;
}

std::int64_t unix_ms(auth::Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

} // namespace

std::variant<Caller, Response> authenticate(const Request& request, ServerState& state,
                                            const std::optional<std::string>& query_token) {
  auth::AccessControl& access = state.access();
  if (access.mode() == AuthMode::none) return Caller{};
  auto credentials = find_credentials(request[http::field::authorization],
                                      request[http::field::cookie], query_token);
  if (!credentials)
    return unauthorized(request, "no token: log in (POST /api/login) and send it as "
                                 "Authorization: Bearer, the huddle_token cookie or ?token=");
  if (credentials->from_cookie &&
      !is_same_origin(request[http::field::origin], request[http::field::host]))
    return json_error(request, HttpError::cross_origin,
                      "the login cookie is only accepted from this server's own pages");
  auto verified = access.verify(credentials->token);
  if (auto* error = std::get_if<auth::TokenError>(&verified))
    return unauthorized(request, "token " + std::string(auth::to_string(*error)));
  return Caller{std::move(std::get<auth::Identity>(verified))};
}

boost::asio::awaitable<std::optional<Response>>
authorize(const Request& request, ServerState& state, const Caller& caller, GroupId group) {
  if (!caller) co_return std::nullopt;
  bool allowed = false;
  try {
    allowed = co_await state.access().async_may_enter(*caller, group);
  } catch (const std::exception& e) {
    HUDDLE_LOG(state.logger(), error, "access.check_failed",
               {{"group", group}, {"error", e.what()}});
    co_return json_error(request, HttpError::internal_error, "the membership could not be checked");
  }
  if (allowed) co_return std::nullopt;
  co_return json_error(request, HttpError::forbidden,
                       "not a member of group " + std::to_string(group));
}

boost::asio::awaitable<Response> login_route(const Request& request, ServerState& state,
                                             const std::string& peer_address) {
  auth::AccessControl& access = state.access();
  if (request.method() != http::verb::post)
    co_return json_error(request, HttpError::method_not_allowed, "use POST");
  if (!access.can_log_in())
    co_return json_error(request, HttpError::login_disabled,
                         "this server takes tokens minted elsewhere, or none");
  // A form from another site can POST text/plain but not application/json without CORS:
  // requiring JSON keeps other sites from logging a browser in (login CSRF).
  if (!request[http::field::content_type].starts_with("application/json"))
    co_return json_error(request, HttpError::unsupported_media_type,
                         "send the credentials as application/json");
  boost::system::error_code parse_error;
  const json::value body = json::parse(request.body(), parse_error);
  const json::object* fields = body.if_object();
  const json::string* username = nullptr;
  const json::string* password = nullptr;
  if (fields && fields->contains("username")) username = fields->at("username").if_string();
  if (fields && fields->contains("password")) password = fields->at("password").if_string();
  if (parse_error || !username || !password)
    co_return json_error(request, HttpError::bad_request,
                         R"(the body must be {"username": "...", "password": "..."})");

  const auto wait = access.throttle().retry_after(peer_address);
  if (wait.count() > 0) {
    Response response = json_error(request, HttpError::too_many_attempts,
                                   "too many failed logins from this address; try again in " +
                                       std::to_string(wait.count()) + " s");
    response.set(http::field::retry_after, std::to_string(wait.count()));
    state.metrics().logins.add("throttled");
    co_return response;
  }

  std::string user(*username);
  std::string secret(*password);
  using Refusal = auth::AccessControl::LoginRefusal;
  auto outcome = co_await access.async_login(user, std::move(secret));
  const Refusal* refusal = std::get_if<Refusal>(&outcome);
  if (refusal && *refusal == Refusal::busy) {
    // --max-pending-logins reached.
    HUDDLE_LOG(state.logger(), debug, "login.busy", {{"remote", peer_address}});
    Response response = json_error(request, HttpError::login_busy,
                                   "too many logins in progress; try again in a second");
    response.set(http::field::retry_after, "1");
    state.metrics().logins.add("busy");
    co_return response;
  }
  if (refusal) {
    state.metrics().logins.add("invalid_credentials");
    const bool throttled = access.throttle().record_failure(peer_address);
    // The name is the client's: at most 64 bytes of it.
    HUDDLE_LOG(state.logger(), warning, "login.failed",
               {{"user", std::string_view(user).substr(0, 64)},
                {"remote", peer_address},
                {"throttled", throttled}});
    co_return json_error(request, HttpError::invalid_credentials, "wrong user name or password");
  }
  const auth::IssuedToken& issued = std::get<auth::IssuedToken>(outcome);
  state.metrics().logins.add("success");
  HUDDLE_LOG(state.logger(), info, "login.succeeded", {{"user", user}, {"remote", peer_address}});
  json::object result;
  result["token"] = issued.token;
  result["expires_at"] = unix_ms(issued.expires_at);
  result["user"] = user;
  Response response = json_response(request, http::status::ok, result);
  const auto max_age =
      std::chrono::duration_cast<std::chrono::seconds>(issued.expires_at - auth::Clock::now());
  response.set(http::field::set_cookie,
               login_cookie(issued.token, max_age, state.tls() != nullptr));
  co_return response;
}

Response logout_route(const Request& request, bool secure) {
  if (request.method() != http::verb::post)
    return json_error(request, HttpError::method_not_allowed, "use POST");
  // Tokens are not tracked server-side: logging out forgets the cookie; a copied token
  // stays valid until it expires (docs/operations.md).
  json::object result;
  result["status"] = "logged_out";
  Response response = json_response(request, http::status::ok, result);
  response.set(http::field::set_cookie, logout_cookie(secure));
  return response;
}

boost::asio::awaitable<Response> groups_route(const Request& request, ServerState& state) {
  if (request.method() != http::verb::get)
    co_return json_error(request, HttpError::method_not_allowed, "use GET");
  auto caller = authenticate(request, state, std::nullopt);
  if (auto* refusal = std::get_if<Response>(&caller)) co_return std::move(*refusal);
  const Caller& who = std::get<Caller>(caller);
  std::vector<auth::GroupAccess> groups = co_await state.access().async_groups_of(who);
  json::array list;
  for (const auto& group : groups) {
    json::object entry;
    entry["id"] = group.id;
    entry["title"] = group.title;
    entry["role"] = store::to_string(group.role);
    list.push_back(std::move(entry));
  }
  json::object result;
  if (who)
    result["user"] = who->user;
  else
    result["user"] = nullptr;
  result["groups"] = std::move(list);
  co_return json_response(request, http::status::ok, result);
}

} // namespace huddle::net
