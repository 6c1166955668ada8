// AsyncMutex: a mutex for coroutines, built on a capacity-1 Asio concurrent channel.
//
// lock() is `co_await channel.async_send(...)`: the one buffer slot is the lock, so a
// second locker waits in the channel's FIFO queue without blocking a thread. unlock() is
// `try_receive`, which frees the slot and lets the oldest waiter in. Because the channel
// is a concurrent_channel, lock and unlock may be called from any thread of an
// io_context run by several threads.
//
// Cancellation: a waiter whose lock() is cancelled (per-operation cancellation, e.g. an
// awaitable `||` that lost) is taken out of the channel's queue and never owns the lock;
// lock() then throws boost::system::system_error(operation_aborted).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/system/error_code.hpp>

#include <utility>

namespace huddle {

class AsyncMutex {
public:
  // Releases the mutex when destroyed, unless moved from.
  class Guard {
  public:
    Guard() = default;
    explicit Guard(AsyncMutex& mutex) noexcept : mutex_(&mutex) {}
    Guard(Guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        release();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { release(); }

    void release() noexcept {
      if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->unlock();
    }
    bool owns_lock() const noexcept { return mutex_ != nullptr; }

  private:
    AsyncMutex* mutex_ = nullptr;
  };

  explicit AsyncMutex(boost::asio::any_io_executor executor) : slot_(std::move(executor), 1) {}

  // Waits for the mutex. Uncontended, it takes the free slot without suspending.
  boost::asio::awaitable<Guard> lock();

  // Takes the mutex if it is free right now.
  bool try_lock() noexcept { return slot_.try_send(boost::system::error_code{}); }

  // Prefer a Guard; this is for code that cannot hold one.
  void unlock() noexcept {
    slot_.try_receive([](boost::system::error_code) {});
  }

private:
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> slot_;
};

} // namespace huddle
