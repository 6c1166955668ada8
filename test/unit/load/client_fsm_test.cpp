// The load client's state machine driven without sockets: each test plays the driver,
// feeding events (connected, frames, waits ended, the read's end) and checking the
// actions and states that come back, and what was counted.
#include "load/client_fsm.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "load/marker.hpp"

using namespace huddle::load;
using Kind = Action::Kind;
using State = ClientFsm::State;
using Event = ClientSink::Event;

namespace {

constexpr std::uint64_t k_ms = 1'000'000;

struct RecordingSink final : ClientSink {
  std::map<Event, int> events;
  std::vector<std::pair<ErrorKind, std::string>> errors;
  std::vector<std::uint32_t> wakes;
  std::vector<std::uint64_t> latencies;

  void count(Event event) override { ++events[event]; }
  void count(ErrorKind kind, std::string_view detail) override {
    errors.emplace_back(kind, std::string(detail));
  }
  void latency(std::uint64_t ns) override { latencies.push_back(ns); }
  void wake(std::uint32_t sender_index) override { wakes.push_back(sender_index); }

  int errors_of(ErrorKind kind) const {
    return static_cast<int>(std::count_if(errors.begin(), errors.end(),
                                          [kind](auto const& e) { return e.first == kind; }));
  }
};

// One group; warm-up from 1 s, measured from 2 s to 5 s, drain to 7 s.
struct Run {
  ClientConfig config;
  Accounting accounting;
  RecordingSink sink;
  Phases phases{1000 * k_ms, 2000 * k_ms, 5000 * k_ms, 7000 * k_ms};

  explicit Run(std::uint32_t senders = 1) : accounting(1, senders, false) {
    config.settle_ns = 100 * k_ms;
    config.senders = senders;
    accounting.set_window(MeasuredWindow{phases.measure_begin, phases.measure_end});
  }
  // --rate 10.
  void open_loop() {
    config.closed_loop = false;
    config.send_period_ns = 100 * k_ms;
  }
  Moment at(std::uint64_t now_ns) const { return Moment{now_ns, &phases}; }
  Moment before_phases(std::uint64_t now_ns) const { return Moment{now_ns, nullptr}; }

  ClientIdentity member(std::uint32_t index, std::optional<Accounting::SenderId> sender) {
    ClientIdentity identity;
    identity.index = index;
    identity.sender = sender;
    identity.receiver = accounting.add_receiver(0, sender);
    return identity;
  }
  ClientIdentity churner(std::uint32_t index) {
    ClientIdentity identity;
    identity.index = index;
    identity.churner = true;
    identity.receiver = accounting.add_receiver(0, std::nullopt, false);
    return identity;
  }
};

std::string welcome(std::uint64_t last_id) {
  return R"({"type":"welcome","group":1,"user":"u","last_id":)" + std::to_string(last_id) +
         R"(,"members":[]})";
}

std::string message(std::uint64_t id, std::string_view text) {
  return R"({"type":"message","group":1,"id":)" + std::to_string(id) + R"(,"from":"u","text":")" +
         std::string(text) + R"(","ts":1})";
}

std::string ack(std::uint64_t id) {
  return R"({"type":"ack","ref":"c1","id":)" + std::to_string(id) + "}";
}

// Plays the driver with nothing cut short: a wait ends at its time, a write succeeds.
// Returns the first other action, a wait that ends after `limit`, or the action that
// comes with state `stop`; `now` follows.
Action play(ClientFsm& fsm, Run const& run, Action action, std::uint64_t& now, std::uint64_t limit,
            State stop = State::done) {
  while (fsm.state() != stop) {
    if (action.kind == Kind::wait && action.until_ns <= limit) {
      now = std::max(now, action.until_ns);
      action = fsm.waited(run.at(now), false);
    } else if (action.kind == Kind::write) {
      action = fsm.written(run.at(now), std::nullopt);
    } else {
      break;
    }
  }
  return action;
}

