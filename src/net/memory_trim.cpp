#include "net/memory_trim.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <memory>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace huddle::net {

namespace {

#if defined(__GLIBC__)
// How long after the crowd left the trim runs. closed() is called while the departing
// session still holds its memory (its owner frees it when the call returns, on that
// session's thread), and the crowd leaves in a burst over every io thread: a trim at once
// missed what the last sessions held (docs/performance-journal.md, "4. Churn: giving memory
// back"), and one burst asked for several trims, each walking every arena under its lock.
constexpr std::chrono::milliseconds k_trim_delay{100};

// malloc_trim works on the whole process (every thread's arena), so one waiting trim is
// enough for every server in it.
std::atomic<bool> trim_waiting{false};

struct WaitingTrim {
  explicit WaitingTrim(const boost::asio::any_io_executor& executor)
      : timer(executor, k_trim_delay) {}
  ~WaitingTrim() { trim_waiting = false; } // also when its io_context goes without running it
  WaitingTrim(const WaitingTrim&) = delete;
  WaitingTrim& operator=(const WaitingTrim&) = delete;
  boost::asio::steady_timer timer;
};

void trim_soon(const boost::asio::any_io_executor& executor) noexcept {
  if (trim_waiting.exchange(true)) return; // the waiting one will return this memory too
  try {
    auto waiting = std::make_shared<WaitingTrim>(executor);
    // The handler owns `waiting`: the flag clears when it has run (or is destroyed unrun).
    waiting->timer.async_wait([waiting](const boost::system::error_code&) { malloc_trim(0); });
  } catch (const std::exception&) { // no memory for the timer: trim now rather than never
    trim_waiting = false;
    malloc_trim(0);
  }
}
#endif

} // namespace

void MemoryTrim::opened(std::size_t open) noexcept {
  std::size_t peak = peak_since_trim_.load();
  while (open > peak && !peak_since_trim_.compare_exchange_weak(peak, open)) {
  }
}

void MemoryTrim::closed(std::size_t open) noexcept {
  std::size_t peak = peak_since_trim_.load();
  const bool crowd_left = peak >= k_min_peak && open <= peak / 2;
  if (!crowd_left && !(open == 0 && peak > 0)) return;
  if (!peak_since_trim_.compare_exchange_strong(peak, open)) return; // another thread trims
#if defined(__GLIBC__)
  trim_soon(executor_);
#endif
}

} // namespace huddle::net
