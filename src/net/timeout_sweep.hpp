// TimeoutSweep: one timer for every session's deadlines instead of one each, so an idle
// connection holds no timer. Every tick it posts a look at its deadlines (on_watchdog()) to
// each session whose watchdog deadline passed (WsSession).
#pragma once

#include "net/session_registry.hpp"

#include <huddle/server_config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace huddle::net {

// How often the sweep looks: an eighth of the shortest timeout the sessions keep, within 5 ms
// and 1 s, so none fires more than that late.
std::chrono::milliseconds timeout_tick(const ServerConfig& config) noexcept;

class TimeoutSweep {
public:
  TimeoutSweep(boost::asio::any_io_executor executor, SessionRegistry& sessions,
               std::chrono::milliseconds tick);

  // Sweeps while `keep_going()` holds, looked at after every tick. The caller keeps the sweep
  // and the registry alive until it completes.
  boost::asio::awaitable<void> run(std::function<bool()> keep_going);
  // Cuts the current wait short (keep_going() may have changed); `keep_alive` (the sweep's
  // owner) is held until then. Thread-safe.
  void wake(std::shared_ptr<const void> keep_alive);

private:
  SessionRegistry& sessions_;
  const std::chrono::milliseconds tick_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer timer_; // on strand_
};

} // namespace huddle::net