// The machine is in `state`, waiting until `until_ns`.
void check_waits(ClientFsm const& fsm, Action const& action, State state, std::uint64_t until_ns) {
  CHECK(fsm.state() == state);
  CHECK(action.kind == Kind::wait);
  CHECK(action.until_ns == until_ns);
}

// A stable member connected at 10 ms, welcomed (v1), past its settle time and the
// phases: what it does first once the run's timeline is known.
Action join(ClientFsm& fsm, Run const& run, std::uint64_t last_id = 0) {
  auto action = fsm.start(run.before_phases(0));
  REQUIRE(action.kind == Kind::connect);
  action = fsm.connected(run.before_phases(10 * k_ms), ConnectResult{});
  CHECK_FALSE(fsm.frame(run.before_phases(11 * k_ms), welcome(last_id)));
  REQUIRE(action.kind == Kind::wait);
  return fsm.waited(run.at(action.until_ns), false);
}

} // namespace

TEST_CASE("a stable member connects at its place in the ramp, settles, holds until the drain "
          "ends, then closes") {
  Run run;
  auto identity = run.member(0, std::nullopt);
  identity.connect_at_ns = 50 * k_ms;
  ClientFsm fsm(run.config, identity, run.accounting, run.sink);
  CHECK(fsm.state() == State::idle);

  auto action = fsm.start(run.before_phases(0));
  check_waits(fsm, action, State::scheduled, 50 * k_ms);

  action = fsm.waited(run.before_phases(50 * k_ms), false);
  CHECK(fsm.state() == State::connecting);
  CHECK(action.kind == Kind::connect);
  CHECK_FALSE(action.since);

  action = fsm.connected(run.before_phases(60 * k_ms), ConnectResult{});
  CHECK(fsm.open());
  check_waits(fsm, action, State::settling, 160 * k_ms);

  // Settled; the connect phase is not over: it looks again in a while.
  action = fsm.waited(run.before_phases(160 * k_ms), false);
  check_waits(fsm, action, State::awaiting_phases, 160 * k_ms + k_phase_poll_ns);

  action = fsm.waited(run.at(1000 * k_ms), false);
  check_waits(fsm, action, State::holding, run.phases.drain_end);

  action = fsm.waited(run.at(run.phases.drain_end), false);
  CHECK(fsm.state() == State::closing);
  CHECK(action.kind == Kind::close);
  action = fsm.closed(run.at(run.phases.drain_end + k_ms), false);
  CHECK(fsm.state() == State::ending);
  CHECK(action.kind == Kind::end_connection);
  // The server's answer to our close: the end of the read, not an error.
  fsm.read_ended(ErrorKind::server_close_normal, "1000 ");
  CHECK_FALSE(fsm.open());
  action = fsm.ended(run.at(run.phases.drain_end + 2 * k_ms));
  CHECK(fsm.state() == State::done);
  CHECK(action.kind == Kind::done);

  CHECK(run.sink.errors.empty());
  CHECK(run.sink.events[Event::first_attempt_over] == 1);
  CHECK(run.sink.events[Event::connected] == 1);
  CHECK(run.sink.events[Event::disconnected] == 1);
  CHECK(run.sink.events[Event::reconnected] == 0);
}

TEST_CASE("a close that times out is counted") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  std::uint64_t now = 0;
  auto action = play(fsm, run, join(fsm, run), now, run.phases.drain_end);
  REQUIRE(action.kind == Kind::close);
  fsm.closed(run.at(now), true);
  CHECK(run.sink.errors_of(ErrorKind::close_timeout) == 1);
}

TEST_CASE("a stable member whose first connect fails is counted once and gives up") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  REQUIRE(fsm.start(run.before_phases(0)).kind == Kind::connect);
  auto const action =
      fsm.connected(run.before_phases(k_ms),
                    ConnectResult{ErrorKind::connect_refused, "Connection refused", false});
  CHECK(action.kind == Kind::done);
  CHECK(fsm.state() == State::done);
  CHECK_FALSE(fsm.open());
  REQUIRE(run.sink.errors.size() == 1);
  CHECK(run.sink.errors[0].first == ErrorKind::connect_refused);
  CHECK(run.sink.errors[0].second == "Connection refused");
  CHECK(run.sink.events[Event::connect_failed] == 1);
  CHECK(run.sink.events[Event::first_attempt_over] == 1);
  CHECK(run.sink.events[Event::connected] == 0);
}

