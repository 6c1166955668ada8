// Unit tests of AsyncMutex (include/huddle/async_mutex.hpp, src/core/async_mutex.cpp):
// mutual exclusion between coroutines on several threads, try_lock, the Guard, FIFO hand-over
// and cancellation safety (a cancelled waiter never ends up owning the lock).
//
// Every wait is bounded and followed by a check that the work completed, so a lost wake-up or
// a leaked lock fails the test instead of hanging it; nothing asserts on durations.
#include <huddle/async_mutex.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <doctest/doctest.h>

#include "concurrency_support.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace {

namespace asio = boost::asio;
using huddle_test::Completion;
using huddle_test::k_limit;
using huddle_test::run_threads;
using namespace asio::experimental::awaitable_operators;
using huddle::AsyncMutex;
using namespace std::chrono_literals;

// Runs `io` (single thread) until `done()` holds, it runs out of work, or `k_limit` passed.
template <typename Done> bool run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + k_limit;
  io.restart();
  while (!done() && io.run_one_until(deadline) != 0) {
  }
  return done();
}

// The outcome of one lock() spawned as its own coroutine.
struct LockAttempt {
  bool done = false;
  std::exception_ptr error;
  AsyncMutex::Guard guard;

  auto handler() {
    return [this](std::exception_ptr e, AsyncMutex::Guard g) {
      done = true;
      error = e;
      guard = std::move(g);
    };
  }
};

} // namespace

TEST_CASE("try_lock takes a free mutex only") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  CHECK(mutex.try_lock());
  CHECK_FALSE(mutex.try_lock());
  mutex.unlock();
  CHECK(mutex.try_lock());
  mutex.unlock();
  mutex.unlock(); // unlocking a free mutex changes nothing
  CHECK(mutex.try_lock());
  CHECK_FALSE(mutex.try_lock());
}

TEST_CASE("an uncontended lock is taken at once, a contended one waits for unlock") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());

  LockAttempt first;
  asio::co_spawn(io, mutex.lock(), first.handler());
  REQUIRE(run_until(io, [&] { return first.done; }));
  CHECK_FALSE(first.error);
  CHECK(first.guard.owns_lock());
  CHECK_FALSE(mutex.try_lock());

  LockAttempt second;
  asio::co_spawn(io, mutex.lock(), second.handler());
  io.restart();
  io.poll();
  CHECK_FALSE(second.done); // waiting, not spinning and not owning

  first.guard.release();
  CHECK_FALSE(first.guard.owns_lock());
  REQUIRE(run_until(io, [&] { return second.done; }));
  CHECK_FALSE(second.error);
  CHECK(second.guard.owns_lock());
  CHECK_FALSE(mutex.try_lock());
  second.guard.release();
  CHECK(mutex.try_lock());
}

TEST_CASE("the Guard releases on scope exit, on release and when moved into") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  AsyncMutex other(io.get_executor());

  SUBCASE("scope exit") {
    {
      REQUIRE(mutex.try_lock());
      AsyncMutex::Guard guard(mutex);
      CHECK(guard.owns_lock());
      CHECK_FALSE(mutex.try_lock());
    }
    CHECK(mutex.try_lock());
  }
  SUBCASE("a default Guard owns nothing") {
    AsyncMutex::Guard guard;
    CHECK_FALSE(guard.owns_lock());
    guard.release();
    CHECK(mutex.try_lock());
  }
  SUBCASE("release is idempotent") {
    REQUIRE(mutex.try_lock());
    AsyncMutex::Guard guard(mutex);
    guard.release();
    CHECK_FALSE(guard.owns_lock());
    CHECK(mutex.try_lock()); // now held by the test, not the guard
    guard.release();
    CHECK_FALSE(mutex.try_lock()); // a second release did not unlock it again
  }
  SUBCASE("move construction transfers ownership") {
    REQUIRE(mutex.try_lock());
    std::optional<AsyncMutex::Guard> source(std::in_place, mutex);
    AsyncMutex::Guard target(std::move(*source));
    CHECK_FALSE(source->owns_lock());
    CHECK(target.owns_lock());
    source.reset(); // the moved-from guard releases nothing
    CHECK_FALSE(mutex.try_lock());
    target.release();
    CHECK(mutex.try_lock());
  }
  SUBCASE("move assignment releases what the target held") {
    REQUIRE(mutex.try_lock());
    REQUIRE(other.try_lock());
    AsyncMutex::Guard holds_mutex(mutex);
    AsyncMutex::Guard holds_other(other);
    holds_mutex = std::move(holds_other);
    CHECK(holds_mutex.owns_lock());
    CHECK_FALSE(holds_other.owns_lock());
    CHECK(mutex.try_lock()); // released by the assignment
    CHECK_FALSE(other.try_lock());
    holds_mutex.release();
    CHECK(other.try_lock());
  }
  SUBCASE("the Guard from lock() releases on scope exit") {
    {
      LockAttempt attempt;
      asio::co_spawn(io, mutex.lock(), attempt.handler());
      REQUIRE(run_until(io, [&] { return attempt.done; }));
      CHECK(attempt.guard.owns_lock());
      CHECK_FALSE(mutex.try_lock());
    }
    CHECK(mutex.try_lock());
  }
}

