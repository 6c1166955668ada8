// ChatManager: the map from group ids to the members connected to them, and broadcast.
//
// All operations are coroutines (asio::awaitable) and may be called from any thread of
// the io_context(s) driving the given executor. One AsyncMutex guards the map of groups
// and each group has its own, so broadcasts in different groups never wait for each
// other; lock order is always map, then group.
//
// Guarantees:
// - connect registers a member once; connecting it again is a no-op.
// - Within a group, message ids are assigned and offered in one critical section, so
//   every member receives the group's messages in the same order, the order of their ids.
// - A broadcast only offers (a non-blocking push onto the member's own queue); it never
//   waits for a socket, so a slow member delays nobody but itself.
// - Members whose offer fails are removed under the group's lock; a group left without
//   members is erased. Ids never repeat: a group created again continues from its last id,
//   which the manager keeps for the most recently erased groups and otherwise asks the
//   MessageLog for (MessageLog::last_id(), across restarts too). Without a log, a group
//   forgotten that way continues above every id a forgotten group reached, so the memory
//   kept for erased groups is bounded whatever group ids clients choose.
// - With a MessageLog, each message is appended to it inside the same critical section, so
//   the log sees a group's messages in id order.
// - Broadcast snapshots are a shared pointer to an immutable member list, replaced
//   (copy-on-write) only when membership changes.
//
// Two ways to get ids. By default the manager assigns them (broadcast()), as one node does.
// Built on an ExternalSequence, it serves one node of several (src/broker/): another party
// assigns ids and tracks presence, messages come in through deliver() in id order, and
// presence frames through offer(); connect() then offers no join frame and disconnect() no
// leave frame, and broadcast() is not available.
#pragma once

#include <huddle/async_mutex.hpp>
#include <huddle/logger.hpp>
#include <huddle/member.hpp>
#include <huddle/message.hpp>
#include <huddle/message_log.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace huddle {

namespace core {
class RetiredGroups;
}

// Where a group's ids come from when another party assigns them (ChatManager::deliver()).
class ExternalSequence {
public:
  virtual ~ExternalSequence() = default;
  // The newest id the group has now: the manager asks each time it creates the group (a
  // member joins a group with no member here), outside every lock, and delivers only ids
  // after it. May throw (connect() then throws too).
  virtual boost::asio::awaitable<MessageId> last_id(GroupId group) = 0;
  // As MessageLog::epoch(); it may change while the manager runs.
  virtual std::string epoch() const = 0;
};

// What deliver() did with a message.
enum class Delivery {
  delivered, // offered to the members: it was the group's next id
  stale,     // its id is not above the group's last id (a repeat): dropped
  gap,       // ids between the group's last id and this one are missing: nothing was done
  no_group,  // nobody is connected to the group here: dropped
};

struct DeliveryResult {
  Delivery outcome = Delivery::no_group;
  MessageId last_id = 0; // the group's last id after the call (for a gap: fetch from here)
};

struct JoinResult {
  bool added = false;               // false: already registered, or its welcome was refused
  MessageId last_id = 0;            // the newest id the member will not receive live
  std::vector<std::string> members; // other users online in the group, sorted
};

class ChatManager {
public:
  // Called with the message once it is durable (see MessageLog), from any thread.
  using OnDurable = std::function<void(const MessagePtr&)>;

  // `log` (may be null) records every message; ids continue where it left off (see above).
  // Joins and leaves are logged to `logger` (null: make_stderr_logger(), warnings only).
  explicit ChatManager(boost::asio::any_io_executor executor,
                       std::shared_ptr<MessageLog> log = nullptr,
                       std::shared_ptr<Logger> logger = nullptr);
  // A manager whose ids come from `sequence` (see the top of this file).
  ChatManager(boost::asio::any_io_executor executor, std::shared_ptr<ExternalSequence> sequence,
              std::shared_ptr<Logger> logger = nullptr);
  // No log: the first constructor. A literal nullptr would fit both of the above alike.
  ChatManager(boost::asio::any_io_executor executor, std::nullptr_t,
              std::shared_ptr<Logger> logger = nullptr);
  ~ChatManager();

  ChatManager(const ChatManager&) = delete;
  ChatManager& operator=(const ChatManager&) = delete;

