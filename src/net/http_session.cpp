#include "net/http_session.hpp"
#include "core/log.hpp"
#include "core/use_tuple.hpp"

#include "net/access_routes.hpp"
#include "net/http_response.hpp"
#include "net/http_routes.hpp"
#include "net/log_redaction.hpp"
#include "net/metrics.hpp"
#include "net/publish_routes.hpp"
#include "net/server_state.hpp"
#include "net/target.hpp"
#include "net/tls_context.hpp"
#include "net/tls_stream.hpp"
#include "net/web_assets.hpp"
#include "net/ws_handshake.hpp"
#include "net/ws_session.hpp"

#include <huddle/version.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <variant>

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

// The history API's answers name the epoch of their ids (the welcome's "epoch").
constexpr std::string_view k_epoch_header = "Huddle-Epoch";

namespace {

// GET /api/groups/{id}/messages and /members, for members of the group; the publish and admin
// routes (net/publish_routes.hpp).
asio::awaitable<Response> group_route(const Request& request, ServerState& state,
                                      const std::string& peer_address) {
  auto parsed = parse_api_target(request.target());
  if (!parsed) {
    const std::string_view target = request.target();
    co_return json_error(request, HttpError::not_found,
                         "no route for " +
                             std::string(target.substr(0, target.find('?')).substr(0, 200)));
  }
  if (auto* error = std::get_if<TargetError>(&*parsed))
    co_return json_error(request, error->code, error->detail);
  const ApiTarget& api = std::get<ApiTarget>(*parsed);
  if (api.resource == ApiTarget::Resource::connections)
    co_return co_await connections_route(request, state, api);
  if (api.resource == ApiTarget::Resource::member)
    co_return co_await close_member_route(request, state, api);
  const bool history = api.resource == ApiTarget::Resource::messages;
  if (history && request.method() == http::verb::post)
    co_return co_await publish_route(request, state, api, peer_address);
  if (request.method() != http::verb::get)
    co_return json_error(request, HttpError::method_not_allowed,
                         history ? "use GET or POST" : "use GET");
  auto caller = authenticate(request, state, std::nullopt);
  if (auto* refusal = std::get_if<Response>(&caller)) co_return std::move(*refusal);
  if (auto refusal = co_await authorize(request, state, std::get<Caller>(caller), api.group))
    co_return std::move(*refusal);

  broker::Broker& broker = state.broker();
  // The broker's answers, or why there is none (Redis away: 503, retried later).
  std::vector<std::string> users;
  std::vector<MessagePtr> messages;
  std::string unavailable;
  try {
    if (api.resource == ApiTarget::Resource::members)
      users = co_await broker.online_users(api.group);
    else if (api.since)
      messages = co_await broker.read(api.group, *api.since, INT64_MAX, api.limit);
    else
      messages = co_await broker.read_latest(api.group, api.limit);
  } catch (const broker::Unavailable& e) {
    unavailable = e.what();
  }
  if (!unavailable.empty())
    co_return json_error(request, HttpError::broker_unavailable,
                         "the message broker cannot be reached: " + unavailable);

  if (api.resource == ApiTarget::Resource::members) {
    json::array names;
    for (const auto& user : users)
      names.emplace_back(user);
    json::object body;
    body["group"] = api.group;
    body["members"] = std::move(names);
    co_return json_response(request, http::status::ok, body);
  }

  // Each stored message already has its protocol frame: the body is those frames.
  std::string body = "[";
  for (const MessagePtr& message : messages) {
    if (body.size() > 1) body += ',';
    body += *message->frame();
  }
  body += ']';
  Response response = json_text_response(request, http::status::ok, std::move(body));
  // The history these ids belong to: a client passes it back with ?since= (docs/protocol.md).
  response.set(k_epoch_header, broker.epoch());
  co_return response;
}

Response asset_route(const Request& request, const WebAsset& asset) {
  if (request.method() != http::verb::get && request.method() != http::verb::head)
    return json_error(request, HttpError::method_not_allowed, "use GET");
  Response response{http::status::ok, request.version()};
  response.set(http::field::server, "huddle");
  response.set(http::field::content_type, asset.content_type);
  response.set(http::field::cache_control, "no-cache");
  // The client renders text only, and these keep it so even if a bug slipped in: no inline
  // script, no framing, no content sniffing.
  response.set("Content-Security-Policy",
               "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  response.set("X-Content-Type-Options", "nosniff");
  response.keep_alive(request.keep_alive());
  if (request.method() == http::verb::get) response.body() = std::string(asset.body);
  response.prepare_payload();
  if (request.method() == http::verb::head) response.content_length(asset.body.size());
  return response;
}

} // namespace

asio::awaitable<Response> route(const Request& request, ServerState& state,
                                const std::string& peer_address) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    if (request.method() != http::verb::get)
      co_return json_error(request, HttpError::method_not_allowed, "use GET");
    const bool available = state.broker().available();
    json::object body;
    body["status"] = available ? "ok" : "unavailable";
    body["version"] = k_version;
    body["connections"] = state.session_count();
    if (!available) body["detail"] = "the message broker (Redis) cannot be reached";
    co_return json_response(request,
                            available ? http::status::ok : http::status::service_unavailable, body);
  }
  if (path == "/metrics") co_return co_await metrics_route(request, state, peer_address);
  if (path == "/api/login") co_return co_await login_route(request, state, peer_address);
  if (path == "/api/logout") co_return logout_route(request, state.tls() != nullptr);
  if (path == "/api/groups") co_return co_await groups_route(request, state);
  if (path.starts_with(k_api_groups_prefix))
    co_return co_await group_route(request, state, peer_address);
  if (path.starts_with(k_ws_prefix))
    co_return json_error(request, HttpError::upgrade_required,
                         "this endpoint speaks WebSocket only");
  if (const WebAsset* asset = find_web_asset(path)) co_return asset_route(request, *asset);
  co_return json_error(request, HttpError::not_found,
                       "no route for " + std::string(path.substr(0, 200)));
}