TEST_CASE("a connection the server ends is counted, and the member comes back with since= the "
          "newest id it saw") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  auto action = join(fsm, run, 3);
  REQUIRE(action.kind == Kind::wait);
  CHECK(fsm.state() == State::holding);
  CHECK_FALSE(fsm.frame(run.at(300 * k_ms), message(7, "hi")));

  fsm.read_ended(ErrorKind::server_close_policy, "1008 slow consumer");
  CHECK(run.sink.errors_of(ErrorKind::server_close_policy) == 1);
  CHECK(run.sink.errors[0].second == "1008 slow consumer");
  // The driver cuts the drive's wait: the connection is over.
  action = fsm.waited(run.at(400 * k_ms), true);
  CHECK(action.kind == Kind::end_connection);

  // Short-lived (under k_lasting_connection_ns): a backoff of 100 ms plus jitter.
  action = fsm.ended(run.at(400 * k_ms));
  CHECK(fsm.state() == State::backing_off);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns >= 400 * k_ms + k_backoff_ns);
  CHECK(action.until_ns <= 400 * k_ms + k_backoff_ns + k_backoff_jitter_ns);

  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::connect);
  REQUIRE(action.since);
  CHECK(*action.since == 7);

  // Back: counted as a reconnect, no second settle (the membership carries on).
  action = fsm.connected(run.at(1400 * k_ms), ConnectResult{});
  CHECK(run.sink.events[Event::reconnected] == 1);
  CHECK(run.sink.events[Event::first_attempt_over] == 1);
  check_waits(fsm, action, State::holding, run.phases.drain_end);
}

TEST_CASE("a member that is not greeted (no protocol v1) reconnects without since=") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  fsm.start(run.before_phases(0));
  auto action = fsm.connected(run.before_phases(k_ms), ConnectResult{});
  CHECK_FALSE(fsm.frame(run.before_phases(2 * k_ms), "hello"));
  REQUIRE(fsm.waited(run.at(1000 * k_ms), false).kind == Kind::wait);
  fsm.read_ended(ErrorKind::connection_lost, "End of file");
  CHECK(fsm.waited(run.at(1500 * k_ms), true).kind == Kind::end_connection);
  std::uint64_t now = 1500 * k_ms;
  action = play(fsm, run, fsm.ended(run.at(now)), now, run.phases.drain_end);
  REQUIRE(action.kind == Kind::connect);
  CHECK_FALSE(action.since);
}

TEST_CASE("a stable member's reconnect keeps its membership: what it missed stays owed") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  join(fsm, run);
  auto const seq = run.accounting.claim(0);
  run.accounting.sent(0, seq, 2100 * k_ms);
  fsm.read_ended(ErrorKind::connection_lost, "reset");
  fsm.waited(run.at(2200 * k_ms), true);
  auto action = fsm.ended(run.at(2200 * k_ms));
  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::connect);
  fsm.connected(run.at(2300 * k_ms), ConnectResult{});
  fsm.frame(run.at(2300 * k_ms), welcome(1)); // no replay of the message it missed
  auto const tally = run.accounting.tally();
  CHECK(tally.expected == 1);
  CHECK(tally.lost == 1);
}

