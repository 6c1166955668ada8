// A message the server's side sends into a group (POST /api/groups/{id}/messages, and
// Server::publish() for an embedding app), not a member: it goes through the broker as a
// member's message does, to every member and into the history, and the caller waits until the
// history has it.
#pragma once

#include <huddle/message.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>

namespace huddle::net {

class ServerState;

enum class PublishOutcome {
  stored,              // sent to the members and stored: `id` is its id
  history_unavailable, // the history cannot take more now: nothing was sent
  broker_unavailable,  // Redis cannot be reached: nothing was sent
  not_stored,          // sent to the members, but not stored within the timeout
};

struct PublishResult {
  PublishOutcome outcome = PublishOutcome::not_stored;
  MessageId id = 0; // with `stored`
};

// Sends `draft` to every member of `group` (none excluded) and waits at most `timeout` for the
// history to store it. `on_stored` (may be empty) runs on the broker's thread once it is
// stored, also after the timeout: what must follow the store even when nobody waits for it.
boost::asio::awaitable<PublishResult> publish_and_wait(ServerState& state, GroupId group,
                                                       MessageDraft draft,
                                                       std::function<void(MessageId)> on_stored,
                                                       std::chrono::milliseconds timeout);

} // namespace huddle::net
