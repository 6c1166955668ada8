#include "net/publish_routes.hpp"

#include "core/log.hpp"
#include "net/access_routes.hpp"
#include "net/publish.hpp"
#include "net/server_state.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <variant>

// g++ 12 at -O2 inlines Asio's coroutine-frame allocation into publish_route() and reports its
// matching class operator delete as mismatched: a false positive (GCC bug 109224), as in
// net/http_session.cpp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace huddle::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// RFC 9110 leaves the key's form to the API; this keeps it printable and bounded.
constexpr std::size_t k_max_idempotency_key = 255;
// The sender named by a publish with AuthMode::none and no "from".
constexpr std::string_view k_anonymous_publisher = "api";

// Who called, and what they may do in the group; or the refusal to send.
struct Admitted {
  Caller caller;
  auth::GroupRights rights;
};

asio::awaitable<std::variant<Admitted, Response>> admit(const Request& request, ServerState& state,
                                                        GroupId group) {
  auto caller = authenticate(request, state, std::nullopt);
  if (auto* refusal = std::get_if<Response>(&caller)) co_return std::move(*refusal);
  Admitted admitted{std::move(std::get<Caller>(caller)), {}};
  std::string failure;
  try {
    admitted.rights = co_await state.access().async_rights(admitted.caller, group);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    HUDDLE_LOG(state.logger(), error, "access.check_failed",
               {{"group", group}, {"error", failure}});
    co_return json_error(request, HttpError::internal_error,
                         "the caller's rights could not be checked");
  }
  if (!admitted.rights.known)
    co_return json_error(request, HttpError::no_such_group,
                         "there is no group " + std::to_string(group));
  co_return admitted;
}

// admit(), for the admin routes: `method` only, and the caller an admin of the group.
asio::awaitable<std::variant<Admitted, Response>>
admit_admin(const Request& request, ServerState& state, GroupId group, http::verb method) {
  if (request.method() != method)
    co_return json_error(request, HttpError::method_not_allowed,
                         "use " + std::string(http::to_string(method)));
  auto admitted = co_await admit(request, state, group);
  if (auto* who = std::get_if<Admitted>(&admitted); who && !who->rights.admin)
    co_return json_error(request, HttpError::forbidden,
                         "only an admin of group " + std::to_string(group) + " may do this");
  co_return admitted;
}

std::string caller_name(const Caller& caller) {
  return caller ? caller->user : std::string("-");
}

// A publish's body, or the 400 to answer it with.
struct PublishBody {
  std::string text;
  std::optional<std::string> ref;
  std::optional<std::string> from; // AuthMode::none only
};

std::variant<PublishBody, Response> parse_publish_body(const Request& request, bool anonymous) {
  boost::system::error_code parse_error;
  const json::value body = json::parse(request.body(), parse_error);
  const json::object* fields = body.if_object();
  if (parse_error || !fields)
    return json_error(request, HttpError::bad_request,
                      R"(the body must be a JSON object {"text": "...", "ref": "..."})");
  PublishBody result;
  const json::value* text = fields->if_contains("text");
  if (text == nullptr || !text->is_string())
    return json_error(request, HttpError::missing_text, R"(the body needs a string "text")");
  if (text->get_string().empty())
    return json_error(request, HttpError::empty_text, "a message needs some text");
  result.text = std::string(text->get_string());
  if (const json::value* ref = fields->if_contains("ref")) {
    if (!ref->is_string())
      return json_error(request, HttpError::bad_ref, R"("ref" must be a string)");
    result.ref = std::string(ref->get_string());
  }
  if (const json::value* from = fields->if_contains("from")) {
    // With a token the sender is the token's subject: a "from" would be a lie, not a choice.
    if (!anonymous || !from->is_string() || !is_valid_name(from->get_string()))
      return json_error(request, HttpError::bad_from,
                        anonymous ? R"("from" must be a name of 1-32 printable characters)"
                                  : R"("from" is the token's subject; leave it out)");
    result.from = std::string(from->get_string());
  }
  return result;
}

bool is_valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > k_max_idempotency_key) return false;
  for (char c : key)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

Response published(const Request& request, MessageId id, const std::optional<std::string>& ref,
                   bool replayed) {
  json::object body;
  body["id"] = id;
  if (ref) body["ref"] = *ref;
  Response response = json_response(request, http::status::created, body);
  if (replayed) response.set("Idempotent-Replayed", "true");
  return response;
}

} // namespace

