#include "net/revocation_watcher.hpp"

#include "core/log.hpp"
#include "core/use_tuple.hpp"
#include "net/ws_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <set>
#include <string>
#include <utility>

namespace huddle::net {

namespace asio = boost::asio;

RevocationWatcher::RevocationWatcher(asio::any_io_executor executor, auth::AccessControl& access,
                                     SessionRegistry& sessions, std::chrono::milliseconds interval,
                                     Logger& logger)
    : access_(access), sessions_(sessions), interval_(interval), logger_(logger),
      strand_(asio::make_strand(std::move(executor))), timer_(strand_) {}

void RevocationWatcher::session_added(const WsSession& session) noexcept {
  if (session.access_from_memberships() && session.access_revision() != revision_seen_)
    recheck_ = true;
}

void RevocationWatcher::stop(std::shared_ptr<const void> keep_alive) {
  stopped_ = true;
  asio::post(strand_, [this, keep_alive = std::move(keep_alive)] { timer_.cancel(); });
}

asio::awaitable<void> RevocationWatcher::run() {
  if (access_.mode() == AuthMode::none) co_return;
  co_await asio::dispatch(strand_, asio::use_awaitable);
  std::int64_t seen = -1; // a failed first read: the first check reads every membership
  try {
    seen = co_await access_.async_access_revision();
  } catch (const std::exception& e) {
    HUDDLE_LOG(logger_, warning, "access.watch_failed", {{"error", e.what()}});
  }
  while (!stopped_) {
    timer_.expires_after(interval_);
    co_await timer_.async_wait(use_tuple);
    if (stopped_) break;
    std::int64_t revision = 0;
    std::set<std::pair<GroupId, std::string>> members;
    try {
      revision = co_await access_.async_access_revision();
      if (revision == seen && !recheck_.exchange(false)) continue;
      members = co_await access_.async_memberships();
    } catch (const std::exception& e) { // a busy or failing database: try again next time
      HUDDLE_LOG(logger_, warning, "access.watch_failed", {{"error", e.what()}});
      continue;
    }
    seen = revision;
    // The revision is recorded under the registry's lock: session_added() compares against it
    // there, so a session registers either before this walk or with the revision it saw.
    sessions_.with_sessions([&](const SessionRegistry::Sessions& all) {
      revision_seen_ = revision;
      for (WsSession* session : all) {
        if (!session->access_from_memberships()) continue;
        if (members.contains({session->group(), session->user()})) continue;
        HUDDLE_LOG(logger_, info, "access.revoked",
                   {{"group", session->group()}, {"user", session->user()}});
        session->close(protocol::Error::access_revoked);
      }
    });
  }
}

} // namespace huddle::net
