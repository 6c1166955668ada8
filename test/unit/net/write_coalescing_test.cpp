// When a connection's writer holds a write back: only while frames keep arriving faster
// than WriteCoalescing::k_busy_frames per interval.
#include "net/write_coalescing.hpp"

#include <doctest/doctest.h>

using huddle::net::WriteCoalescing;
using namespace std::chrono_literals;

namespace {
const WriteCoalescing::Clock::time_point t0{};
constexpr std::size_t busy = WriteCoalescing::k_busy_frames;
} // namespace

TEST_CASE("a quiet connection never waits") {
  WriteCoalescing coalescing(4ms, t0);
  // Fewer frames than a busy batch: not a stream, however close together.
  coalescing.took(busy - 1, t0 + 1us);
  CHECK(coalescing.hold_until() <= t0 + 1us);
  coalescing.took(1, t0 + 1ms);
  CHECK(coalescing.hold_until() <= t0 + 1ms);
  // A burst after a pause: many frames, but fewer than 4 per 4 ms since the last take.
  coalescing.took(busy * 5 - 1, t0 + 1ms + 20ms);
  CHECK(coalescing.hold_until() <= t0 + 21ms);
}

TEST_CASE("a busy connection writes at most once per interval") {
  WriteCoalescing coalescing(4ms, t0);
  coalescing.took(busy, t0 + 4ms); // exactly the busy rate
  CHECK(coalescing.hold_until() == t0 + 8ms);
  coalescing.took(busy * 2, t0 + 8ms);
  CHECK(coalescing.hold_until() == t0 + 12ms);
  // The stream thins out below the rate: the next write goes at once again.
  coalescing.took(busy - 1, t0 + 12ms);
  CHECK(coalescing.hold_until() <= t0 + 12ms);
}

TEST_CASE("an interval of zero turns coalescing off") {
  WriteCoalescing coalescing(0ms, t0);
  coalescing.took(1000, t0 + 1us);
  CHECK(coalescing.hold_until() <= t0 + 1us);
}

TEST_CASE("a hold gathers at most a quarter of the send queue's limit, and never over 16 KiB") {
  CHECK(WriteCoalescing::held_bytes(64 * 1024) == 16 * 1024);
  CHECK(WriteCoalescing::held_bytes(1024 * 1024) == 16 * 1024); // the default limit
  CHECK(WriteCoalescing::held_bytes(4096) == 1024);
}