asio::awaitable<std::optional<Response>> check_upgrade(const Request& request, ServerState& state,
                                                       const WsTarget& target, std::string& user,
                                                       SessionAccess& access) {
  auto caller = authenticate(request, state, target.token);
  if (auto* refusal = std::get_if<Response>(&caller)) co_return std::move(*refusal);
  const Caller& who = std::get<Caller>(caller);
  // Read before the membership check: see ServerState::add().
  access.revision = state.access_revision_seen();
  if (auto refusal = co_await authorize(request, state, who, target.group))
    co_return std::move(*refusal);
  if (who) { // the name comes from the token, never from the client
    user = who->user;
    access.from_memberships = !who->groups.has_value();
    access.expires_at = who->expires_at;
  } else {
    user = target.name ? *target.name : "guest-" + std::to_string(state.next_guest_number());
  }
  co_return std::nullopt;
}

namespace {

// The client this request comes from: the peer, or whom a trusted proxy forwards
// (net/client_address.hpp).
asio::ip::address request_client(const Request& request, const asio::ip::address& peer,
                                 const ServerState& state) {
  const std::vector<AddressRange>& trusted = state.trusted_proxies();
  if (trusted.empty()) return peer;
  std::vector<std::string_view> forwarded_for;
  for (auto [line, end] = request.equal_range("X-Forwarded-For"); line != end; ++line)
    forwarded_for.push_back(line->value());
  return client_address(peer, forwarded_for, trusted);
}

// An upgrade refused by the per-address limits (ServerConfig::max_connections_per_address,
// upgrade_rate_per_address).
Response address_refusal(const Request& request, const AddressLimits::Refusal& refusal) {
  const std::string seconds = std::to_string(refusal.retry_after.count());
  Response response = refusal.reason == AddressLimits::Refusal::Reason::upgrade_rate
                          ? json_error(request, HttpError::rate_limited,
                                       "too many connection attempts from this address; try "
                                       "again in " +
                                           seconds + " s")
                          : json_error(request, HttpError::too_many_address_connections,
                                       "too many open connections from this address");
  response.set(http::field::retry_after, seconds);
  return response;
}

// An upgrade request that passed every check below; it holds a connection slot.
struct AdmittedUpgrade {
  WsTarget target;
  std::string user;
  SessionAccess access;
  AddressLimits::Admission admission; // the client address's open connection
};

// The checks an upgrade request passes before its connection becomes a WebSocket session,
// cheapest first: the handshake's form and the per-address limits come before anything costs
// more than a table lookup (tokens, memberships), the connection limit last.
asio::awaitable<std::variant<AdmittedUpgrade, Response>>
admit_upgrade(const Request& request, ServerState& state, const asio::ip::address& client) {
  auto admitted = state.address_limits().try_admit(client);
  auto parsed = parse_ws_target(request.target());
  if (auto refused = refuse_handshake(request)) co_return std::move(*refused);
  if (auto* refusal = std::get_if<AddressLimits::Refusal>(&admitted)) {
    HUDDLE_LOG(state.logger(), debug, "ws.upgrade_refused",
               {{"remote", client.to_string()},
                {"reason", refusal->reason == AddressLimits::Refusal::Reason::connections
                               ? "connections"
                               : "upgrade rate"}});
    co_return address_refusal(request, *refusal);
  }
  if (auto* error = std::get_if<TargetError>(&parsed))
    co_return json_error(request, error->code, error->detail);
  AdmittedUpgrade upgrade{std::get<WsTarget>(std::move(parsed)),
                          {},
                          {},
                          std::get<AddressLimits::Admission>(std::move(admitted))};
  if (auto refusal =
          co_await check_upgrade(request, state, upgrade.target, upgrade.user, upgrade.access))
    co_return std::move(*refusal);
  if (!state.try_reserve_slot())
    co_return state.stopping()
        ? json_error(request, HttpError::shutting_down, "the server is shutting down")
        : json_error(request, HttpError::too_many_connections,
                     "the server is at its connection limit");
  co_return upgrade;
}

// In an io_context pool a group's sessions share one io_context, so a broadcast wakes writers
// on its own thread instead of posting to the others (docs/architecture.md, "Threads"): the
// socket moves to its group's executor. Nothing is pending on it between requests (a TLS
// connection keeps its descriptor). False, logged, when the move failed.
bool move_to_group_executor(asio::ip::tcp::socket& socket, ServerState& state, GroupId group) {
  const auto home = state.executor_for_group(group);
  if (!home || *home == socket.get_executor()) return true;
  boost::system::error_code move_error;
  const auto protocol = socket.local_endpoint(move_error).protocol();
  asio::ip::tcp::socket moved(*home);
  if (!move_error) {
    const auto handle = socket.release(move_error);
    if (!move_error) moved.assign(protocol, handle, move_error);
  }
  if (move_error) {
    HUDDLE_LOG(state.logger(), warning, "ws.move_failed",
               {{"group", group}, {"error", move_error.message()}});
    return false;
  }
  socket = std::move(moved);
  return true;
}

// The WebSocket session runs as a coroutine of its own and the HTTP one ends: its frame, the
// request buffer and the parser are not kept for the WebSocket's whole life
// (docs/performance-journal.md, "3. Idle memory"). The session holds the slot until it is
// destroyed.
void start_session(asio::ip::tcp::socket socket, std::unique_ptr<TlsConnection> tls,
                   std::shared_ptr<ServerState> state, AdmittedUpgrade upgrade, Request request) {
  auto session = std::make_shared<WsSession>(
      std::move(socket), std::move(tls), state, upgrade.target, std::move(upgrade.user),
      std::move(upgrade.access), std::move(upgrade.admission));
  auto executor = session->executor();
  asio::co_spawn(
      executor, session->run(std::move(request)),
      [session, state = std::move(state)](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& error) {
          HUDDLE_LOG(state->logger(), error, "ws.session_failed", {{"error", error.what()}});
        }
      });
}