TEST_CASE("after five short-lived connections in a row a stable member gives up") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  auto action = join(fsm, run);
  std::uint64_t now = 500 * k_ms; // all short-lived, the first connection (from 10 ms) too
  for (std::uint32_t attempt = 1; attempt <= k_reconnect_attempts; ++attempt) {
    fsm.read_ended(ErrorKind::connection_lost, "reset");
    REQUIRE(fsm.waited(run.at(now), true).kind == Kind::end_connection);
    action = fsm.ended(run.at(now + 10 * k_ms));
    if (attempt == k_reconnect_attempts) break;
    // 100 ms, 200 ms, 400 ms, 800 ms: doubling while attempts keep failing.
    REQUIRE(action.kind == Kind::wait);
    CHECK(action.until_ns >= now + 10 * k_ms + (k_backoff_ns << (attempt - 1)));
    now = action.until_ns;
    REQUIRE(fsm.waited(run.at(now), false).kind == Kind::connect);
    fsm.connected(run.at(now), ConnectResult{});
  }
  CHECK(action.kind == Kind::done);
  CHECK(fsm.state() == State::done);
  CHECK(run.sink.events[Event::reconnected] == static_cast<int>(k_reconnect_attempts) - 1);
}

TEST_CASE("no reconnect once the drain is over") {
  Run run;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  join(fsm, run);
  fsm.read_ended(ErrorKind::connection_lost, "reset");
  fsm.waited(run.at(run.phases.drain_end - k_ms), true);
  auto action = fsm.ended(run.at(run.phases.drain_end - k_ms));
  REQUIRE(action.kind == Kind::wait); // backing off
  action = fsm.waited(run.at(action.until_ns), false);
  CHECK(action.kind == Kind::done);
}

TEST_CASE("open loop: a sender writes on its schedule, spread over all senders, until the "
          "measured window ends") {
  Run run(2);
  run.open_loop();
  ClientFsm fsm(run.config, run.member(1, run.accounting.sender_id(0, 1)), run.accounting,
                run.sink);
  auto action = join(fsm, run);
  CHECK(fsm.state() == State::sending);
  REQUIRE(action.kind == Kind::wait);
  // Sender 1 of 2: half a period after the warm-up begins.
  CHECK(action.until_ns == run.phases.warmup_begin + 50 * k_ms);

  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::write);
  auto const marker = parse_marker(action.frame);
  REQUIRE(marker);
  CHECK(*marker == Marker{1, 0, 1050 * k_ms});
  CHECK(action.frame.size() == run.config.size);

  action = fsm.written(run.at(1051 * k_ms), std::nullopt);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns == 1150 * k_ms);

  // Cut short before it is due: it waits again for the same time.
  action = fsm.waited(run.at(1100 * k_ms), true);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns == 1150 * k_ms);

  std::uint64_t now = 1100 * k_ms;
  action = play(fsm, run, action, now, run.phases.drain_end - k_ms);
  check_waits(fsm, action, State::holding, run.phases.drain_end);
  // 1.05 s, 1.15 s, ... 4.95 s: 40 writes, 30 of them in the measured window.
  CHECK(run.sink.events[Event::sent] == 40);
  CHECK(run.accounting.tally().sent == 30);
}

TEST_CASE("open loop: behind schedule, it sends at once until caught up") {
  Run run;
  run.open_loop();
  ClientFsm fsm(run.config, run.member(0, run.accounting.sender_id(0, 0)), run.accounting,
                run.sink);
  auto action = join(fsm, run);
  REQUIRE(action.kind == Kind::wait);
  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::write);                     // due at 1 s
  action = fsm.written(run.at(1350 * k_ms), std::nullopt); // the socket pushed back
  CHECK(action.kind == Kind::write);
  action = fsm.written(run.at(1350 * k_ms), std::nullopt);
  CHECK(action.kind == Kind::write);
  action = fsm.written(run.at(1350 * k_ms), std::nullopt);
  CHECK(action.kind == Kind::write);
  action = fsm.written(run.at(1350 * k_ms), std::nullopt);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns == 1400 * k_ms);
}

