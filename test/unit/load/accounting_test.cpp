#include "load/accounting.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace huddle::load;

namespace {

constexpr MeasuredWindow k_window{1000, 2000};

// Sends `count` messages from `sender` at `send_ns` and returns their markers' seqs.
std::uint64_t send(Accounting& a, Accounting::SenderId sender, std::uint64_t send_ns) {
  auto const seq = a.claim(sender);
  a.sent(sender, seq, send_ns);
  return seq;
}

} // namespace

TEST_CASE("every member that was there gets every measured message: nothing lost") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r_sender = a.add_receiver(0, s);
  auto const r1 = a.add_receiver(0, std::nullopt);
  auto const r2 = a.add_receiver(0, std::nullopt);
  for (auto r : {r_sender, r1, r2})
    a.ready(r);

  auto const warm = send(a, s, 500); // warm-up: not measured
  CHECK(a.arrived(r1, {s, warm, 500}) == Arrival::unmeasured);
  for (std::uint64_t t = 1000; t < 1010; ++t) {
    auto const seq = send(a, s, t);
    CHECK(a.arrived(r1, {s, seq, t}) == Arrival::counted);
    CHECK(a.arrived(r2, {s, seq, t}) == Arrival::counted);
  }
  auto const tally = a.tally();
  CHECK(tally.sent == 10);
  CHECK(tally.expected == 20); // the sender does not expect its own
  CHECK(tally.delivered == 20);
  CHECK(tally.lost == 0);
}

TEST_CASE("a missing delivery is lost; a repeat is a duplicate, not a second delivery") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r = a.add_receiver(0, std::nullopt);
  a.ready(r);
  auto const m0 = send(a, s, 1100);
  send(a, s, 1200); // never comes
  auto const m2 = send(a, s, 1300);
  CHECK(a.arrived(r, {s, m0, 1100}) == Arrival::counted);
  CHECK(a.arrived(r, {s, m0, 1100}) == Arrival::duplicate);
  CHECK(a.arrived(r, {s, m2, 1300}) == Arrival::counted);
  CHECK(a.arrived(r, {s, m2, 1300}) == Arrival::duplicate);
  auto const tally = a.tally();
  CHECK(tally.expected == 3);
  CHECK(tally.delivered == 2);
  CHECK(tally.delivered_accountable == 2);
  CHECK(tally.lost == 1);
  CHECK(tally.duplicates == 2);
}

TEST_CASE("out of order is not a duplicate: a late arrival fills its gap") {
  // A sender that reconnects may have its last message of the old connection broadcast
  // after its first of the new one.
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r = a.add_receiver(0, std::nullopt);
  a.ready(r);
  auto const m0 = send(a, s, 1100);
  auto const m1 = send(a, s, 1200);
  auto const m2 = send(a, s, 1300);
  CHECK(a.arrived(r, {s, m0, 1100}) == Arrival::counted);
  CHECK(a.arrived(r, {s, m2, 1300}) == Arrival::counted);
  CHECK(a.arrived(r, {s, m1, 1200}) == Arrival::counted);
  CHECK(a.arrived(r, {s, m1, 1200}) == Arrival::duplicate);
  auto const tally = a.tally();
  CHECK(tally.delivered == 3);
  CHECK(tally.lost == 0);
  CHECK(tally.duplicates == 1);
}

TEST_CASE("a reconnect with a replay (?since=) loses nothing; the overlap is duplicates") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r = a.add_receiver(0, std::nullopt);
  a.ready(r);
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t t = 1100; t < 1120; ++t)
    seqs.push_back(send(a, s, t));
  // Live until the drop: 0..4. Then sent while away: 5..9. The replay repeats 3 and 4
  // (a server bug) and brings 5..9; live again from 10. No ready(): same membership.
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(a.arrived(r, {s, seqs[i], 1100 + i}) == Arrival::counted);
  for (std::size_t i = 3; i < 5; ++i)
    CHECK(a.arrived(r, {s, seqs[i], 1100 + i}) == Arrival::duplicate);
  for (std::size_t i = 5; i < 20; ++i)
    CHECK(a.arrived(r, {s, seqs[i], 1100 + i}) == Arrival::counted);
  auto const tally = a.tally();
  CHECK(tally.expected == 20);
  CHECK(tally.delivered == 20);
  CHECK(tally.delivered_accountable == 20);
  CHECK(tally.lost == 0);
  CHECK(tally.duplicates == 2);

  SUBCASE("without a replay, what was sent while away is lost") {
    Accounting b(1, 1, false);
    b.set_window(k_window);
    auto const rb = b.add_receiver(0, std::nullopt);
    b.ready(rb);
    for (std::uint64_t t = 1100; t < 1120; ++t) {
      auto const seq = send(b, s, t);
      if (t < 1105 || t >= 1110) b.arrived(rb, {s, seq, t});
    }
    auto const lossy = b.tally();
    CHECK(lossy.expected == 20);
    CHECK(lossy.delivered == 15);
    CHECK(lossy.lost == 5);
    CHECK(lossy.duplicates == 0);
  }
}

TEST_CASE("duplicates count in every phase; measured deliveries stay unique") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r = a.add_receiver(0, std::nullopt);
  a.ready(r);
  auto const warm = send(a, s, 500);
  CHECK(a.arrived(r, {s, warm, 500}) == Arrival::unmeasured);
  CHECK(a.arrived(r, {s, warm, 500}) == Arrival::duplicate);
  auto const late = send(a, s, 2500);
  CHECK(a.arrived(r, {s, late, 2500}) == Arrival::unmeasured);
  CHECK(a.arrived(r, {s, late, 2500}) == Arrival::duplicate);
  auto const tally = a.tally();
  CHECK(tally.delivered == 0);
  CHECK(tally.duplicates == 2);
}

