#include "core/ws_url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>
#include <stdexcept>

namespace huddle::core {

namespace urls = boost::urls;

namespace {

[[noreturn]] void refuse(std::string const& why) {
  throw std::invalid_argument(why);
}

// Why Boost.URL refused `text`: it says where its grammar failed, not what the user got wrong.
std::string why_not_a_url(std::string_view text) {
  if (text.empty()) return "is empty";
  if (text.find("://") == std::string_view::npos) return "does not start with ws:// or wss://";
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto const c = static_cast<unsigned char>(text[i]);
    // Never allowed unencoded anywhere in a URI (RFC 3986 §2): controls, space, non-ASCII
    // and these delimiters.
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) != std::string_view::npos) {
      return "has a character a URL does not allow unencoded at position " + std::to_string(i + 1) +
             " (percent-encode it)";
    }
  }
  return "is not a URL of the form ws://HOST[:PORT]/PATH[?QUERY]";
}

// The authority as written: from "//" to the path, query or fragment.
std::string_view written_authority(std::string_view text) {
  auto rest = text.substr(text.find("//") + 2);
  return rest.substr(0, rest.find_first_of("/?#"));
}

std::string bad_port(std::string_view port) {
  return "has the port \"" + std::string(port) + "\", not a number from 1 to 65535";
}

bool is_ipv6(std::string_view host) noexcept {
  return host.find(':') != std::string_view::npos;
}

std::string bracketed(std::string const& host) {
  return is_ipv6(host) ? "[" + host + "]" : host;
}

} // namespace

std::string WsUrl::host_header() const {
  std::uint16_t const default_port = tls ? 443 : 80;
  return port == default_port ? bracketed(host) : authority();
}

std::string WsUrl::authority() const {
  return bracketed(host) + ":" + std::to_string(port);
}

WsUrl parse_ws_url(std::string_view text) {
  auto const parsed = urls::parse_uri(text);
  if (!parsed) refuse(why_not_a_url(text));
  urls::url_view const& url = *parsed;
  WsUrl out;
  switch (url.scheme_id()) {
  case urls::scheme::ws:
    break;
  case urls::scheme::wss:
    out.tls = true;
    out.port = 443;
    break;
  default:
    refuse("has the scheme \"" + std::string(url.scheme()) + "\", not ws or wss");
  }
  if (!url.has_authority()) refuse("has no host");
  if (url.has_userinfo()) {
    refuse("holds user information (user:password@): credentials do not go in the URL");
  }
  // Boost.URL 1.81 ends the authority where its grammar stops matching and takes the rest
  // for the path ("ws://h:80a/x": port 80, path "a/x"; "ws://::1/x": host "", port ""),
  // although a path after an authority starts with '/' (RFC 3986 §3.3): so the authority is
  // also checked as written.
  auto const authority = written_authority(text);
  if (authority.size() != url.encoded_authority().size()) {
    if (!authority.starts_with('[') && authority.find(':') != authority.rfind(':')) {
      refuse("has an IPv6 address without brackets (ws://[::1]:8080/...)");
    }
    auto const colon = authority.rfind(':');
    auto const close = authority.rfind(']');
    if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
      refuse(bad_port(authority.substr(colon + 1)));
    }
    refuse("has the malformed host \"" + std::string(authority) + "\"");
  }
  if (url.host_type() == urls::host_type::none || url.encoded_host().empty()) refuse("has no host");
  if (url.host_type() == urls::host_type::ipvfuture) refuse("has an IPvFuture host");
  if (url.has_fragment()) refuse("has a fragment (#...), which WebSocket URLs do not");
  out.host = url.host_address();
  if (url.has_port()) {
    auto const digits = url.port();
    unsigned port = 0;
    auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port == 0 ||
        port > 65535) {
      refuse(bad_port(digits));
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  if (!url.encoded_path().empty()) out.target = url.encoded_path();
  if (url.has_query()) {
    out.target += '?';
    out.target += url.encoded_query();
  }
  return out;
}

} // namespace huddle::core
