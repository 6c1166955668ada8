// Unit tests of SendQueue (src/core/send_queue.{hpp,cpp}): the writer wake-up signal, the
// byte limit that detects a slow consumer, take/written accounting and close.
#include "core/send_queue.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

namespace {

using huddle::Frame;
using huddle::make_frame;
using huddle::core::SendQueue;
using Push = SendQueue::Push;

Frame bytes(std::size_t size, char fill = 'x') {
  return make_frame(std::string(size, fill));
}

} // namespace

TEST_CASE("the first frame into an empty queue wakes the writer, the next ones do not") {
  SendQueue queue(100);
  CHECK(queue.push(bytes(10)) == Push::queued_first);
  CHECK(queue.push(bytes(10)) == Push::queued);
  CHECK(queue.push(bytes(10)) == Push::queued);
  CHECK(queue.queued_bytes() == 30);

  std::vector<Frame> out;
  queue.take(out);
  CHECK(out.size() == 3);
  // Taken, the queue is empty again: the next frame needs a wake-up of its own.
  CHECK(queue.push(bytes(10)) == Push::queued_first);
  CHECK(queue.push(bytes(10)) == Push::queued);
}

TEST_CASE("passing the flush threshold is reported once, and makes the queue urgent") {
  SendQueue queue(100, 50);
  CHECK(queue.push(bytes(30)) == Push::queued_first);
  CHECK_FALSE(queue.urgent());
  CHECK(queue.push(bytes(20)) == Push::queued); // 50: at the threshold, not past it
  CHECK_FALSE(queue.urgent());
  CHECK(queue.push(bytes(1)) == Push::flush_due); // 51: a holding writer must write now
  CHECK(queue.urgent());
  CHECK(queue.push(bytes(1)) == Push::queued); // already past it: no second signal

  std::vector<Frame> out;
  queue.take(out);
  CHECK(queue.urgent()); // taken, not yet written: the bytes still count
  queue.written(52);
  CHECK_FALSE(queue.urgent());
  CHECK(queue.push(bytes(60)) == Push::flush_due); // into an empty queue, and past it at once

  SendQueue plain(100); // no threshold: only closing makes it urgent
  CHECK(plain.push(bytes(100)) == Push::queued_first);
  CHECK_FALSE(plain.urgent());
  plain.close();
  CHECK(plain.urgent());
}

TEST_CASE("a push over the byte limit overflows and closes the queue") {
  SendQueue queue(10);
  CHECK(queue.push(bytes(4)) == Push::queued_first);
  CHECK(queue.push(bytes(6)) == Push::queued); // exactly at the limit: still fine
  CHECK(queue.queued_bytes() == 10);
  CHECK_FALSE(queue.closed());

  CHECK(queue.push(bytes(1)) == Push::overflow);
  CHECK(queue.closed());
  CHECK(queue.overflowed());
  // Nobody will write what was queued: it is dropped, and every later push is refused.
  std::vector<Frame> out;
  const SendQueue::State state = queue.take(out);
  CHECK(out.empty());
  CHECK(state.closed);
  CHECK(state.overflowed);
  CHECK(queue.push(bytes(1)) == Push::closed);
  CHECK(queue.push(bytes(0)) == Push::closed);
  CHECK(queue.overflowed());
}

TEST_CASE("a single frame larger than the limit is taken into an empty queue") {
  SendQueue queue(10);
  const auto big = bytes(25);
  CHECK(queue.push(big) == Push::queued_first);
  CHECK_FALSE(queue.closed());
  CHECK(queue.queued_bytes() == 25);

  SUBCASE("but nothing may follow it until it is written") {
    CHECK(queue.push(bytes(1)) == Push::overflow);
    CHECK(queue.overflowed());
  }
  SUBCASE("taken but not yet written, it still counts") {
    std::vector<Frame> out;
    queue.take(out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].get() == big.get());
    // Taken but not yet written: it still counts.
    CHECK(queue.push(bytes(1)) == Push::overflow);
  }
  SUBCASE("once written, the queue takes frames again") {
    std::vector<Frame> out;
    queue.take(out);
    queue.written(25);
    CHECK(queue.queued_bytes() == 0);
    CHECK(queue.push(bytes(30)) == Push::queued_first); // empty again: big is fine again
    CHECK_FALSE(queue.overflowed());
  }
}

TEST_CASE("take moves every queued frame, without copying the payloads") {
  SendQueue queue(1000);
  std::vector<Frame> pushed;
  for (char c = 'a'; c <= 'e'; ++c) {
    pushed.push_back(bytes(3, c));
    queue.push(pushed.back());
  }
  std::vector<Frame> out{bytes(1, 'z')}; // stale content is replaced, not appended to
  queue.take(out);
  REQUIRE(out.size() == pushed.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    CHECK(out[i].get() == pushed[i].get()); // order

  std::vector<Frame> again{bytes(1, 'z')};
  queue.take(again);
  CHECK(again.empty());
  // The bytes stay counted until written.
  CHECK(queue.queued_bytes() == 15);
}

TEST_CASE("written releases the bytes it reports") {
  SendQueue queue(10);
  queue.push(bytes(6));
  std::vector<Frame> out;
  queue.take(out);
  CHECK(queue.push(bytes(4)) == Push::queued_first); // 10: at the limit
  CHECK(queue.queued_bytes() == 10);

  queue.written(6);
  CHECK(queue.queued_bytes() == 4);
  CHECK(queue.push(bytes(6)) == Push::queued); // fits again: 10
  CHECK_FALSE(queue.closed());

  queue.take(out);
  queue.written(100); // more than counted: clamps to zero, never wraps around
  CHECK(queue.queued_bytes() == 0);
  CHECK(queue.push(bytes(10)) == Push::queued_first);
  CHECK_FALSE(queue.overflowed());
}

TEST_CASE("close refuses further pushes but keeps what was queued") {
  SendQueue queue(100);
  const auto first = bytes(5);
  queue.push(first);
  queue.close();
  CHECK(queue.closed());
  CHECK_FALSE(queue.overflowed());
  CHECK(queue.push(bytes(5)) == Push::closed);

  std::vector<Frame> out;
  const SendQueue::State state = queue.take(out); // the writer sends these, then its close
  REQUIRE(out.size() == 1);
  CHECK(out[0].get() == first.get());
  CHECK(state.closed);
  CHECK_FALSE(state.overflowed);
  queue.close(); // idempotent
  CHECK(queue.closed());
}

TEST_CASE("concurrent pushes from 4 threads are all queued and counted exactly") {
  constexpr int k_threads = 4;
  constexpr int k_pushes = 2000;
  SendQueue queue(static_cast<std::size_t>(k_threads) * k_pushes * 3); // room for all
  std::atomic<int> first{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < k_threads; ++t)
    producers.emplace_back([&] {
      for (int i = 0; i < k_pushes; ++i)
        if (queue.push(bytes(3)) == Push::queued_first) ++first;
    });
  std::size_t taken = 0;
  std::vector<Frame> out;
  for (int i = 0; i < 50; ++i) {
    queue.take(out);
    taken += out.size();
  }
  for (auto& producer : producers)
    producer.join();
  queue.take(out);
  taken += out.size();

  CHECK(taken == static_cast<std::size_t>(k_threads) * k_pushes);
  CHECK(queue.queued_bytes() == taken * 3);
  CHECK(first >= 1);
  CHECK_FALSE(queue.closed());
}
