#include "net/http_error.hpp"

#include <string>

namespace huddle::net {

namespace {

class HttpErrorCategory final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "huddle.http"; }
  std::string message(int value) const override {
    if (value < 1 || static_cast<std::size_t>(value) > std::size(k_http_errors))
      return "unknown HTTP API error " + std::to_string(value);
    return std::string(info(static_cast<HttpError>(value)).message);
  }
};

} // namespace

const boost::system::error_category& http_error_category() noexcept {
  static const HttpErrorCategory category;
  return category;
}

} // namespace huddle::net
