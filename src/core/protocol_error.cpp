#include "core/protocol_error.hpp"

#include <string>

namespace huddle::protocol {

namespace {

class Category final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "huddle.protocol"; }
  std::string message(int value) const override {
    if (value < 1 || static_cast<std::size_t>(value) > std::size(k_protocol_errors))
      return "unknown protocol error " + std::to_string(value);
    return std::string(info(static_cast<Error>(value)).message);
  }
};

} // namespace

const boost::system::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

} // namespace huddle::protocol
