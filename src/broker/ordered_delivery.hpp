// OrderedDelivery: hands a group's messages, which arrive from a channel that may lose some
// (a publication missed while a subscription was down), to a ChatManager built on an
// ExternalSequence in id order, filling each hole from the group's stored history first.
// RedisBroker uses it with Redis's streams; the unit tests with a stream in memory.
//
// Keeps no state of its own: calls for different groups may run at once (RedisBroker's lanes),
// but a group's calls must come one at a time (a lane per group), so no two fills of a group
// overlap.
#pragma once

#include <huddle/chat_manager.hpp>
#include <huddle/logger.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace huddle::broker {

// A message as another node sent it: its origin names the sending session.
struct Published {
  MessagePtr message;
  std::string origin;
};

class OrderedDelivery {
public:
  // Messages of `group` with after < id <= upto, in id order, at most `limit`; fewer (or
  // none) when retention removed them. Throws when the history cannot be read.
  using Fetch = std::function<boost::asio::awaitable<std::vector<Published>>(
      GroupId group, MessageId after, MessageId upto, std::size_t limit)>;
  // Offers one message to the group's members (ChatManager::deliver(), leaving out its sender
  // if it is here), passing `skip_gap` on.
  using Offer = std::function<boost::asio::awaitable<void>(Published published, bool skip_gap)>;

  // Messages per fetch (each is in memory at once while a hole is filled).
  static constexpr std::size_t k_page = 256;

  OrderedDelivery(ChatManager& chat, Fetch fetch, Offer offer, Logger& logger);

  // A message that arrived from the channel: the ids between the group's last delivered one
  // and it are fetched and offered first. Stale ids and groups with nobody here cost nothing.
  boost::asio::awaitable<void> arrived(Published published);

  // Offers every id of `group` after its last delivered one up to `upto` (the group's
  // counter: what was published while the channel was away). Ids the history no longer has
  // are skipped, as they are for everyone.
  boost::asio::awaitable<void> catch_up(GroupId group, MessageId upto);

private:
  ChatManager& chat_;
  Fetch fetch_;
  Offer offer_;
  Logger& logger_; // ids lost to retention
};

} // namespace huddle::broker
