// Message: one chat message as every member of a group receives it.
//
// A broadcast creates exactly one Message; its wire frame (the protocol v1 JSON text) is
// encoded once, at creation, and every recipient's queue holds a Frame that shares
// ownership of the Message instead of a copy of its bytes. Messages are immutable after
// make(), so any thread may read them without locking.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace huddle {

using GroupId = std::int64_t;   // 1 .. 2^63-1, as in the application huddle descends from
using MessageId = std::int64_t; // per group, strictly increasing from 1

// The bytes of an encoded server-to-client frame and, made on first demand, their
// permessage-deflate form (RFC 7692; the server's side compresses each message on its own,
// docs/protocol.md): one of each per frame, shared by every recipient, so a broadcast is
// compressed once, not once per recipient that negotiated compression.
class FrameBody {
public:
  explicit FrameBody(std::string text) noexcept : text_(std::move(text)) {}
  ~FrameBody() { delete deflated_.load(std::memory_order_acquire); }
  FrameBody(const FrameBody&) = delete;
  FrameBody& operator=(const FrameBody&) = delete;

  const std::string& text() const noexcept { return text_; }

  // `compress(text())`, made by the first caller and kept for the frame's life. Thread-safe
  // and lock-free: callers that race may each compress, and all get the one result kept
  // (rare: a group's recipients share a thread). `compress` is the caller's (the server's
  // is net/permessage_deflate.hpp's deflate_message), so the core needs no zlib.
  const std::string& deflated(std::string (*compress)(std::string_view)) const {
    if (const std::string* kept = deflated_.load(std::memory_order_acquire)) return *kept;
    auto made = std::make_unique<const std::string>(compress(text_));
    const std::string* kept = nullptr;
    if (deflated_.compare_exchange_strong(kept, made.get(), std::memory_order_acq_rel))
      return *made.release();
    return *kept; // another caller's came first
  }

private:
  std::string text_;
  mutable std::atomic<const std::string*> deflated_{nullptr}; // owned
};

// An encoded server-to-client frame: a shared, immutable FrameBody, used like a pointer to
// its text. Shared between all its recipients.
class Frame {
public:
  Frame() noexcept = default;
  explicit Frame(std::shared_ptr<const FrameBody> body) noexcept : body_(std::move(body)) {}

  const std::string& operator*() const noexcept { return body_->text(); }
  const std::string* operator->() const noexcept { return &body_->text(); }
  const std::string* get() const noexcept { return body_ ? &body_->text() : nullptr; }
  explicit operator bool() const noexcept { return body_ != nullptr; }
  const FrameBody& body() const noexcept { return *body_; }

private:
  std::shared_ptr<const FrameBody> body_;
};

inline Frame make_frame(std::string text) {
  return Frame(std::make_shared<const FrameBody>(std::move(text)));
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
  Frame frame() const {
    return Frame(std::shared_ptr<const FrameBody>(shared_from_this(), &frame_));
  }

private:
  GroupId group_;
  MessageId id_;
  std::string from_;
  std::string text_;
  std::int64_t ts_ms_;
  FrameBody frame_;
};

using MessagePtr = std::shared_ptr<const Message>;

// Milliseconds since the Unix epoch, the `ts` of protocol v1.
std::int64_t now_ms() noexcept;

} // namespace huddle