TEST_CASE("waiters get the mutex in the order they asked for it") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  REQUIRE(mutex.try_lock());

  constexpr int k_waiters = 6;
  std::vector<int> order;
  Completion done;
  for (int i = 0; i < k_waiters; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto guard = co_await mutex.lock();
          order.push_back(i);
          co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        },
        done.handler());
    io.restart();
    io.poll(); // queue waiter i before spawning i + 1
  }
  CHECK(order.empty());
  mutex.unlock();
  REQUIRE(run_until(io, [&] { return done.finished == k_waiters; }));
  done.rethrow();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(mutex.try_lock());
}

TEST_CASE("mutual exclusion between coroutines on 4 threads") {
  asio::io_context io{4};
  AsyncMutex mutex(io.get_executor());
  constexpr int k_workers = 32;
  constexpr int k_rounds = 100;

  int counter = 0; // deliberately not atomic: only the mutex protects it
  std::atomic<bool> inside{false};
  std::atomic<int> overlaps{0};
  Completion done;
  for (int w = 0; w < k_workers; ++w)
    asio::co_spawn(
        asio::make_strand(io),
        [&, w]() -> asio::awaitable<void> {
          const auto executor = co_await asio::this_coro::executor;
          asio::steady_timer timer(executor);
          for (int r = 0; r < k_rounds; ++r) {
            auto guard = co_await mutex.lock();
            if (inside.exchange(true)) ++overlaps;
            const int seen = counter;
            // Suspend inside the critical section, so others run meanwhile.
            if ((w + r) % 2 == 0) {
              co_await asio::post(executor, asio::use_awaitable);
            } else {
              timer.expires_after(10us);
              co_await timer.async_wait(asio::use_awaitable);
            }
            counter = seen + 1;
            inside = false;
          }
        },
        done.handler());
  run_threads(io, 4);
  REQUIRE_MESSAGE(done.finished == k_workers, "workers did not finish: deadlock?");
  done.rethrow();
  CHECK(overlaps == 0);
  CHECK(counter == k_workers * k_rounds);
  CHECK(mutex.try_lock());
}

TEST_CASE("a waiter that lost an || to a timer never owns the mutex") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  REQUIRE(mutex.try_lock()); // the holder

  std::optional<std::size_t> winner;
  bool owned_after = true;
  Completion impatient;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
        auto result = co_await (mutex.lock() || timer.async_wait(asio::use_awaitable));
        winner = result.index();
        owned_after = result.index() == 0 && std::get<0>(result).owns_lock();
      },
      impatient.handler());
  io.poll(); // the impatient waiter is queued first
  // A patient waiter queued behind the impatient one.
  LockAttempt patient;
  asio::co_spawn(io, mutex.lock(), patient.handler());

  REQUIRE(run_until(io, [&] { return impatient.finished == 1; }));
  impatient.rethrow();
  REQUIRE(winner.has_value());
  CHECK(*winner == 1); // the timer won: the lock was held all along
  CHECK_FALSE(owned_after);
  io.restart();
  io.poll();
  CHECK_FALSE(patient.done);
  CHECK_FALSE(mutex.try_lock()); // the loser released nothing: the holder still holds it

  // The holder releases: the mutex goes to the patient waiter, not to the cancelled one.
  mutex.unlock();
  REQUIRE(run_until(io, [&] { return patient.done; }));
  CHECK_FALSE(patient.error);
  CHECK(patient.guard.owns_lock());
  patient.guard.release();
  CHECK(mutex.try_lock()); // free: nobody was left owning it
  mutex.unlock();

  // And lock() takes it at once.
  LockAttempt fresh;
  asio::co_spawn(io, mutex.lock(), fresh.handler());
  REQUIRE(run_until(io, [&] { return fresh.done; }));
  CHECK(fresh.guard.owns_lock());
}

