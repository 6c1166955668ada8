#include <huddle/chat_manager.hpp>

#include "core/log.hpp"
#include "core/protocol.hpp"
#include "core/random_hex.hpp"
#include "core/retired_groups.hpp"

#include <algorithm>
#include <stdexcept>

namespace huddle {

struct ChatManager::Group {
  using Members = std::vector<std::shared_ptr<Member>>;

  Group(boost::asio::any_io_executor executor, MessageId last)
      : mutex(std::move(executor)), last_id(last) {}

  AsyncMutex mutex;
  MessageId last_id;
  bool erased = false; // set under both locks; a locker that sees it looks the group up again
  // Copy-on-write: replaced when membership changes, so readers may keep a snapshot.
  std::shared_ptr<const Members> members = std::make_shared<const Members>();
  std::unordered_map<std::string, std::size_t> connections_per_user; // who is online

  std::vector<std::string> online_users(std::string_view except = {}) const {
    std::vector<std::string> names;
    names.reserve(connections_per_user.size());
    for (const auto& [name, count] : connections_per_user)
      if (name != except) names.push_back(name);
    std::sort(names.begin(), names.end());
    return names;
  }

  // Offers `frame` to every member but `exclude`; appends the ones that refused to `failed`.
  // Returns how many took it.
  std::size_t offer_all(const Frame& frame, const Member* exclude,
                        std::vector<const Member*>& failed) const {
    std::size_t taken = 0;
    for (const auto& member : *members) {
      if (member.get() == exclude) continue;
      if (member->offer(frame))
        ++taken;
      else
        failed.push_back(member.get());
    }
    return taken;
  }
};

struct ChatManager::LockedGroup {
  GroupPtr group;
  AsyncMutex::Guard guard;
};

namespace {

// Erased groups remembered in memory; older ones are looked up in the log (or, without a
// log, continue above RetiredGroups::floor()). 4096 entries are about 300 KB.
constexpr std::size_t k_retired_groups = 4096;

} // namespace

ChatManager::ChatManager(boost::asio::any_io_executor executor, std::shared_ptr<MessageLog> log,
                         std::shared_ptr<Logger> logger)
    : executor_(executor), logger_(core::log::or_default(std::move(logger))), log_(std::move(log)),
      epoch_(log_ ? log_->epoch() : core::random_hex()), groups_mutex_(executor),
      retired_(std::make_unique<core::RetiredGroups>(k_retired_groups)) {}

ChatManager::ChatManager(boost::asio::any_io_executor executor,
                         std::shared_ptr<ExternalSequence> sequence, std::shared_ptr<Logger> logger)
    : executor_(executor), logger_(core::log::or_default(std::move(logger))),
      sequence_(std::move(sequence)), groups_mutex_(executor),
      retired_(std::make_unique<core::RetiredGroups>(k_retired_groups)) {
  if (!sequence_) throw std::invalid_argument("ChatManager: no ExternalSequence given");
}

ChatManager::ChatManager(boost::asio::any_io_executor executor, std::nullptr_t,
                         std::shared_ptr<Logger> logger)
    : ChatManager(std::move(executor), std::shared_ptr<MessageLog>(), std::move(logger)) {}

ChatManager::~ChatManager() = default;

boost::asio::awaitable<ChatManager::LockedGroup> ChatManager::lock_group(GroupId id, bool create) {
  // A group not in memory takes its last id from the log, asked without holding the map
  // lock. Should the group be erased while the answer is on its way, its newer last id is
  // in retired_ by the time the lock is held again, unless so many groups were retired
  // meanwhile that it was forgotten: then the log is asked again.
  // An ExternalSequence is asked every time (its ids moved on while the group was away).
  std::optional<MessageId> logged;
  std::uint64_t asked_at = 0;
  for (;;) {
    GroupPtr group;
    {
      auto map_guard = co_await groups_mutex_.lock();
      auto it = groups_.find(id);
      if (it == groups_.end()) {
        if (!create) co_return LockedGroup{};
        std::optional<MessageId> last_id = sequence_ ? std::nullopt : retired_->take(id);
        if (sequence_) {
          if (!logged) {
            map_guard.release();
            logged = co_await sequence_->last_id(id);
            continue;
          }
          last_id = *logged;
        } else if (!log_) {
          last_id = last_id.value_or(retired_->floor());
        } else if (logged && retired_->retirements() - asked_at < retired_->capacity()) {
          last_id = std::max(last_id.value_or(0), *logged);
        } else if (!last_id) {
          asked_at = retired_->retirements();
          map_guard.release();
          logged = co_await log_->last_id(id);
          continue;
        }
        it = groups_.emplace(id, std::make_shared<Group>(executor_, *last_id)).first;
      }
      group = it->second;
    }
    // Taken after the map lock is released, so a busy group never holds up the others.
    auto guard = co_await group->mutex.lock();
    if (!group->erased) co_return LockedGroup{std::move(group), std::move(guard)};
  }
}

boost::asio::awaitable<void> ChatManager::erase_if_empty(GroupId id, GroupPtr group) {
  auto map_guard = co_await groups_mutex_.lock();
  auto guard = co_await group->mutex.lock();
  if (group->erased || !group->members->empty()) co_return;
  group->erased = true;
  groups_.erase(id);
  if (!sequence_) retired_->put(id, group->last_id);
  HUDDLE_LOG(*logger_, debug, "group.erased", {{"group", id}, {"groups", groups_.size()}});
}

boost::asio::awaitable<JoinResult> ChatManager::connect(GroupId id, std::shared_ptr<Member> member,
                                                        const std::vector<std::string>* online) {
  auto [group, guard] = co_await lock_group(id, true);
  JoinResult result;
  result.last_id = group->last_id;
  const auto& members = *group->members;
  const bool already = std::any_of(members.begin(), members.end(),
                                   [&](const auto& m) { return m.get() == member.get(); });
  if (already) co_return result;

  const std::string& user = member->user();
  result.members = online ? *online : group->online_users(user);
  if (!member->offer(make_frame(
          protocol::encode_welcome(id, user, group->last_id, epoch(), result.members)))) {
    guard.release();
    co_await erase_if_empty(id, std::move(group));
    co_return result;
  }

  auto next = std::make_shared<Group::Members>(members);
  next->push_back(member);
  group->members = std::move(next);
  result.added = true;

  // Presence across nodes is the ExternalSequence's owner's (it offers join and leave).
  const bool first_connection = group->connections_per_user[user]++ == 0 && !sequence_;
  std::vector<const Member*> failed;
  if (first_connection)
    group->offer_all(make_frame(protocol::encode_presence("join", id, user)), member.get(), failed);
  HUDDLE_LOG(*logger_, info, "group.joined",
             {{"group", id},
              {"user", user},
              {"connections", group->members->size()},
              {"online", group->connections_per_user.size()}});
  if (!failed.empty()) remove_locked(id, *group, std::move(failed));
  const bool empty = group->members->empty(); // the join can cascade into removing everyone
  guard.release();
  if (empty) co_await erase_if_empty(id, std::move(group));
  co_return result;
}

boost::asio::awaitable<bool> ChatManager::disconnect(GroupId id, const Member& member) {
  auto [group, guard] = co_await lock_group(id, false);
  if (!group) co_return false;
  const auto& members = *group->members;
  const bool found = std::any_of(members.begin(), members.end(),
                                 [&](const auto& m) { return m.get() == &member; });
  if (!found) co_return false;
  remove_locked(id, *group, {&member});
  const bool empty = group->members->empty();
  guard.release();
  if (empty) co_await erase_if_empty(id, std::move(group));
  co_return true;
}

boost::asio::awaitable<MessagePtr> ChatManager::broadcast(GroupId id, MessageDraft draft,
                                                          const Member* exclude,
                                                          OnDurable on_durable) {
  if (sequence_)
    throw std::logic_error("ChatManager::broadcast: ids come from an ExternalSequence (deliver())");
  auto [group, guard] = co_await lock_group(id, true);
  if (log_ && !log_->try_reserve()) {
    const bool empty = group->members->empty();
    guard.release();
    if (empty) co_await erase_if_empty(id, std::move(group));
    co_return nullptr;
  }
  // The id is assigned, the message logged and offered in one critical section: that is
  // what gives every member, and the log, the same order.
  MessagePtr message = Message::make(id, ++group->last_id, std::move(draft));
  std::vector<const Member*> failed;
  // One relaxed add per message, not per member (docs/operations.md, "Metrics").
  messages_offered_.fetch_add(group->offer_all(message->frame(), exclude, failed),
                              std::memory_order_relaxed);
  if (!failed.empty()) remove_locked(id, *group, std::move(failed));
  // Logged after the offers, so an ack sent from on_durable (possibly at once, on another
  // thread) never overtakes the message itself in an echoing sender's queue.
  if (log_) {
    std::function<void()> durable;
    if (on_durable)
      durable = [on_durable = std::move(on_durable), message] { on_durable(message); };
    log_->append(message, std::move(durable));
  }
  const bool empty = group->members->empty();
  guard.release();
  if (!log_ && on_durable) on_durable(message);
  if (empty) co_await erase_if_empty(id, std::move(group));
  co_return message;
}

boost::asio::awaitable<DeliveryResult> ChatManager::deliver(MessagePtr message,
                                                            const Member* exclude, bool skip_gap) {
  const GroupId id = message->group();
  auto [group, guard] = co_await lock_group(id, false);
  if (!group) co_return DeliveryResult{};
  if (message->id() <= group->last_id) co_return DeliveryResult{Delivery::stale, group->last_id};
  if (message->id() > group->last_id + 1 && !skip_gap)
    co_return DeliveryResult{Delivery::gap, group->last_id};
  group->last_id = message->id();
  std::vector<const Member*> failed;
  // One relaxed add per message, not per member (docs/operations.md, "Metrics").
  messages_offered_.fetch_add(group->offer_all(message->frame(), exclude, failed),
                              std::memory_order_relaxed);
  if (!failed.empty()) remove_locked(id, *group, std::move(failed));
  const bool empty = group->members->empty();
  guard.release();
  if (empty) co_await erase_if_empty(id, std::move(group));
  co_return DeliveryResult{Delivery::delivered, message->id()};
}

boost::asio::awaitable<bool> ChatManager::offer(GroupId id, Frame frame,
                                                std::string_view except_user) {
  auto [group, guard] = co_await lock_group(id, false);
  if (!group) co_return false;
  std::vector<const Member*> failed;
  for (const auto& member : *group->members)
    if (member->user() != except_user && !member->offer(frame)) failed.push_back(member.get());
  if (!failed.empty()) remove_locked(id, *group, std::move(failed));
  const bool empty = group->members->empty();
  guard.release();
  if (empty) co_await erase_if_empty(id, std::move(group));
  co_return true;
}

void ChatManager::remove_locked(GroupId id, Group& group, std::vector<const Member*> failed) {
  while (!failed.empty()) {
    auto next = std::make_shared<Group::Members>();
    next->reserve(group.members->size());
    std::vector<std::string> removed_users;
    std::vector<std::string> left; // users whose last connection this was
    for (const auto& member : *group.members) {
      if (std::find(failed.begin(), failed.end(), member.get()) == failed.end()) {
        next->push_back(member);
        continue;
      }
      removed_users.push_back(member->user());
      auto user = group.connections_per_user.find(member->user());
      if (user != group.connections_per_user.end() && --user->second == 0) {
        left.push_back(user->first);
        group.connections_per_user.erase(user);
      }
    }
    group.members = std::move(next);
    for (const auto& user : removed_users)
      HUDDLE_LOG(*logger_, info, "group.left",
                 {{"group", id},
                  {"user", user},
                  {"connections", group.members->size()},
                  {"online", group.connections_per_user.size()}});
    // Leave frames can fail more members (their queues may be full): repeat until none does.
    failed.clear();
    if (sequence_) break; // presence is the ExternalSequence's owner's
    for (const auto& user : left)
      group.offer_all(make_frame(protocol::encode_presence("leave", id, user)), nullptr, failed);
  }
}

boost::asio::awaitable<std::optional<MessageId>> ChatManager::last_id(GroupId id) {
  auto [group, guard] = co_await lock_group(id, false);
  co_return group ? std::optional<MessageId>(group->last_id) : std::nullopt;
}

boost::asio::awaitable<void> ChatManager::reset_positions() {
  auto map_guard = co_await groups_mutex_.lock();
  for (auto& [id, group] : groups_) {
    auto guard = co_await group->mutex.lock(); // map, then group: the usual order
    group->last_id = 0;
  }
}

boost::asio::awaitable<std::size_t> ChatManager::group_count() {
  auto guard = co_await groups_mutex_.lock();
  co_return groups_.size();
}

boost::asio::awaitable<std::size_t> ChatManager::member_count(GroupId id) {
  auto [group, guard] = co_await lock_group(id, false);
  co_return group ? group->members->size() : 0;
}

boost::asio::awaitable<std::vector<std::string>> ChatManager::online_users(GroupId id) {
  auto [group, guard] = co_await lock_group(id, false);
  co_return group ? group->online_users() : std::vector<std::string>{};
}

} // namespace huddle
