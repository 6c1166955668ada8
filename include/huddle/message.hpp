// Message: one chat message as every member of a group receives it.
//
// A broadcast creates exactly one Message; its wire frame (the protocol v1 JSON text) is
// encoded once, at creation, and every recipient's queue holds a Frame that shares
// ownership of the Message instead of a copy of its bytes. Messages are immutable after
// make(), so any thread may read them without locking.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace huddle {

using GroupId = std::int64_t;   // 1 .. 2^63-1, as in the application huddle descends from
using MessageId = std::int64_t; // per group, strictly increasing from 1

// An encoded server-to-client frame. Immutable and shared between all its recipients.
using Frame = std::shared_ptr<const std::string>;

inline Frame make_frame(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

// What a sender supplies; the ChatManager adds the group's next id.
struct MessageDraft {
  std::string from;
  std::string text;
  std::int64_t ts_ms = 0; // milliseconds since the Unix epoch (system clock)
};

class Message : public std::enable_shared_from_this<Message> {
  struct Private {};

public:
  static std::shared_ptr<const Message> make(GroupId group, MessageId id, MessageDraft draft);

  Message(Private, GroupId group, MessageId id, MessageDraft draft);

  GroupId group() const noexcept { return group_; }
  MessageId id() const noexcept { return id_; }
  const std::string& from() const noexcept { return from_; }
  const std::string& text() const noexcept { return text_; }
  std::int64_t ts_ms() const noexcept { return ts_ms_; }

  // The `{"type":"message",...}` frame. The returned pointer keeps this Message alive.
  Frame frame() const { return Frame(shared_from_this(), &frame_); }

private:
  GroupId group_;
  MessageId id_;
  std::string from_;
  std::string text_;
  std::int64_t ts_ms_;
  std::string frame_;
};

using MessagePtr = std::shared_ptr<const Message>;

// Milliseconds since the Unix epoch, the `ts` of protocol v1.
std::int64_t now_ms() noexcept;

} // namespace huddle
