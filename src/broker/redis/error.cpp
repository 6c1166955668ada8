#include "broker/redis/error.hpp"

#include <string>

namespace huddle::broker::redis {

namespace {

class Category final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "huddle.redis"; }
  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
    case error::not_connected:
      return "not connected to Redis";
    case error::connection_lost:
      return "connection to Redis lost before the reply";
    case error::timeout:
      return "Redis did not reply in time";
    case error::protocol_error:
      return "Redis protocol error";
    case error::stopped:
      return "Redis connection stopped";
    }
    return "unknown Redis error " + std::to_string(value);
  }
};

} // namespace

const boost::system::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

} // namespace huddle::broker::redis
