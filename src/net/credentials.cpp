#include "net/credentials.hpp"

namespace huddle::net {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

} // namespace

std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) {
  while (!cookie_header.empty()) {
    const auto end = cookie_header.find(';');
    const std::string_view pair = trim(cookie_header.substr(0, end));
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && trim(pair.substr(0, equals)) == name) {
      std::string_view value = trim(pair.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return value;
    }
    if (end == std::string_view::npos) break;
    cookie_header.remove_prefix(end + 1);
  }
  return std::nullopt;
}

std::optional<Credentials> find_credentials(std::string_view authorization,
                                            std::string_view cookie_header,
                                            const std::optional<std::string>& query_token) {
  authorization = trim(authorization);
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() > bearer.size() &&
      iequals(authorization.substr(0, bearer.size()), bearer))
    return Credentials{std::string(trim(authorization.substr(bearer.size()))), false};
  if (auto cookie = cookie_value(cookie_header, k_token_cookie); cookie && !cookie->empty())
    return Credentials{std::string(*cookie), true};
  if (query_token && !query_token->empty()) return Credentials{*query_token, false};
  return std::nullopt;
}

std::string login_cookie(std::string_view token, std::chrono::seconds max_age, bool secure) {
  // Secure only over TLS: over plain http://127.0.0.1 a Secure cookie would never come back
  // (behind a TLS proxy, the proxy's https is invisible here).
  return std::string(k_token_cookie) + "=" + std::string(token) +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age.count()) +
         (secure ? "; Secure" : "");
}

std::string logout_cookie(bool secure) {
  return std::string(k_token_cookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" +
         (secure ? "; Secure" : "");
}

bool is_same_origin(std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;
  const auto scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos) return false;
  std::string_view origin_host = origin.substr(scheme_end + 3);
  if (auto slash = origin_host.find('/'); slash != std::string_view::npos)
    origin_host = origin_host.substr(0, slash);
  return iequals(origin_host, trim(host));
}

} // namespace huddle::net
