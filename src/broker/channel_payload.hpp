// What RedisBroker's nodes send each other over a group's channel, and the names of the keys
// and channels they share (the formats are described in broker/redis_scripts.hpp).
// Pure functions: unit-tested, and fuzzed through test/fuzz.
#pragma once

#include <huddle/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace huddle::broker {

struct ChannelMessage {
  MessageId id = 0;
  std::int64_t ts_ms = 0;
  std::string origin; // "<node>:<serial>" of the sending session
  std::string from;
  std::string text;
};

struct ChannelPresence {
  bool online = false; // J: came online in the group (anywhere); L: went offline everywhere
  std::string user;
};

// A payload of another shape (another huddle version, a stray PUBLISH): ignored by callers.
struct ChannelJunk {};

using ChannelPayload = std::variant<ChannelJunk, ChannelMessage, ChannelPresence>;

ChannelPayload parse_channel_payload(std::string_view payload);

// The keys and channel of one group, "<prefix>{<group>}:<what>".
std::string group_key(std::string_view prefix, GroupId group, std::string_view what);
// The group of a channel named by group_key(prefix, group, "ch"); none for another name.
std::optional<GroupId> channel_group(std::string_view prefix, std::string_view channel);

} // namespace huddle::broker
