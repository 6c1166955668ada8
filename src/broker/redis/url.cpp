#include "broker/redis/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <stdexcept>

namespace huddle::broker::redis {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

[[noreturn]] void refuse(std::string_view url, std::string_view why) {
  throw std::invalid_argument("bad Redis URL \"" + std::string(url) + "\": " + std::string(why) +
                              " (expected redis://HOST[:PORT][/DB])");
}

// A non-negative decimal number of at most `max`, digits only (no sign, no spaces).
bool parse_number(std::string_view digits, long max, long& value) {
  if (digits.empty() || digits.size() > 10 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return ec == std::errc{} && end == digits.data() + digits.size() && value <= max;
}

} // namespace

bool holds_credentials(std::string_view url) {
  const auto separator = url.find("://");
  std::string_view rest = separator == std::string_view::npos ? url : url.substr(separator + 3);
  // A '@' before the path can only be user info (a host name or address has none).
  return rest.substr(0, rest.find('/')).find('@') != std::string_view::npos;
}

Endpoint parse_url(std::string_view url) {
  const auto separator = url.find("://");
  // Credentials first, and without quoting the URL, which would put the password in the log.
  if (holds_credentials(url))
    throw std::invalid_argument("bad Redis URL: it holds credentials (user:password@); give the "
                                "password on its own (ServerConfig::broker_password), not in "
                                "the URL");
  if (separator == std::string_view::npos) refuse(url, "no scheme");
  const auto scheme = url.substr(0, separator);
  if (!equals_ignoring_case(scheme, "redis")) {
    refuse(url, equals_ignoring_case(scheme, "rediss")
                    ? "rediss (TLS) is not supported"
                    : "scheme \"" + std::string(scheme) + "\" is not redis");
  }

  const std::string_view rest = url.substr(separator + 3);
  Endpoint endpoint;
  std::string_view authority = rest.substr(0, rest.find('/'));
  const std::string_view path =
      rest.size() > authority.size() ? rest.substr(authority.size() + 1) : std::string_view{};

  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) refuse(url, "IPv6 address without ']'");
    endpoint.host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') refuse(url, "expected ':PORT' after the IPv6 address");
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    endpoint.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      if (authority.find(':', colon + 1) != std::string_view::npos)
        refuse(url, "an IPv6 address must be in brackets ([::1]:6379)");
      has_port = true;
      port = authority.substr(colon + 1);
    }
  }
  if (endpoint.host.empty()) refuse(url, "no host");

  if (has_port) {
    long value = 0;
    if (!parse_number(port, std::numeric_limits<std::uint16_t>::max(), value) || value == 0)
      refuse(url, "port \"" + std::string(port) + "\" is not a number from 1 to 65535");
    endpoint.port = static_cast<std::uint16_t>(value);
  }

  if (!path.empty()) {
    long value = 0;
    if (!parse_number(path, std::numeric_limits<int>::max(), value))
      refuse(url, "database \"" + std::string(path) + "\" is not a non-negative number");
    endpoint.db = static_cast<int>(value);
  }
  return endpoint;
}

} // namespace huddle::broker::redis
