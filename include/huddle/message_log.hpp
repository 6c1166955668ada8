// MessageLog: where a ChatManager records every message it assigns an id to (e.g. huddle's
// SQLite history, src/store/). Optional: a ChatManager without one keeps nothing.
//
// The manager calls append() inside the group's critical section, so a log sees each
// group's messages in id order; append() must therefore only queue (memory operations,
// never disk or network I/O). The log calls `on_durable` once the message is stored as
// durably as it promises (at once for a log that promises nothing), from any thread; the
// manager sends the sender's ack from there.
#pragma once

#include <huddle/message.hpp>

#include <functional>
#include <unordered_map>

namespace huddle {

class MessageLog {
public:
  virtual ~MessageLog() = default;

  // Queues `message`; never blocks on I/O. `on_durable` may be empty.
  virtual void append(const MessagePtr& message, std::function<void()> on_durable) = 0;

  // The newest id the log has ever seen per group, read at start-up, so ids continue
  // across restarts instead of starting again from 1.
  virtual std::unordered_map<GroupId, MessageId> last_ids() = 0;

  // False while the log cannot take more (its queue is full because its storage is slow
  // or failing): the manager then refuses new messages rather than send what the log
  // would not keep. Called for every message: it must be cheap.
  virtual bool accepting() const noexcept { return true; }
};

} // namespace huddle
