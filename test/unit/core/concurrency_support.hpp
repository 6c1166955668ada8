// Helpers the core's concurrency tests share: a bound on every wait, running an io_context
// on several threads, and collecting the outcome of co_spawned coroutines.
#pragma once

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace huddle_test {

// Every wait in these tests ends by then; a test that reaches it failed (deadlock?).
inline constexpr std::chrono::seconds k_limit{60};

// Runs `io` on `threads` threads until it is out of work, or `k_limit` passed.
inline void run_threads(boost::asio::io_context& io, int threads) {
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&io] { io.run_for(k_limit); });
  for (auto& thread : pool)
    thread.join();
}

// Counts coroutines spawned with it that completed, and keeps the first exception.
struct Completion {
  std::atomic<int> finished{0};
  std::mutex mutex;
  std::exception_ptr error;

  auto handler() {
    return [this](std::exception_ptr e) {
      if (e) {
        std::lock_guard lock(mutex);
        if (!error) error = e;
      }
      ++finished;
    };
  }
  void rethrow() {
    if (error) std::rethrow_exception(error);
  }
};

} // namespace huddle_test
