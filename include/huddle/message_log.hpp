// MessageLog: where a ChatManager records every message it assigns an id to (e.g. huddle's
// SQLite history, src/store/). Optional: a ChatManager without one keeps nothing.
//
// The manager calls try_reserve() and then append() inside the group's critical section, so
// a log sees each group's messages in id order; both must therefore only touch memory (never
// disk or network I/O). The log calls `on_durable` once the message is stored as durably as
// it promises (at once for a log that promises nothing), from any thread; the manager sends
// the sender's ack from there.
//
// Ids are the log's promise as much as the manager's: last_id() must never answer less than
// an id the log was ever given for that group, stored or still queued, so a group that is
// created again (after it emptied, or after a restart) never hands an id out twice.
#pragma once

#include <huddle/message.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>

namespace huddle {

class MessageLog {
public:
  virtual ~MessageLog() = default;

  // Called before an id is assigned. True reserves room for exactly one append(), which the
  // caller then makes; false while the log cannot take more (its storage is slow or failing):
  // the manager refuses the message rather than hand out an id the log would not keep. A log
  // that bounds what it holds uncommitted this way also bounds the ids a crash can lose
  // (docs/architecture.md, "Message ids"). Called for every message: it must be cheap.
  virtual bool try_reserve() noexcept { return true; }

  // Queues `message` under the reservation try_reserve() made; never blocks on I/O.
  // `on_durable` may be empty.
  virtual void append(const MessagePtr& message, std::function<void()> on_durable) = 0;

  // The newest id the log has ever been given for `group`, committed or not (0 for a group it
  // has never seen, or above 0 when the log moved every id past a gap: see above). The
  // manager asks when it creates a group, outside any lock; the log may do I/O to answer.
  virtual boost::asio::awaitable<MessageId> last_id(GroupId group) = 0;

  // Names the history the log's ids belong to: it changes whenever the log cannot vouch that
  // ids it handed out before still name the same messages and that nothing acked went
  // missing (a new or replaced file, a restore, an unclean start). Clients send it back with
  // ?since= so a reconnect across such a change starts afresh instead of trusting its ids.
  virtual std::string epoch() const = 0;
};

} // namespace huddle
