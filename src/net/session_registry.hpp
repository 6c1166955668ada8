// SessionRegistry: the upgraded WebSocket sessions of one server, for what reaches all of them
// or a group's: shutdown, revocations, the timeout sweep, the admin routes and /metrics.
//
// Thread-safe: sessions register and leave on every I/O thread. One mutex guards the set; the
// functions that walk it run their work under that mutex, so the work must not block (closing
// a session only posts to its executor).
#pragma once

#include "core/protocol_error.hpp"

#include <huddle/message.hpp>

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace huddle::net {

class WsSession;

// The registered sessions' send queues, at one look.
struct SendQueueStats {
  std::size_t total_bytes = 0;
  std::size_t max_bytes = 0;
};

class SessionRegistry {
public:
  using Sessions = std::unordered_set<WsSession*>;

  // Registers `session` and runs `on_added` under the lock, unless close_all_for_good() ran:
  // then false, and nothing is registered.
  template <typename OnAdded> bool add(WsSession& session, OnAdded on_added) {
    const std::lock_guard lock(mutex_);
    if (closed_) return false;
    sessions_.insert(&session);
    on_added();
    return true;
  }
  void remove(WsSession& session);

  // Runs `work(sessions)` under the lock: what must see the set and change state atomically
  // with it (the revocation check's revision).
  template <typename Work> decltype(auto) with_sessions(Work work) {
    const std::lock_guard lock(mutex_);
    return work(static_cast<const Sessions&>(sessions_));
  }

  // Closes every session with `reason` (their clients reconnect, or the server stops).
  void close_all(protocol::Error reason);
  // close_all(), and no add() succeeds after it; false when it had run already.
  bool close_all_for_good(protocol::Error reason);

  // The open sessions of `group` (GET /api/groups/{id}/connections).
  struct Connection {
    std::string user;
    std::string address;
  };
  std::vector<Connection> connections(GroupId group);
  // Closes `user`'s sessions in `group` with `reason`; returns how many.
  std::size_t close_user(GroupId group, std::string_view user, protocol::Error reason);
  // Walks every session (a scrape, not the hot path).
  SendQueueStats send_queue_stats();

private:
  std::mutex mutex_;
  bool closed_ = false;
  Sessions sessions_;
};

} // namespace huddle::net
