#include "core/protocol.hpp"

#include <boost/json.hpp>

namespace huddle::protocol {
namespace json = boost::json;

std::string encode_message(GroupId group, MessageId id, std::string_view from,
                           std::string_view text, std::int64_t ts_ms) {
  return json::serialize(json::object{{"type", "message"},
                                      {"group", group},
                                      {"id", id},
                                      {"from", from},
                                      {"text", text},
                                      {"ts", ts_ms}});
}

std::string encode_welcome(GroupId group, std::string_view user, MessageId last_id,
                           std::string_view epoch, const std::vector<std::string>& members,
                           Replay replay) {
  json::array names;
  names.reserve(members.size());
  for (const auto& name : members)
    names.emplace_back(name);
  json::object welcome{{"type", "welcome"},  {"group", group}, {"user", user},
                       {"last_id", last_id}, {"epoch", epoch}, {"members", std::move(names)}};
  switch (replay) {
  case Replay::none:
    break;
  case Replay::complete:
  case Replay::truncated:
    welcome["truncated"] = replay == Replay::truncated;
    break;
  case Replay::reset:
    welcome["reset"] = true;
    break;
  }
  return json::serialize(welcome);
}

std::string encode_presence(std::string_view type, GroupId group, std::string_view user) {
  return json::serialize(json::object{{"type", type}, {"group", group}, {"user", user}});
}

std::string encode_ack(const std::optional<std::string>& ref, MessageId id) {
  json::object ack{{"type", "ack"}};
  if (ref) ack["ref"] = *ref;
  ack["id"] = id;
  return json::serialize(ack);
}

std::string encode_error(Error code, std::string_view detail, const std::optional<std::string>& ref,
                         std::optional<std::int64_t> retry_after_ms) {
  json::object error{{"type", "error"}, {"code", info(code).wire}};
  if (ref) error["ref"] = *ref;
  error["detail"] = detail;
  if (retry_after_ms) error["retry_after_ms"] = *retry_after_ms;
  return json::serialize(error);
}

std::variant<ClientMessage, FrameError> parse_client_frame(std::string_view frame) {
  const auto start = frame.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || frame[start] != '{') {
    if (frame.empty()) return FrameError{Error::empty_text, "a message needs some text"};
    return ClientMessage{std::string(frame), std::nullopt};
  }
  boost::system::error_code ec;
  json::value value = json::parse(frame, ec);
  if (ec || !value.is_object()) return ClientMessage{std::string(frame), std::nullopt};

  const json::object& object = value.get_object();
  const json::value* type = object.if_contains("type");
  if (type == nullptr || !type->is_string())
    return FrameError{Error::missing_type, "a JSON frame needs a string \"type\""};
  if (type->get_string() != "message")
    return FrameError{Error::unknown_type,
                      "unknown frame type \"" + std::string(type->get_string()) + "\""};

  const json::value* text = object.if_contains("text");
  if (text == nullptr || !text->is_string())
    return FrameError{Error::missing_text, "a message frame needs a string \"text\""};
  if (text->get_string().empty()) return FrameError{Error::empty_text, "a message needs some text"};

  ClientMessage message{std::string(text->get_string()), std::nullopt};
  if (const json::value* ref = object.if_contains("ref")) {
    if (!ref->is_string()) return FrameError{Error::bad_ref, "\"ref\" must be a string"};
    message.ref = std::string(ref->get_string());
  }
  return message;
}

} // namespace huddle::protocol