asio::awaitable<Response> publish_route(const Request& request, ServerState& state,
                                        const ApiTarget& target, const std::string& peer_address) {
  auto admitted = co_await admit(request, state, target.group);
  if (auto* refusal = std::get_if<Response>(&admitted)) co_return std::move(*refusal);
  const auto& [caller, rights] = std::get<Admitted>(admitted);
  if (!rights.publish)
    co_return json_error(request, HttpError::forbidden,
                         "no right to publish to group " + std::to_string(target.group) +
                             ": an admin of the group or a token with the publish right may");
  if (!request[http::field::content_type].starts_with("application/json"))
    co_return json_error(request, HttpError::unsupported_media_type,
                         "send the message as application/json");
  auto parsed = parse_publish_body(request, !caller);
  if (auto* refusal = std::get_if<Response>(&parsed)) co_return std::move(*refusal);
  PublishBody& body = std::get<PublishBody>(parsed);
  const ServerConfig& config = state.config();
  if (body.text.size() > config.max_message_bytes)
    co_return json_error(request, HttpError::too_big,
                         "the text is over the message size limit (" +
                             std::to_string(config.max_message_bytes) + " bytes)");
  const std::string_view key_header = request["Idempotency-Key"];
  const bool keyed = request.find("Idempotency-Key") != request.end();
  if (keyed && !is_valid_idempotency_key(key_header))
    co_return json_error(request, HttpError::bad_idempotency_key,
                         "Idempotency-Key must be 1-255 printable ASCII characters");
  if (state.stopping())
    co_return json_error(request, HttpError::shutting_down, "the server is shutting down");

  const std::string from =
      caller ? caller->user : body.from.value_or(std::string(k_anonymous_publisher));
  const auto wait = state.publish_limits().try_take(caller ? caller->user : peer_address);
  if (wait.count() > 0) {
    const auto seconds =
        std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
    Response response = json_error(request, HttpError::rate_limited,
                                   "over this caller's publish rate; try again in " +
                                       std::to_string(wait.count()) + " ms");
    response.set(http::field::retry_after, std::to_string(seconds));
    co_return response;
  }

  // The key is the caller's own, per group: two backends may pick the same one.
  IdempotencyKeys& keys = state.idempotency_keys();
  const std::string key =
      keyed ? from + '\n' + std::to_string(target.group) + '\n' + std::string(key_header)
            : std::string();
  IdempotencyKeys::Claim claim;
  if (keyed) {
    const std::uint64_t fingerprint =
        std::hash<std::string>{}(body.text + '\x1f' + (body.ref ? '+' + *body.ref : "-"));
    claim = keys.claim(key, fingerprint);
    switch (claim.outcome) {
    case IdempotencyKeys::Claim::Outcome::fresh:
      break;
    case IdempotencyKeys::Claim::Outcome::done:
      co_return published(request, claim.id, body.ref, true);
    case IdempotencyKeys::Claim::Outcome::in_progress: {
      Response response = json_error(request, HttpError::in_progress,
                                     "a publish with this Idempotency-Key is not stored yet; "
                                     "retry it later");
      response.set(http::field::retry_after, "1");
      co_return response;
    }
    case IdempotencyKeys::Claim::Outcome::mismatch:
      co_return json_error(request, HttpError::idempotency_key_reused,
                           "this Idempotency-Key was used for another message");
    }
  }

  // The request waits for the store at most its deadline (handshake_timeout). The key learns
  // the id whenever the message is stored, also after this request gave up waiting.
  std::function<void(MessageId)> complete_key;
  if (keyed)
    complete_key = [owner = state.shared_from_this(), key, serial = claim.serial](MessageId id) {
      owner->idempotency_keys().complete(key, serial, id);
    };
  MessageDraft draft{from, std::move(body.text), now_ms()};
  const PublishResult result = co_await publish_and_wait(
      state, target.group, std::move(draft), std::move(complete_key), config.handshake_timeout);
  switch (result.outcome) {
  case PublishOutcome::stored:
    HUDDLE_LOG(state.logger(), debug, "publish.stored",
               {{"group", target.group}, {"user", from}, {"id", result.id}});
    co_return published(request, result.id, body.ref, false);
  case PublishOutcome::history_unavailable:
    if (keyed) keys.abandon(key, claim.serial);
    co_return json_error(request, HttpError::history_unavailable,
                         "the history cannot store messages now; nothing was sent, send it again "
                         "later");
  case PublishOutcome::broker_unavailable:
    if (keyed) keys.abandon(key, claim.serial);
    co_return json_error(request, HttpError::broker_unavailable,
                         "the message broker cannot be reached; nothing was sent, send it again "
                         "later");
  case PublishOutcome::not_stored:
    break;
  }
  // Sent to the members, but not stored in time: the id stays with the key, so a retry with
  // it gets the id once stored rather than a second message.
  HUDDLE_LOG(state.logger(), warning, "publish.not_stored",
             {{"group", target.group}, {"user", from}});
  co_return json_error(request, HttpError::not_stored,
                       "the message was sent but is not stored yet; retry with the same "
                       "Idempotency-Key to learn its id");
}

asio::awaitable<Response> connections_route(const Request& request, ServerState& state,
                                            const ApiTarget& target) {
  auto admitted = co_await admit_admin(request, state, target.group, http::verb::get);
  if (auto* refusal = std::get_if<Response>(&admitted)) co_return std::move(*refusal);
  json::array list;
  for (auto& connection : state.sessions().connections(target.group)) {
    json::object entry;
    entry["user"] = std::move(connection.user);
    entry["address"] = std::move(connection.address);
    list.push_back(std::move(entry));
  }
  json::object body;
  body["group"] = target.group;
  body["connections"] = std::move(list);
  co_return json_response(request, http::status::ok, body);
}

asio::awaitable<Response> close_member_route(const Request& request, ServerState& state,
                                             const ApiTarget& target) {
  auto admitted = co_await admit_admin(request, state, target.group, http::verb::delete_);
  if (auto* refusal = std::get_if<Response>(&admitted)) co_return std::move(*refusal);
  const Admitted& who = std::get<Admitted>(admitted);
  const std::size_t closed =
      state.sessions().close_user(target.group, target.user, protocol::Error::removed_by_admin);
  HUDDLE_LOG(state.logger(), info, "admin.closed_connections",
             {{"group", target.group},
              {"user", target.user},
              {"count", closed},
              {"by", caller_name(who.caller)}});
  json::object body;
  body["group"] = target.group;
  body["user"] = target.user;
  body["closed"] = closed;
  co_return json_response(request, http::status::ok, body);
}

} // namespace huddle::net
