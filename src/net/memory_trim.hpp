// MemoryTrim: gives the heap that departed connections freed back to the system.
//
// glibc keeps what freed connections held in its arenas (per thread) for reuse, so the
// process's RSS stays at its peak after a crowd leaves. When the open connections fall to half
// of their peak since the last trim, or to none, malloc_trim runs shortly after (what it gives
// back: docs/performance-journal.md, "4. Churn: giving memory back"). Elsewhere than glibc it
// does nothing. Thread-safe: connections come and go on every I/O thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <cstddef>

namespace huddle::net {

class MemoryTrim {
public:
  // The trims run on `executor` (not a strand the server's own work waits on).
  explicit MemoryTrim(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // `open` connections are open now, one more than before.
  void opened(std::size_t open) noexcept;
  // `open` connections are open now, one fewer than before: maybe trims, soon.
  void closed(std::size_t open) noexcept;

private:
  // Trimming is only worth it once a crowd came and went.
  static constexpr std::size_t k_min_peak = 64;

  const boost::asio::any_io_executor executor_;
  std::atomic<std::size_t> peak_since_trim_{0}; // most connections open since the last trim
};

} // namespace huddle::net