TEST_CASE("a waiter cancelled through a cancellation slot never owns the mutex") {
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  REQUIRE(mutex.try_lock()); // the holder

  asio::cancellation_signal cancel;
  LockAttempt cancelled;
  asio::co_spawn(io, mutex.lock(),
                 asio::bind_cancellation_slot(cancel.slot(), cancelled.handler()));
  io.poll();
  REQUIRE_FALSE(cancelled.done);

  cancel.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return cancelled.done; }));
  CHECK_FALSE(cancelled.guard.owns_lock());
  REQUIRE(cancelled.error);
  CHECK_THROWS_AS(std::rethrow_exception(cancelled.error), boost::system::system_error);
  io.restart();
  io.poll();
  CHECK_FALSE(mutex.try_lock()); // still the holder's: the cancelled waiter released nothing

  mutex.unlock();
  CHECK(mutex.try_lock()); // the cancelled waiter did not take the freed slot
  mutex.unlock();
  LockAttempt fresh;
  asio::co_spawn(io, mutex.lock(), fresh.handler());
  REQUIRE(run_until(io, [&] { return fresh.done; }));
  CHECK(fresh.guard.owns_lock());
}

TEST_CASE("a cancelled lock() fails with operation_aborted, as documented") {
  // Regression: lock() once let the channel's own channel_cancelled escape.
  asio::io_context io;
  AsyncMutex mutex(io.get_executor());
  REQUIRE(mutex.try_lock());

  asio::cancellation_signal cancel;
  LockAttempt cancelled;
  asio::co_spawn(io, mutex.lock(),
                 asio::bind_cancellation_slot(cancel.slot(), cancelled.handler()));
  io.poll();
  cancel.emit(asio::cancellation_type::terminal);
  REQUIRE(run_until(io, [&] { return cancelled.done; }));
  REQUIRE(cancelled.error);
  boost::system::error_code code;
  try {
    std::rethrow_exception(cancelled.error);
  } catch (const boost::system::system_error& error) {
    code = error.code();
  }
  INFO("lock() failed with: ", code.message(), " (", std::string(code.category().name()), ")");
  CHECK(code == asio::error::operation_aborted);
}

TEST_CASE("cancellation racing with unlock on 4 threads leaks no ownership") {
  asio::io_context io{4};
  AsyncMutex mutex(io.get_executor());
  constexpr int k_workers = 16;
  constexpr int k_rounds = 200;

  std::atomic<bool> inside{false};
  std::atomic<int> overlaps{0};
  std::atomic<int> acquired{0};
  std::atomic<int> gave_up{0};
  Completion done;
  for (int w = 0; w < k_workers; ++w)
    asio::co_spawn(
        asio::make_strand(io),
        [&, w]() -> asio::awaitable<void> {
          const auto executor = co_await asio::this_coro::executor;
          asio::steady_timer patience(executor);
          for (int r = 0; r < k_rounds; ++r) {
            // Patience from nothing to a little: some waiters give up just as they are let in.
            patience.expires_after(std::chrono::microseconds((w * 7 + r * 13) % 60));
            auto result = co_await (mutex.lock() || patience.async_wait(asio::use_awaitable));
            if (result.index() != 0) {
              ++gave_up;
              continue;
            }
            auto guard = std::move(std::get<0>(result));
            if (inside.exchange(true)) ++overlaps;
            ++acquired;
            co_await asio::post(executor, asio::use_awaitable);
            inside = false;
          }
        },
        done.handler());
  run_threads(io, 4);
  REQUIRE_MESSAGE(done.finished == k_workers, "workers did not finish: a lock leaked?");
  done.rethrow();
  CHECK(overlaps == 0);
  CHECK(acquired + gave_up == k_workers * k_rounds);
  CHECK(acquired > 0);
  CHECK(mutex.try_lock()); // nobody was left owning it
}
