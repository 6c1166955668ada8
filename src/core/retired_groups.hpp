// RetiredGroups: the last ids of the groups a ChatManager erased most recently, so a group
// that empties and fills again continues its ids without asking the MessageLog.
//
// Bounded: clients choose group ids (any id under AuthMode::none, any a token names), so a
// table of every group ever used would grow without limit. Past `capacity` the oldest entry
// is forgotten; floor() is the highest last id ever forgotten, which a manager without a log
// starts forgotten groups above (ids then jump, but never repeat). retirements() counts
// put()s, so a caller that looked a group up elsewhere meanwhile can tell whether an entry
// it needed could have been forgotten during the look-up. Not thread-safe: the manager
// calls it under its map lock.
#pragma once

#include <huddle/message.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

namespace huddle::core {

class RetiredGroups {
public:
  explicit RetiredGroups(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  void put(GroupId group, MessageId last_id) {
    ++retirements_;
    // A group retired again replaces its entry; its old place in the order goes stale and
    // is skipped when it reaches the front (the sequence no longer matches).
    entries_[group] = Entry{last_id, retirements_};
    order_.push_back(Order{group, retirements_});
    while (entries_.size() > capacity_ || order_.size() > 2 * capacity_) {
      const Order oldest = order_.front();
      order_.pop_front();
      auto it = entries_.find(oldest.group);
      if (it == entries_.end() || it->second.sequence != oldest.sequence) continue;
      floor_ = std::max(floor_, it->second.last_id);
      entries_.erase(it);
    }
  }

  // The group's last id if it is still remembered; the entry is removed (the group lives
  // again and will be retired anew).
  std::optional<MessageId> take(GroupId group) {
    auto it = entries_.find(group);
    if (it == entries_.end()) return std::nullopt;
    const MessageId last_id = it->second.last_id;
    entries_.erase(it);
    return last_id;
  }

  MessageId floor() const noexcept { return floor_; }
  std::uint64_t retirements() const noexcept { return retirements_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return entries_.size(); }

private:
  struct Entry {
    MessageId last_id;
    std::uint64_t sequence;
  };
  struct Order {
    GroupId group;
    std::uint64_t sequence;
  };

  const std::size_t capacity_;
  std::unordered_map<GroupId, Entry> entries_;
  std::deque<Order> order_; // oldest first; may hold stale places of re-retired groups
  MessageId floor_ = 0;
  std::uint64_t retirements_ = 0;
};

} // namespace huddle::core