TEST_CASE("a failed write is counted, withdrawn from the accounting, and ends the sending") {
  Run run;
  run.open_loop();
  ClientFsm fsm(run.config, run.member(0, run.accounting.sender_id(0, 0)), run.accounting,
                run.sink);
  std::uint64_t now = 0;
  auto action = play(fsm, run, join(fsm, run), now, 2500 * k_ms);
  REQUIRE(action.kind == Kind::wait);
  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::write);
  action = fsm.written(run.at(2600 * k_ms), "Broken pipe");
  CHECK(run.sink.errors_of(ErrorKind::write_error) == 1);
  check_waits(fsm, action, State::holding, run.phases.drain_end);
  // 2.0 s to 2.5 s written, the one at 2.6 s withdrawn: owed to nobody.
  CHECK(run.accounting.tally().sent == 6);
}

TEST_CASE("closed loop: at most --window in flight; what the watcher sees wakes the sender, and "
          "a second of nothing is a stall") {
  Run run;
  run.config.closed_loop = true;
  run.config.window = 2;
  ClientFsm sender(run.config, run.member(0, run.accounting.sender_id(0, 0)), run.accounting,
                   run.sink);
  ClientFsm watcher(run.config, run.member(1, std::nullopt), run.accounting, run.sink);
  watcher.watch(0, &sender);
  join(watcher, run);

  auto action = join(sender, run);
  CHECK(sender.state() == State::sending);
  REQUIRE(action.kind == Kind::wait); // the warm-up
  CHECK(action.until_ns == run.phases.warmup_begin);
  action = sender.waited(run.at(1000 * k_ms), false);
  REQUIRE(action.kind == Kind::write);
  auto const first = *parse_marker(action.frame);
  action = sender.written(run.at(1000 * k_ms), std::nullopt);
  REQUIRE(action.kind == Kind::write);
  auto const second = *parse_marker(action.frame);
  action = sender.written(run.at(1000 * k_ms), std::nullopt);
  CHECK(sender.state() == State::window_full);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns == 1000 * k_ms + k_window_stall_ns);

  CHECK_FALSE(watcher.frame(run.at(1100 * k_ms), message(1, encode_marker(first))));
  CHECK(run.sink.wakes == std::vector<std::uint32_t>{0});
  CHECK(run.sink.events[Event::delivered] == 1);
  // Seen before the sender looked again: no second wake-up.
  watcher.frame(run.at(1150 * k_ms), message(2, encode_marker(second)));
  CHECK(run.sink.wakes.size() == 1);

  action = sender.waited(run.at(1150 * k_ms), true);
  CHECK(sender.state() == State::sending);
  REQUIRE(action.kind == Kind::write);
  action = sender.written(run.at(1150 * k_ms), std::nullopt);
  REQUIRE(action.kind == Kind::write);
  action = sender.written(run.at(1150 * k_ms), std::nullopt);
  REQUIRE(action.kind == Kind::wait);
  CHECK(sender.state() == State::window_full);
  CHECK(run.sink.errors.empty());

  // Cut short with nothing seen (not by the watcher): no stall, it waits on.
  action = sender.waited(run.at(1200 * k_ms), true);
  CHECK(sender.state() == State::window_full);
  REQUIRE(action.kind == Kind::wait);
  CHECK(run.sink.errors.empty());

  // Nothing seen within the stall time: counted, and it sends anyway.
  action = sender.waited(run.at(action.until_ns), false);
  CHECK(run.sink.errors_of(ErrorKind::window_stall) == 1);
  CHECK(action.kind == Kind::write);
}

