#include <huddle/message.hpp>

#include "core/protocol.hpp"

#include <chrono>

namespace huddle {

std::shared_ptr<const Message> Message::make(GroupId group, MessageId id, MessageDraft draft) {
  return std::make_shared<const Message>(Private{}, group, id, std::move(draft));
}

Message::Message(Private, GroupId group, MessageId id, MessageDraft draft)
    : group_(group), id_(id), from_(std::move(draft.from)), text_(std::move(draft.text)),
      ts_ms_(draft.ts_ms), frame_(protocol::encode_message(group_, id_, from_, text_, ts_ms_)) {}

std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace huddle