TEST_CASE("a withdrawn message (write failed) is owed to nobody, counted if it arrives") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r1 = a.add_receiver(0, std::nullopt);
  auto const r2 = a.add_receiver(0, std::nullopt);
  a.ready(r1);
  a.ready(r2);
  auto const m0 = send(a, s, 1100);
  auto const failed = a.claim(s); // the connection broke under the write
  a.withdrawn(s, failed);
  auto const m2 = send(a, s, 1300); // on the next connection
  for (auto r : {r1, r2}) {
    a.arrived(r, {s, m0, 1100});
    a.arrived(r, {s, m2, 1300});
  }
  // It had reached the server after all: r2 gets it.
  CHECK(a.arrived(r2, {s, failed, 1200}) == Arrival::counted);
  auto const tally = a.tally();
  CHECK(tally.sent == 2);
  CHECK(tally.expected == 4);
  CHECK(tally.delivered == 5);
  CHECK(tally.delivered_accountable == 4);
  CHECK(tally.lost == 0);
}

TEST_CASE("a new membership (ready() again, as churn does) starts its dedupe over") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const churner = a.add_receiver(0, std::nullopt, false);
  a.ready(churner);
  auto const seq = send(a, s, 1100);
  CHECK(a.arrived(churner, {s, seq, 1100}) == Arrival::counted);
  a.ready(churner); // rejoined: a history replay may bring it again
  CHECK(a.arrived(churner, {s, seq, 1100}) == Arrival::counted);
  CHECK(a.tally().duplicates == 0);
}

TEST_CASE("a member that joins late expects only what was sent after it joined") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const early = a.add_receiver(0, std::nullopt);
  auto const late = a.add_receiver(0, std::nullopt);
  a.ready(early);
  std::uint64_t seqs[6];
  for (int i = 0; i < 3; ++i)
    seqs[i] = send(a, s, 1100 + i);
  a.ready(late); // joins after three messages
  for (int i = 3; i < 6; ++i)
    seqs[i] = send(a, s, 1100 + i);
  for (int i = 0; i < 6; ++i)
    a.arrived(early, {s, seqs[i], 1100u + i});
  // The server may still deliver one sent just before the join: delivered, not expected.
  a.arrived(late, {s, seqs[2], 1102});
  for (int i = 3; i < 6; ++i)
    a.arrived(late, {s, seqs[i], 1100u + i});
  auto const tally = a.tally();
  CHECK(tally.expected == 6 + 3);
  CHECK(tally.delivered == 6 + 4);
  CHECK(tally.delivered_accountable == 9);
  CHECK(tally.lost == 0);
}

TEST_CASE("churn: members who leave are not owed anything; those who stay are") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const stays = a.add_receiver(0, std::nullopt);
  auto const leaves = a.add_receiver(0, std::nullopt);
  auto const churner = a.add_receiver(0, std::nullopt, false);
  a.ready(stays);
  a.ready(leaves);
  a.ready(churner);
  for (std::uint64_t t = 1100; t < 1110; ++t) {
    auto const seq = send(a, s, t);
    a.arrived(stays, {s, seq, t});
    if (t < 1105) a.arrived(leaves, {s, seq, t});
    if (t % 2 == 0) a.arrived(churner, {s, seq, t});
  }
  a.left(leaves);
  a.ready(churner); // rejoins: its sequence tracking starts over
  auto const tally = a.tally();
  CHECK(tally.expected == 10);
  CHECK(tally.delivered == 10 + 5 + 5);
  CHECK(tally.lost == 0);

  SUBCASE("a member that stays but misses one shows the loss") {
    Accounting b(1, 1, false);
    b.set_window(k_window);
    auto const r = b.add_receiver(0, std::nullopt);
    b.ready(r);
    auto const seq0 = send(b, s, 1100);
    send(b, s, 1101);
    b.arrived(r, {s, seq0, 1100});
    CHECK(b.tally().lost == 1);
  }
}

TEST_CASE("a member the server drops stays accountable: what it missed is lost") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const dropped = a.add_receiver(0, std::nullopt);
  a.ready(dropped);
  auto const seq = send(a, s, 1100);
  a.arrived(dropped, {s, seq, 1100});
  send(a, s, 1200); // after the server closed it
  CHECK(a.tally().lost == 1);
}

TEST_CASE("markers from other groups and own messages without echo are flagged") {
  Accounting a(2, 2, false);
  a.set_window(k_window);
  auto const own = a.sender_id(1, 0);
  auto const r = a.add_receiver(1, own);
  a.ready(r);
  CHECK(a.arrived(r, {a.sender_id(0, 1), 0, 1100}) == Arrival::foreign);
  CHECK(a.arrived(r, {99, 0, 1100}) == Arrival::foreign);
  CHECK(a.arrived(r, {own, 0, 1100}) == Arrival::unexpected_self);
  CHECK(a.arrived(r, {a.sender_id(1, 1), 0, 1100}) == Arrival::counted);
}

TEST_CASE("with echo a sender expects its own messages") {
  Accounting a(1, 1, true);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  auto const r = a.add_receiver(0, s);
  a.ready(r);
  auto const seq = send(a, s, 1100);
  CHECK(a.arrived(r, {s, seq, 1100}) == Arrival::counted);
  auto const tally = a.tally();
  CHECK(tally.expected == 1);
  CHECK(tally.lost == 0);
}

TEST_CASE("a member never ready (failed connect) is owed nothing") {
  Accounting a(1, 1, false);
  a.set_window(k_window);
  auto const s = a.sender_id(0, 0);
  a.add_receiver(0, std::nullopt);
  send(a, s, 1100);
  CHECK(a.tally().expected == 0);
}
