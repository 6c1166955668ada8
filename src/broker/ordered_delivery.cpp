#include "broker/ordered_delivery.hpp"

#include "core/log.hpp"

namespace huddle::broker {

OrderedDelivery::OrderedDelivery(ChatManager& chat, Fetch fetch, Offer offer, Logger& logger)
    : chat_(chat), fetch_(std::move(fetch)), offer_(std::move(offer)), logger_(logger) {}

boost::asio::awaitable<void> OrderedDelivery::arrived(Published published) {
  const GroupId group = published.message->group();
  const MessageId id = published.message->id();
  const auto last = co_await chat_.last_id(group);
  if (!last || *last >= id) co_return; // nobody here, or a repeat
  if (*last + 1 < id) co_await catch_up(group, id - 1);
  // Whatever the history still had is delivered now; what it lost, nobody can have.
  co_await offer_(std::move(published), true);
}

boost::asio::awaitable<void> OrderedDelivery::catch_up(GroupId group, MessageId upto) {
  for (;;) {
    const auto last = co_await chat_.last_id(group);
    if (!last || *last >= upto) co_return;
    std::vector<Published> page = co_await fetch_(group, *last, upto, k_page);
    if (page.empty()) {
      // Retention removed them before this node could deliver them (it was cut off for
      // longer than the history's length): they are gone for everyone.
      HUDDLE_LOG(logger_, warning, "broker.ids_trimmed",
                 {{"group", group}, {"first_id", *last + 1}, {"last_id", upto}});
      co_return;
    }
    for (Published& published : page)
      co_await offer_(std::move(published), true);
  }
}

} // namespace huddle::broker