TEST_CASE("--drop-every: a v1 sender waits for its acks, drops the socket without an error, "
          "and is back at once with since=") {
  Run run;
  run.open_loop();
  run.config.drop_every_ns = 1000 * k_ms;
  ClientFsm fsm(run.config, run.member(0, run.accounting.sender_id(0, 0)), run.accounting,
                run.sink);
  std::uint64_t now = 0;
  // Drops fall at a random moment of each second of the measured window (2 s to 5 s).
  auto action = play(fsm, run, join(fsm, run, 41), now, run.phases.drain_end, State::awaiting_acks);
  CHECK(fsm.state() == State::awaiting_acks);
  REQUIRE(action.kind == Kind::wait);
  CHECK(now >= run.phases.measure_begin);
  CHECK(now < run.phases.measure_begin + 1000 * k_ms);
  CHECK(action.until_ns == now + k_ack_wait_ns);
  int const written = run.sink.events[Event::sent];
  REQUIRE(written > 0);
  for (int i = 1; i < written; ++i)
    CHECK_FALSE(fsm.frame(run.at(now), ack(41 + static_cast<std::uint64_t>(i))));
  // The last ack cuts the wait short.
  CHECK(fsm.frame(run.at(now), ack(41 + static_cast<std::uint64_t>(written))));
  action = fsm.waited(run.at(now), true);
  CHECK(fsm.state() == State::dropping);
  REQUIRE(action.kind == Kind::drop);
  CHECK(fsm.dropped(run.at(now)).kind == Kind::end_connection);
  fsm.read_ended(ErrorKind::read_error, "Operation canceled");
  CHECK(run.sink.errors.empty());

  // A drop is not a failure, however short the connection: no backoff but the jitter.
  action = fsm.ended(run.at(now));
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns <= now + k_backoff_jitter_ns);
  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::connect);
  REQUIRE(action.since);
  CHECK(*action.since == 41);
}

TEST_CASE("--drop-every: without acks to wait for, the drop comes at once") {
  Run run;
  run.config.drop_every_ns = 1000 * k_ms;
  ClientFsm fsm(run.config, run.member(0, std::nullopt), run.accounting, run.sink);
  std::uint64_t now = 0;
  auto const action = play(fsm, run, join(fsm, run), now, run.phases.drain_end);
  CHECK(action.kind == Kind::drop);
  CHECK(now >= run.phases.measure_begin);
  CHECK(now < run.phases.measure_begin + 1000 * k_ms);
}

TEST_CASE("a churner joins from the warm-up, stays a while, leaves, and stops with the measured "
          "window") {
  Run run;
  run.config.churn_hold_min_ns = 200 * k_ms;
  run.config.churn_hold_max_ns = 1000 * k_ms;
  ClientFsm fsm(run.config, run.churner(0), run.accounting, run.sink);
  auto action = fsm.start(run.before_phases(0));
  CHECK(fsm.state() == State::awaiting_phases);
  REQUIRE(action.kind == Kind::wait);
  action = fsm.waited(run.at(k_phase_poll_ns), false);
  CHECK(fsm.state() == State::resting);
  REQUIRE(action.kind == Kind::wait);
  CHECK(action.until_ns >= run.phases.warmup_begin);
  CHECK(action.until_ns <= run.phases.warmup_begin + k_churn_rest_max_ns);

  std::uint64_t now = 0;
  int visits = 0;
  for (;;) {
    now = std::max(now, action.until_ns);
    action = fsm.waited(run.at(now), false);
    if (action.kind == Kind::done) break;
    REQUIRE(action.kind == Kind::connect);
    CHECK_FALSE(action.since); // a churner joins afresh, greeted or not
    ++visits;
    std::uint64_t const joined = now;
    action = fsm.connected(run.at(now), ConnectResult{});
    fsm.frame(run.at(now), welcome(5));
    CHECK(fsm.state() == State::settling);
    action = play(fsm, run, action, now, run.phases.drain_end);
    REQUIRE(action.kind == Kind::close);
    CHECK(now >= joined + run.config.churn_hold_min_ns);
    CHECK(now <= std::min(joined + run.config.churn_hold_max_ns, run.phases.drain_end));
    REQUIRE(fsm.closed(run.at(now), false).kind == Kind::end_connection);
    fsm.read_ended(ErrorKind::server_close_normal, "1000 ");
    action = fsm.ended(run.at(now));
    CHECK(fsm.state() == State::resting);
    REQUIRE(action.kind == Kind::wait);
  }
  CHECK(now >= run.phases.measure_end);
  CHECK(visits >= 4); // 4 s at most 1 s a visit
  CHECK(run.sink.events[Event::connected] == visits);
  CHECK(run.sink.events[Event::first_attempt_over] == 0); // not part of the connect phase
  CHECK(run.sink.errors.empty());
}

