#include "net/session_registry.hpp"

#include "net/ws_session.hpp"

#include <algorithm>

namespace huddle::net {

void SessionRegistry::remove(WsSession& session) {
  const std::lock_guard lock(mutex_);
  sessions_.erase(&session);
}

void SessionRegistry::close_all(protocol::Error reason) {
  const std::lock_guard lock(mutex_);
  for (WsSession* session : sessions_)
    session->close(reason);
}

bool SessionRegistry::close_all_for_good(protocol::Error reason) {
  const std::lock_guard lock(mutex_);
  if (closed_) return false;
  closed_ = true;
  for (WsSession* session : sessions_)
    session->close(reason);
  return true;
}

std::vector<SessionRegistry::Connection> SessionRegistry::connections(GroupId group) {
  std::vector<Connection> result;
  const std::lock_guard lock(mutex_);
  for (WsSession* session : sessions_)
    if (session->group() == group)
      result.push_back({session->user(), session->client_address().to_string()});
  return result;
}

std::size_t SessionRegistry::close_user(GroupId group, std::string_view user,
                                        protocol::Error reason) {
  std::size_t closed = 0;
  const std::lock_guard lock(mutex_);
  for (WsSession* session : sessions_) {
    if (session->group() != group || session->user() != user) continue;
    session->close(reason);
    ++closed;
  }
  return closed;
}

SendQueueStats SessionRegistry::send_queue_stats() {
  SendQueueStats stats;
  const std::lock_guard lock(mutex_);
  for (const WsSession* session : sessions_) {
    const std::size_t bytes = session->queued_bytes();
    stats.total_bytes += bytes;
    stats.max_bytes = std::max(stats.max_bytes, bytes);
  }
  return stats;
}

} // namespace huddle::net
