#include "net/log_redaction.hpp"

#include "net/target.hpp"

#include <algorithm>
#include <cctype>

namespace huddle::net {

namespace {

bool is_secret_name(std::string_view raw_name) {
  // A name that does not decode is kept as sent, lower-cased: still compared.
  std::string name = percent_decode(raw_name).value_or(std::string(raw_name));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.ends_with("token") || name == "password" || name == "secret";
}

} // namespace

std::string redact_target(std::string_view target) {
  const auto query_start = target.find('?');
  if (query_start == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, query_start + 1));
  std::string_view query = target.substr(query_start + 1);
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && is_secret_name(pair.substr(0, eq))) {
      out += pair.substr(0, eq + 1);
      out += k_redacted;
    } else {
      out += pair;
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

} // namespace huddle::net
