#include "net/timeout_sweep.hpp"

#include "core/use_tuple.hpp"
#include "net/ws_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace huddle::net {

namespace asio = boost::asio;

std::chrono::milliseconds timeout_tick(const ServerConfig& config) noexcept {
  const auto shortest = std::min({config.ping_interval, config.idle_timeout,
                                  config.handshake_timeout, config.shutdown_timeout});
  return std::clamp(shortest / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
}

TimeoutSweep::TimeoutSweep(asio::any_io_executor executor, SessionRegistry& sessions,
                           std::chrono::milliseconds tick)
    : sessions_(sessions), tick_(tick), strand_(asio::make_strand(std::move(executor))),
      timer_(strand_) {}

void TimeoutSweep::wake(std::shared_ptr<const void> keep_alive) {
  asio::post(strand_, [this, keep_alive = std::move(keep_alive)] { timer_.cancel(); });
}

asio::awaitable<void> TimeoutSweep::run(std::function<bool()> keep_going) {
  co_await asio::dispatch(strand_, asio::use_awaitable);
  std::vector<std::shared_ptr<WsSession>> due;
  while (keep_going()) {
    timer_.expires_after(tick_);
    co_await timer_.async_wait(use_tuple);
    const auto now = std::chrono::steady_clock::now();
    sessions_.with_sessions([&](const SessionRegistry::Sessions& all) {
      for (WsSession* session : all)
        if (session->watchdog_due(now))
          if (auto alive = session->weak_from_this().lock()) due.push_back(std::move(alive));
    });
    for (auto& session : due) {
      auto executor = session->executor();
      asio::post(executor, [session = std::move(session)] { session->on_watchdog(); });
    }
    due.clear();
  }
}

} // namespace huddle::net
