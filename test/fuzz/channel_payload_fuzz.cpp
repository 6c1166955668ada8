// libFuzzer target: what RedisBroker reads from other nodes over a group's channel
// (src/broker/channel_payload.cpp), and the channel names it maps back to groups. Anything
// that reaches a Redis channel under huddle's prefix (another version, a stray PUBLISH) is
// read here. Input: one payload. Checked beyond "no crash": a message's parts are the
// payload's own bytes, in order, and a channel name maps back to the group it was made of.
#include "broker/channel_payload.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace broker = huddle::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  const auto parsed = broker::parse_channel_payload(payload);
  if (const auto* message = std::get_if<broker::ChannelMessage>(&parsed)) {
    if (message->id < 1 || !payload.ends_with(message->from + message->text)) std::abort();
  } else if (const auto* presence = std::get_if<broker::ChannelPresence>(&parsed)) {
    if (presence->user.empty() || payload.substr(1) != presence->user) std::abort();
  }
  const auto group = broker::channel_group("huddle:", payload);
  if (group && broker::group_key("huddle:", *group, "ch") != payload) std::abort();
  return 0;
}