TEST_CASE("a churner's failed join is counted and followed by another") {
  Run run;
  ClientFsm fsm(run.config, run.churner(0), run.accounting, run.sink);
  fsm.start(run.at(0));
  auto action = fsm.waited(run.at(1100 * k_ms), false);
  REQUIRE(action.kind == Kind::connect);
  action = fsm.connected(run.at(1100 * k_ms),
                         ConnectResult{ErrorKind::handshake_rejected, "HTTP 503", false});
  CHECK(run.sink.errors_of(ErrorKind::handshake_rejected) == 1);
  CHECK(run.sink.events[Event::connect_failed] == 1);
  CHECK(fsm.state() == State::resting);
  REQUIRE(action.kind == Kind::wait);
  CHECK(fsm.waited(run.at(action.until_ns), false).kind == Kind::connect);
}

TEST_CASE("frames: markers of other groups, own ones without --echo, broken ones and error "
          "frames are counted; a replayed own message is not") {
  Run run(2);
  ClientFsm fsm(run.config, run.member(0, run.accounting.sender_id(0, 0)), run.accounting,
                run.sink);
  join(fsm, run, 0);
  auto const seq = run.accounting.claim(0);
  run.accounting.sent(0, seq, 2100 * k_ms);
  fsm.frame(run.at(2200 * k_ms), message(1, encode_marker(Marker{0, seq, 2100 * k_ms})));
  CHECK(run.sink.errors_of(ErrorKind::unexpected_self) == 1);
  fsm.frame(run.at(2200 * k_ms), message(2, encode_marker(Marker{9, 0, 2100 * k_ms})));
  CHECK(run.sink.errors_of(ErrorKind::foreign_marker) == 1);
  fsm.frame(run.at(2200 * k_ms), message(3, "HLD:1:x HLD:"));
  CHECK(run.sink.errors_of(ErrorKind::malformed_marker) == 2);
  fsm.frame(run.at(2200 * k_ms), R"({"type":"error","code":"bad_frame","detail":"x"})");
  CHECK(run.sink.errors_of(ErrorKind::server_error_frame) == 1);

  // The other sender's message, measured: a delivery with its latency.
  auto const other = run.accounting.claim(1);
  run.accounting.sent(1, other, 2300 * k_ms);
  fsm.frame(run.at(2305 * k_ms), message(4, encode_marker(Marker{1, other, 2300 * k_ms})));
  CHECK(run.sink.latencies == std::vector<std::uint64_t>{5 * k_ms});
  CHECK(run.sink.events[Event::delivered] == 1);

  // Back with since=4, the server replays 1..6: its own message among them is expected.
  fsm.read_ended(ErrorKind::connection_lost, "reset");
  fsm.waited(run.at(2400 * k_ms), true);
  auto action = fsm.ended(run.at(2400 * k_ms));
  action = fsm.waited(run.at(action.until_ns), false);
  REQUIRE(action.kind == Kind::connect);
  CHECK(*action.since == 4);
  fsm.connected(run.at(2600 * k_ms), ConnectResult{});
  fsm.frame(run.at(2600 * k_ms), welcome(6));
  auto const own = run.accounting.claim(0);
  run.accounting.sent(0, own, 2500 * k_ms);
  fsm.frame(run.at(2600 * k_ms), message(5, encode_marker(Marker{0, own, 2500 * k_ms})));
  CHECK(run.sink.errors_of(ErrorKind::unexpected_self) == 1);
  // Live again after the replay: its own message is unexpected once more.
  fsm.frame(run.at(2600 * k_ms), message(7, encode_marker(Marker{0, own, 2500 * k_ms})));
  CHECK(run.sink.errors_of(ErrorKind::unexpected_self) == 2);
}
