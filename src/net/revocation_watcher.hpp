// RevocationWatcher: closes, with 1008 "access revoked", the sessions whose user lost their
// membership of the group (revoked or removed, by any process on the database).
//
// It polls one integer, the accounts' access revision, every interval: cheap, and it sees
// changes `huddle group revoke` makes in another process, which no in-process notification
// would. When the revision moved, it reads every membership and walks the sessions.
#pragma once

#include "auth/access_control.hpp"
#include "net/session_registry.hpp"

#include <huddle/logger.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace huddle::net {

class WsSession;

class RevocationWatcher {
public:
  RevocationWatcher(boost::asio::any_io_executor executor, auth::AccessControl& access,
                    SessionRegistry& sessions, std::chrono::milliseconds interval, Logger& logger);

  // Until stop(); at once with AuthMode::none (nothing can be revoked). The caller keeps the
  // watcher and what it refers to alive until it completes.
  boost::asio::awaitable<void> run();
  // Ends run() soon; `keep_alive` (the watcher's owner) is held until the wait is cancelled.
  // Thread-safe.
  void stop(std::shared_ptr<const void> keep_alive);

  // The access revision the last check saw: a session records it before its membership is
  // checked, so session_added() knows whether a check ran in between.
  std::int64_t revision_seen() const noexcept { return revision_seen_.load(); }
  // Called under the registry's lock when `session` registers (SessionRegistry::add()): a
  // check that ran between its membership check and now did not see it, so the next looks at
  // every session again.
  void session_added(const WsSession& session) noexcept;

private:
  auth::AccessControl& access_;
  SessionRegistry& sessions_;
  const std::chrono::milliseconds interval_;
  Logger& logger_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_; // on strand_
  std::atomic<bool> stopped_{false};
  std::atomic<std::int64_t> revision_seen_{-1};
  std::atomic<bool> recheck_{true}; // the first check looks at every session
};

} // namespace huddle::net