// The connection's socket and TLS connection (none without TLS), for the WebSocket session.
std::pair<asio::ip::tcp::socket, std::unique_ptr<TlsConnection>>
release_connection(beast::tcp_stream& stream) {
  return {stream.release_socket(), nullptr};
}
std::pair<asio::ip::tcp::socket, std::unique_ptr<TlsConnection>>
release_connection(TlsStream& stream) {
  return stream.release();
}

// Ends the connection's sending side once its last answer is written (with TLS, the
// close_notify alert first).
void end_connection(beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}
void end_connection(TlsStream& stream) {
  stream.tls().shutdown();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

// The requests of one connection, plain (beast::tcp_stream) or TLS (TlsStream), until it
// closes, fails, times out or upgrades.
template <typename Stream>
asio::awaitable<void> serve_requests(Stream& stream, const asio::ip::address& peer,
                                     std::shared_ptr<ServerState> state_ptr) {
  ServerState& state = *state_ptr;
  const ServerConfig& config = state.config();
  beast::flat_buffer buffer;

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(request_body_limit(config));
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
          read_error == http::error::body_limit
              ? json_error(request, HttpError::too_big,
                           "the request body is over " +
                               std::to_string(request_body_limit(config)) + " bytes")
              : json_error(request, HttpError::bad_request, read_error.message());
      co_await http::async_write(stream, response, use_tuple);
      break;
    }

    // A proxy may forward many clients' requests on one connection: each is looked at anew.
    const asio::ip::address client = request_client(request, peer, state);
    const std::string from = client.to_string();
    HUDDLE_LOG(state.logger(), debug, "http.request",
               {{"method", request.method_string()},
                {"target", redact_target(request.target())},
                {"remote", from}});
    // Requests reach the account and history databases: a failing one is a 500, not a crash.
    Response response;
    std::string failure;
    try {
      const std::string_view target = request.target();
      if (target.starts_with(k_ws_prefix) && beast::websocket::is_upgrade(request)) {
        auto admitted = co_await admit_upgrade(request, state, client);
        if (auto* upgrade = std::get_if<AdmittedUpgrade>(&admitted)) {
          auto [socket, tls] = release_connection(stream);
          if (!move_to_group_executor(socket, state, upgrade->target.group)) {
            state.release_slot();
            co_return;
          }
          start_session(std::move(socket), std::move(tls), state_ptr, std::move(*upgrade),
                        std::move(request));
          co_return;
        }
        response = std::move(std::get<Response>(admitted));
        state.metrics().count_refused_upgrade(response.result_int());
        response.keep_alive(false); // a refused upgrade ends the connection
      } else {
        response = co_await route(request, state, from);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      HUDDLE_LOG(
          state.logger(), error, "http.request_failed",
          {{"target", redact_target(request.target())}, {"remote", from}, {"error", failure}});
      response =
          json_error(request, HttpError::internal_error, "the server's database could not answer");
    }
    // An answer that waited (a publish waits for storage) still gets its time to be written.
    stream.expires_after(config.handshake_timeout);
    auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
    if (write_error || !response.keep_alive()) break;
  }
  end_connection(stream);
}