  // Registers `member` in `group`. Under the group's lock it first offers the member its
  // `welcome` frame, then adds it, then offers `join` to the others when this is the
  // user's first connection in the group; so the welcome is the first frame the member
  // gets and its last_id is exactly the id before the first message it gets live. Throws
  // what the log's last_id() throws (see broadcast()). `online`, when given, is the list of
  // users the welcome names (an ExternalSequence's manager knows only its own node's).
  boost::asio::awaitable<JoinResult> connect(GroupId group, std::shared_ptr<Member> member,
                                             const std::vector<std::string>* online = nullptr);

  // Removes `member`; offers `leave` when it was the user's last connection; erases the
  // group when it is left empty. Returns false when the member was not registered.
  boost::asio::awaitable<bool> disconnect(GroupId group, const Member& member);

  // Assigns the group's next id to `draft` and offers the message to every member but
  // `exclude` (which may be null). Returns the message, or null when the log refused to
  // take it (MessageLog::try_reserve()): then nothing was sent and no id used. A
  // group with no members still gets an id (the message reaches nobody). `on_durable`
  // (may be empty) is called once the log has stored the message (e.g. to send the
  // sender's ack), or right after the broadcast when there is no log. Throws what the
  // log's last_id() throws when the group must be created and the log cannot answer.
  // With g++ 12, pass a named MessageDraft, not `MessageDraft{...}` written inside the
  // co_await expression: g++ destroys such a temporary twice (GCC bug 100611).
  boost::asio::awaitable<MessagePtr> broadcast(GroupId group, MessageDraft draft,
                                               const Member* exclude, OnDurable on_durable = {});

  // ExternalSequence managers only: offers `message` (its id assigned elsewhere) to every
  // member of its group but `exclude` when it is the group's next id, under the group's lock
  // like broadcast(). The caller fills a gap (delivering the missing ids first) and calls
  // again, or, when the missing ids are gone for good, passes `skip_gap`.
  boost::asio::awaitable<DeliveryResult> deliver(MessagePtr message, const Member* exclude,
                                                 bool skip_gap = false);

  // Offers `frame` (e.g. a presence frame) to every member of `group` here whose user is not
  // `except_user`; false when the group has no member here.
  boost::asio::awaitable<bool> offer(GroupId group, Frame frame, std::string_view except_user = {});

  // The group's last id here; none when nobody is connected to it here.
  boost::asio::awaitable<std::optional<MessageId>> last_id(GroupId group);

  // ExternalSequence managers only: the sequence started again from nothing (its store lost
  // its data and took a new epoch), so every group's last id here goes back to 0 and the
  // new ids are delivered again. The members hold ids of the old epoch: the caller closes
  // them so they reconnect.
  boost::asio::awaitable<void> reset_positions();

  // The history's epoch (MessageLog::epoch() or ExternalSequence::epoch()), or, without
  // either, one made up for this manager's life: welcome frames carry it.
  std::string epoch() const { return sequence_ ? sequence_->epoch() : epoch_; }

  boost::asio::awaitable<std::size_t> group_count();
  // Messages (broadcast(), deliver()) the members took onto their queues, counted once per
  // member since start; presence frames are not counted. Any thread.
  std::uint64_t messages_offered() const noexcept {
    return messages_offered_.load(std::memory_order_relaxed);
  }
  boost::asio::awaitable<std::size_t> member_count(GroupId group);
  // Users online in `group`, sorted.
  boost::asio::awaitable<std::vector<std::string>> online_users(GroupId group);

private:
  struct Group;
  using GroupPtr = std::shared_ptr<Group>;
  struct LockedGroup;

  // Finds (or, with `create`, makes) the group and locks it; never returns an erased group.
  boost::asio::awaitable<LockedGroup> lock_group(GroupId id, bool create);
  // Erases the group if it is still empty once both locks are held (map, then group).
  boost::asio::awaitable<void> erase_if_empty(GroupId id, GroupPtr group);
  // Removes `failed` (and whoever fails on the resulting leave frames) from a locked group.
  void remove_locked(GroupId id, Group& group, std::vector<const Member*> failed);

  boost::asio::any_io_executor executor_;
  const std::shared_ptr<Logger> logger_;
  const std::shared_ptr<MessageLog> log_;
  const std::shared_ptr<ExternalSequence> sequence_;
  const std::string epoch_;
  AsyncMutex groups_mutex_;
  std::unordered_map<GroupId, GroupPtr> groups_;
  std::unique_ptr<core::RetiredGroups> retired_; // last ids of recently erased groups
  std::atomic<std::uint64_t> messages_offered_{0};
};

} // namespace huddle
