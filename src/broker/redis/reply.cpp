#include "broker/redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <stdexcept>

namespace huddle::broker::redis {

namespace {

[[noreturn]] void throw_unexpected(const Reply& reply, std::string_view expected) {
  if (reply.is_error()) throw std::runtime_error("redis: " + reply.text);
  throw std::runtime_error("redis: expected " + std::string(expected) + " reply, got " +
                           std::string(to_string(reply.type)));
}

} // namespace

std::int64_t Reply::as_integer() const {
  if (type != Type::integer) throw_unexpected(*this, "an integer");
  return integer;
}

const std::string& Reply::as_string() const {
  if (type != Type::string && type != Type::status) throw_unexpected(*this, "a string");
  return text;
}

std::string_view to_string(Reply::Type type) noexcept {
  switch (type) {
  case Reply::Type::string:
    return "string";
  case Reply::Type::status:
    return "status";
  case Reply::Type::error:
    return "error";
  case Reply::Type::integer:
    return "integer";
  case Reply::Type::nil:
    return "nil";
  case Reply::Type::array:
    return "array";
  }
  return "unknown";
}

namespace detail {

Reply to_reply(const ::redisReply& reply) {
  Reply out;
  switch (reply.type) {
  case REDIS_REPLY_STRING:
    out.type = Reply::Type::string;
    out.text.assign(reply.str, reply.len);
    break;
  case REDIS_REPLY_STATUS:
    out.type = Reply::Type::status;
    out.text.assign(reply.str, reply.len);
    break;
  case REDIS_REPLY_ERROR:
    out.type = Reply::Type::error;
    out.text.assign(reply.str, reply.len);
    break;
  case REDIS_REPLY_INTEGER:
    out.type = Reply::Type::integer;
    out.integer = reply.integer;
    break;
  case REDIS_REPLY_ARRAY:
    out.type = Reply::Type::array;
    out.elements.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i)
      out.elements.push_back(to_reply(*reply.element[i]));
    break;
  default: // REDIS_REPLY_NIL, and a null array ("*-1"), which hiredis 0.14 also reads as nil
    out.type = Reply::Type::nil;
    break;
  }
  return out;
}

} // namespace detail

} // namespace huddle::broker::redis
