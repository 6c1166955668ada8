#include "net/target.hpp"

#include "core/user_name.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include <charconv>

namespace huddle::net {
namespace {

std::optional<GroupId> parse_group(std::string_view digits) {
  GroupId group = 0;
  if (digits.empty() || digits.front() == '0') return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), group);
  if (ec != std::errc{} || end != digits.data() + digits.size() || group < 1) return std::nullopt;
  return group;
}

// A message id for ?since=: 0 .. 2^63-1, decimal digits only.
std::optional<MessageId> parse_since(std::string_view digits) {
  MessageId since = 0;
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), since);
  if (ec != std::errc{} || end != digits.data() + digits.size() || since < 0) return std::nullopt;
  return since;
}

// Epochs are opaque to clients; huddle's own are 16 hex digits (store/continuity.hpp).
bool is_valid_epoch(std::string_view epoch) {
  if (epoch.empty() || epoch.size() > 64) return false;
  for (const char c : epoch)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
          c == '_'))
      return false;
  return true;
}

TargetError bad_group(std::string_view path) {
  return TargetError{HttpError::bad_group,
                     "the group id must be an integer from 1 to 2^63-1, got \"" +
                         std::string(path.substr(0, 64)) + "\""};
}

TargetError bad_since() {
  return TargetError{HttpError::bad_since,
                     "since must be a message id, an integer from 0 to 2^63-1"};
}

// Calls `visit(key, raw_value)` for each `key=value` pair of a query string until it
// returns an error.
template <typename Visit>
std::optional<TargetError> for_each_parameter(std::string_view query, Visit visit) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view raw =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (auto error = visit(key, raw)) return error;
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  // Only the escapes are checked (a '%' and two hex digits each), not which characters
  // RFC 3986 lets a query hold: what was accepted before Boost.URL still is.
  const auto escaped = boost::urls::make_pct_string_view(text);
  if (!escaped) return std::nullopt;
  boost::urls::encoding_opts form;
  form.space_as_plus = true; // application/x-www-form-urlencoded, as browsers send a query
  return escaped->decode(form);
}

bool is_valid_name(std::string_view name) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size(); ++chars) {
    const auto lead = static_cast<unsigned char>(name[i]);
    std::size_t length = 0;
    char32_t code = 0;
    if (lead < 0x80) {
      length = 1, code = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > name.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(name[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr char32_t k_min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < k_min_for_length[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
      return false; // overlong, out of range, or a surrogate
    if (code < 0x20 || (code >= 0x7F && code < 0xA0)) return false; // control characters
    i += length;
  }
  return chars >= 1 && chars <= k_max_name_chars;
}

std::variant<WsTarget, TargetError> parse_ws_target(std::string_view target) {
  target.remove_prefix(k_ws_prefix.size());
  const auto query_start = target.find('?');
  const std::string_view path = target.substr(0, query_start);
  std::string_view query =
      query_start == std::string_view::npos ? std::string_view{} : target.substr(query_start + 1);

  WsTarget result;
  const auto group = parse_group(path);
  if (!group) return bad_group(path);
  result.group = *group;

  auto error = for_each_parameter(
      query, [&](std::string_view key, std::string_view raw) -> std::optional<TargetError> {
        if (key == "name") {
          auto name = percent_decode(raw);
          if (!name || !is_valid_name(*name))
            return TargetError{HttpError::bad_name,
                               "name must be 1-32 printable characters of UTF-8"};
          result.name = std::move(*name);
        } else if (key == "echo") {
          if (raw != "0" && raw != "1")
            return TargetError{HttpError::bad_echo, "echo must be 0 or 1"};
          result.echo = raw == "1";
        } else if (key == "since") {
          result.since = parse_since(raw);
          if (!result.since) return bad_since();
        } else if (key == "epoch") {
          if (!is_valid_epoch(raw))
            return TargetError{HttpError::bad_epoch,
                               "epoch must be the welcome's epoch: 1-64 letters, "
                               "digits, '-' or '_'"};
          result.epoch = std::string(raw);
        } else if (key == "token") {
          result.token = percent_decode(raw);
          if (!result.token)
            return TargetError{HttpError::bad_token, "token is not percent-encoded"};
        }
        return std::nullopt;
      });
  if (error) return *error;
  return result;
}

std::optional<std::variant<ApiTarget, TargetError>> parse_api_target(std::string_view target) {
  target.remove_prefix(k_api_groups_prefix.size());
  const auto query_start = target.find('?');
  const std::string_view path = target.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view{} : target.substr(query_start + 1);
  const auto slash = path.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view resource = path.substr(slash + 1);

  ApiTarget result;
  if (resource == "messages")
    result.resource = ApiTarget::Resource::messages;
  else if (resource == "members")
    result.resource = ApiTarget::Resource::members;
  else if (resource == "connections")
    result.resource = ApiTarget::Resource::connections;
  else if (resource.starts_with("members/"))
    result.resource = ApiTarget::Resource::member;
  else
    return std::nullopt;
  const auto group = parse_group(path.substr(0, slash));
  if (!group) return bad_group(path.substr(0, slash));
  result.group = *group;
  if (result.resource == ApiTarget::Resource::member) {
    auto user = percent_decode(resource.substr(std::string_view("members/").size()));
    if (!user || !core::is_valid_user_name(*user))
      return TargetError{HttpError::bad_user, "the user must be 1-32 of A-Z a-z 0-9 _ . -"};
    result.user = std::move(*user);
  }

  auto error = for_each_parameter(
      query, [&](std::string_view key, std::string_view raw) -> std::optional<TargetError> {
        if (result.resource != ApiTarget::Resource::messages) return std::nullopt;
        if (key == "since") {
          result.since = parse_since(raw);
          if (!result.since) return bad_since();
        } else if (key == "limit") {
          std::size_t limit = 0;
          auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), limit);
          if (raw.empty() || ec != std::errc{} || end != raw.data() + raw.size() || limit < 1 ||
              limit > k_max_history_limit)
            return TargetError{HttpError::bad_limit, "limit must be an integer from 1 to " +
                                                         std::to_string(k_max_history_limit)};
          result.limit = limit;
        }
        return std::nullopt;
      });
  if (error) return *error;
  return result;
}

} // namespace huddle::net