// Answers a request that came in plain HTTP to the TLS port: 400, not a TLS alert the client
// cannot show.
asio::awaitable<void> refuse_plain_http(asio::ip::tcp::socket socket, const ServerConfig& config) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.body_limit(request_body_limit(config));
  stream.expires_after(config.handshake_timeout);
  auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (read_error == beast::error::timeout) co_return;
  Request request = parser.release();
  request.version(11);
  request.keep_alive(false);
  Response response =
      json_error(request, HttpError::tls_required, "this port speaks TLS: use https:// or wss://");
  co_await http::async_write(stream, response, use_tuple);
  end_connection(stream);
}

// The first byte of a TLS connection is a handshake record's (RFC 8446 §5.1).
constexpr unsigned char k_tls_handshake_record = 0x16;

} // namespace

asio::awaitable<void> run_http_session(asio::ip::tcp::socket socket,
                                       std::shared_ptr<ServerState> state) {
  boost::system::error_code peer_error;
  const asio::ip::address peer = unmapped(socket.remote_endpoint(peer_error).address());
  const TlsContext* tls = state->tls();
  if (!tls) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve_requests(stream, peer, std::move(state));
    co_return;
  }
  const ServerConfig& config = state->config();
  boost::system::error_code ec;
  socket.non_blocking(true, ec); // TlsConnection's calls must not block the thread
  std::unique_ptr<TlsConnection> connection = tls->accept(socket.native_handle());
  TlsStream stream(std::move(socket), std::move(connection));
  // The handshake_timeout bounds the handshake too: a client that opens TCP and says
  // nothing is dropped.
  stream.expires_after(config.handshake_timeout);
  unsigned char first = 0;
  auto [peek_error, peeked] = co_await stream.async_peek(first, use_tuple);
  if (peek_error) co_return;
  if (first != k_tls_handshake_record) {
    HUDDLE_LOG(state->logger(), debug, "tls.plain_http", {{"remote", peer.to_string()}});
    co_await refuse_plain_http(std::move(stream.release().first), config);
    co_return;
  }
  auto [handshake_error, unused] = co_await stream.async_handshake(use_tuple);
  if (handshake_error) {
    HUDDLE_LOG(state->logger(), debug, "tls.handshake_failed",
               {{"remote", peer.to_string()}, {"error", handshake_error.message()}});
    co_return;
  }
  co_await serve_requests(stream, peer, std::move(state));
}

} // namespace huddle::net
