// Unit tests of ConnectionSlots (src/net/connection_slots.{hpp,cpp}): the limit, close(),
// and the drain that shutdown waits for, including reservations racing close() on another
// thread: a slot given out must keep the drain waiting until it comes back.
#include "net/connection_slots.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <thread>

namespace {

using huddle::net::ConnectionSlots;

// Starts wait_drained() on `ctx`; the flag turns true when it completes.
std::shared_ptr<bool> watch_drain(boost::asio::io_context& ctx, ConnectionSlots& slots) {
  auto drained = std::make_shared<bool>(false);
  boost::asio::co_spawn(ctx, slots.wait_drained(),
                        [drained](std::exception_ptr) { *drained = true; });
  return drained;
}

void run_ready(boost::asio::io_context& ctx) {
  ctx.restart();
  ctx.poll();
}

} // namespace

TEST_CASE("at most max slots are held; a released one can be reserved again") {
  boost::asio::io_context ctx;
  ConnectionSlots slots(ctx.get_executor(), 2);
  CHECK(slots.try_reserve() == 1);
  CHECK(slots.try_reserve() == 2);
  CHECK(slots.try_reserve() == 0);
  CHECK(slots.held() == 2); // the refused one gave its back
  CHECK(slots.release() == 1);
  CHECK(slots.try_reserve() == 2);
}

TEST_CASE("close refuses new slots and the drain waits for the last one held") {
  boost::asio::io_context ctx;
  ConnectionSlots slots(ctx.get_executor(), 10);
  REQUIRE(slots.try_reserve() == 1);
  REQUIRE(slots.try_reserve() == 2);
  CHECK(slots.close());
  CHECK_FALSE(slots.close());
  CHECK(slots.closed());
  CHECK(slots.try_reserve() == 0);
  CHECK(slots.held() == 2);

  auto drained = watch_drain(ctx, slots);
  run_ready(ctx);
  CHECK_FALSE(*drained);
  CHECK(slots.release() == 1);
  run_ready(ctx);
  CHECK_FALSE(*drained);
  CHECK(slots.try_reserve() == 0); // refused while draining: no early or extra drain
  run_ready(ctx);
  CHECK_FALSE(*drained);
  CHECK(slots.release() == 0);
  run_ready(ctx);
  CHECK(*drained);
}

TEST_CASE("closing with no slot held drains at once, and the drain is not complete before") {
  boost::asio::io_context ctx;
  ConnectionSlots slots(ctx.get_executor(), 10);
  auto drained = watch_drain(ctx, slots);
  run_ready(ctx);
  CHECK_FALSE(*drained); // none held, but not closed yet
  CHECK(slots.close());
  run_ready(ctx);
  CHECK(*drained);
  CHECK(slots.try_reserve() == 0);
  CHECK(slots.held() == 0);
}

TEST_CASE("a reservation racing close() on another thread either fails or holds the drain") {
  // Round r: the main thread publishes a fresh ConnectionSlots and closes it while another
  // thread reserves a slot in it, each after a short delay, the reservation's growing with r,
  // so the rounds sweep across the moment of close(). Whichever way they interleave, a slot
  // given out must leave the drain waiting, and one refused must not count.
  constexpr int k_rounds = 20'000;
  const auto delay = [](int spins) {
    for (int i = 0; i < spins; ++i)
      std::atomic_signal_fence(std::memory_order_seq_cst); // a delay the compiler keeps
  };
  // Spins first (both threads on a core of their own meet within nanoseconds), then yields
  // (a loaded machine, where the other thread waits for this one's core).
  const auto await = [](const std::atomic<int>& value, int round) {
    for (int i = 0; value.load() < round; ++i)
      if (i > 10'000) std::this_thread::yield();
  };
  boost::asio::io_context ctx;
  std::atomic<ConnectionSlots*> current{nullptr};
  std::atomic<int> started{-1}; // the round the reserver may run
  std::atomic<int> finished{-1};
  std::atomic<std::size_t> granted{0};
  std::thread reserver([&] {
    for (int round = 0; round < k_rounds; ++round) {
      await(started, round);
      delay(round % 400);
      granted.store(current.load()->try_reserve());
      finished.store(round);
    }
  });

  int granted_rounds = 0;
  int drained_while_held = 0; // counted, not REQUIREd: the loop must finish to join the thread
  int counted_refused = 0;
  int never_drained = 0;
  for (int round = 0; round < k_rounds; ++round) {
    ConnectionSlots slots(ctx.get_executor(), 10);
    current.store(&slots);
    started.store(round);
    delay(200);
    slots.close();
    await(finished, round);

    auto drained = watch_drain(ctx, slots);
    run_ready(ctx);
    if (granted.load() != 0) {
      ++granted_rounds;
      if (*drained) ++drained_while_held;
      slots.release();
      run_ready(ctx);
    } else if (slots.held() != 0) {
      ++counted_refused;
    }
    if (!*drained) ++never_drained;
  }
  reserver.join();
  MESSAGE(granted_rounds << " of " << k_rounds << " rounds reserved before close()");
  CHECK(drained_while_held == 0);
  CHECK(counted_refused == 0);
  CHECK(never_drained == 0);
}
