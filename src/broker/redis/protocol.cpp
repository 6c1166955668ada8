#include "broker/redis/protocol.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <new>

namespace huddle::broker::redis {

namespace {

void append_length(std::string& out, char prefix, std::size_t length) {
  char digits[24];
  digits[0] = prefix;
  const auto end = std::to_chars(digits + 1, digits + sizeof digits, length).ptr;
  out.append(digits, end);
  out.append("\r\n");
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

} // namespace

void append_command(std::string& out, const Command& command) {
  append_length(out, '*', command.size());
  for (const auto& argument : command) {
    append_length(out, '$', argument.size());
    out.append(argument);
    out.append("\r\n");
  }
}

void ReplyReader::Free::operator()(::redisReader* reader) const noexcept {
  redisReaderFree(reader);
}

ReplyReader::ReplyReader() : reader_(redisReaderCreate()) {
  if (!reader_) throw std::bad_alloc();
}
ReplyReader::~ReplyReader() = default;
ReplyReader::ReplyReader(ReplyReader&&) noexcept = default;
ReplyReader& ReplyReader::operator=(ReplyReader&&) noexcept = default;

void ReplyReader::feed(std::string_view bytes) {
  if (failed() || bytes.empty()) return;
  if (redisReaderFeed(reader_.get(), bytes.data(), bytes.size()) != REDIS_OK)
    error_ = reader_->errstr[0] != '\0' ? reader_->errstr : "out of memory";
}

std::optional<Reply> ReplyReader::next() {
  if (failed()) return std::nullopt;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
    error_ = reader_->errstr[0] != '\0' ? reader_->errstr : "protocol error";
    return std::nullopt;
  }
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                     freeReplyObject);
  return detail::to_reply(*reply);
}

std::optional<Publication> as_publication(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.empty()) return std::nullopt;
  const auto& elements = reply.elements;
  const auto all_strings = [&elements] {
    return std::all_of(elements.begin(), elements.end(),
                       [](const Reply& e) { return e.type == Reply::Type::string; });
  };
  if (elements[0].type != Reply::Type::string || !all_strings()) return std::nullopt;
  const std::string& kind = elements[0].text;
  if ((kind == "message" || kind == "smessage") && elements.size() == 3)
    return Publication{elements[1].text, elements[2].text};
  if (kind == "pmessage" && elements.size() == 4)
    return Publication{elements[2].text, elements[3].text};
  return std::nullopt;
}

std::uint32_t subscriber_replies(const Command& command) noexcept {
  if (command.empty()) return 1;
  const std::string_view name = command.front();
  const auto channels = static_cast<std::uint32_t>(command.size() - 1);
  for (std::string_view subscribe : {"subscribe", "psubscribe", "ssubscribe"}) {
    if (equals_ignoring_case(name, subscribe)) return std::max<std::uint32_t>(channels, 1);
  }
  for (std::string_view unsubscribe : {"unsubscribe", "punsubscribe", "sunsubscribe"}) {
    if (equals_ignoring_case(name, unsubscribe)) return channels > 0 ? channels : k_until_pong;
  }
  return 1;
}

bool is_pong(const Reply& reply) noexcept {
  if (reply.type == Reply::Type::status) return reply.text == "PONG";
  return reply.type == Reply::Type::array && !reply.elements.empty() &&
         reply.elements[0].type == Reply::Type::string && reply.elements[0].text == "pong";
}

} // namespace huddle::broker::redis
