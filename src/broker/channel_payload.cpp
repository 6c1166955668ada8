#include "broker/channel_payload.hpp"

#include <charconv>

namespace huddle::broker {

namespace {

// Reads a decimal integer up to the next '\n' and moves past it.
template <typename Int> bool take_number(std::string_view& rest, Int& value) {
  const auto end = rest.find('\n');
  if (end == std::string_view::npos || end == 0) return false;
  const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, value);
  if (ec != std::errc() || ptr != rest.data() + end) return false;
  rest.remove_prefix(end + 1);
  return true;
}

} // namespace

ChannelPayload parse_channel_payload(std::string_view payload) {
  if (payload.empty()) return ChannelJunk{};
  const char kind = payload.front();
  std::string_view rest = payload.substr(1);
  if (kind == 'J' || kind == 'L') {
    if (rest.empty()) return ChannelJunk{};
    return ChannelPresence{kind == 'J', std::string(rest)};
  }
  if (kind != 'M') return ChannelJunk{};
  ChannelMessage message;
  std::size_t from_size = 0;
  if (!take_number(rest, message.id) || message.id < 1 || !take_number(rest, message.ts_ms))
    return ChannelJunk{};
  const auto origin_end = rest.find('\n');
  if (origin_end == std::string_view::npos) return ChannelJunk{};
  message.origin = rest.substr(0, origin_end);
  rest.remove_prefix(origin_end + 1);
  if (!take_number(rest, from_size) || from_size > rest.size()) return ChannelJunk{};
  message.from = rest.substr(0, from_size);
  message.text = rest.substr(from_size);
  return message;
}

std::string group_key(std::string_view prefix, GroupId group, std::string_view what) {
  std::string key(prefix);
  key += '{';
  key += std::to_string(group);
  key += "}:";
  key += what;
  return key;
}

std::optional<GroupId> channel_group(std::string_view prefix, std::string_view channel) {
  constexpr std::string_view suffix = "}:ch";
  if (!channel.starts_with(prefix)) return std::nullopt;
  channel.remove_prefix(prefix.size());
  if (!channel.starts_with('{') || !channel.ends_with(suffix)) return std::nullopt;
  channel = channel.substr(1, channel.size() - 1 - suffix.size());
  GroupId group = 0;
  const auto [ptr, ec] = std::from_chars(channel.data(), channel.data() + channel.size(), group);
  if (ec != std::errc() || ptr != channel.data() + channel.size() || group < 1) return std::nullopt;
  // Only the name group_key() makes: "{07}" is not group 7's channel.
  if (channel.front() == '0') return std::nullopt;
  return group;
}

} // namespace huddle::broker
