#include "load/client_fsm.hpp"

#include <algorithm>

#include "load/envelope.hpp"
#include "load/marker.hpp"

namespace huddle::load {

namespace {

Action act(Action::Kind kind) noexcept {
  Action action;
  action.kind = kind;
  return action;
}

} // namespace

ClientConfig client_config(Options const& options) {
  ClientConfig config;
  config.settle_ns = seconds_to_ns(options.settle_s);
  config.closed_loop = options.closed_loop();
  if (!config.closed_loop) config.send_period_ns = static_cast<std::uint64_t>(1e9 / options.rate);
  config.window = options.window;
  config.senders = std::uint64_t{options.groups} * options.senders_per_group();
  config.drop_every_ns = options.drop_every_s > 0 ? seconds_to_ns(options.drop_every_s) : 0;
  config.churn_hold_min_ns = seconds_to_ns(options.churn_hold_min_s);
  config.churn_hold_max_ns = seconds_to_ns(options.churn_hold_max_s);
  config.payload = options.payload;
  config.size = options.size;
  config.seed = options.seed;
  return config;
}

ClientFsm::ClientFsm(ClientConfig const& config, ClientIdentity const& identity,
                     Accounting& accounting, ClientSink& sink)
    : config_(config), identity_(identity), accounting_(accounting), sink_(sink),
      random_(static_cast<std::uint_fast32_t>(config.seed * 1'000'003 + identity.index + 1)) {}

void ClientFsm::watch(std::uint32_t k, ClientFsm* sender) {
  if (watched_.empty()) watched_.assign(accounting_.senders_per_group(), nullptr);
  watched_[k] = sender;
}

Action ClientFsm::start(Moment m) {
  state_ = identity_.churner ? State::awaiting_phases : State::scheduled;
  return next(m);
}

Action ClientFsm::connect() {
  state_ = State::connecting;
  Action action = act(Action::Kind::connect);
  // A stable member back on a protocol v1 server asks for what it missed
  // (docs/protocol.md); a churner joins afresh every time.
  resumed_ = !identity_.churner && v1_ && last_id_.has_value();
  if (resumed_) action.since = last_id_;
  return action;
}

Action ClientFsm::wait(std::uint64_t until_ns) noexcept {
  Action action = act(Action::Kind::wait);
  action.until_ns = until_ns;
  return action;
}

Action ClientFsm::connected(Moment m, ConnectResult const& result) {
  bool const first = first_attempt_ && !identity_.churner;
  first_attempt_ = false;
  if (result.error) {
    sink_.count(*result.error, result.detail);
    sink_.count(ClientSink::Event::connect_failed);
    if (first) sink_.count(ClientSink::Event::first_attempt_over);
    if (identity_.churner) return churn_rest(m);
    if (first) { // as before reconnects: a member that never joined
      state_ = State::done;
      return act(Action::Kind::done);
    }
    return after_connection(m, false);
  }
  if (first) {
    sink_.count(ClientSink::Event::first_attempt_over);
  } else if (!identity_.churner) {
    sink_.count(ClientSink::Event::reconnected);
  }
  if (result.deflate) sink_.count(ClientSink::Event::deflate_granted);
  sink_.count(ClientSink::Event::connected);
  open_ = true;
  ending_ = Ending::none;
  ready_ = false;
  greeted_ = false;
  replay_until_ = 0;
  written_ = 0;
  acked_ = 0;
  began_ = m.now_ns;
  if (identity_.churner) {
    std::uniform_int_distribution<std::uint64_t> hold(config_.churn_hold_min_ns,
                                                      config_.churn_hold_max_ns);
    leave_at_ = std::min(m.now_ns + hold(random_), m.phases->drain_end);
  }
  return after_connect(m);
}

// Stable: settle (first membership only), wait for the phases, send, hold, leave.
// Churner: settle, hold until its leave time, leave.
Action ClientFsm::after_connect(Moment m) {
  if (identity_.churner || !registered_) {
    state_ = State::settling;
    deadline_ = m.now_ns + config_.settle_ns;
  } else {
    state_ = State::awaiting_phases;
  }
  return next(m);
}

// What the current state calls for: each state looks at the time and the connection
// again, so a wait cut short for any reason is simply followed by the right next step.
Action ClientFsm::next(Moment m) {
  std::uint64_t const now = m.now_ns;
  switch (state_) {
  case State::scheduled:
    if (now < identity_.connect_at_ns) return wait(identity_.connect_at_ns);
    return connect();
  case State::settling:
    if (open_ && now < deadline_) return wait(deadline_);
    if (open_) mark_ready();
    state_ = identity_.churner ? State::holding : State::awaiting_phases;
    return next(m);
  case State::awaiting_phases:
    if (m.phases == nullptr) {
      // Polling keeps the connect barrier simple; 10 ms is nothing next to a run.
      if (!identity_.churner && !open_) break;
      return wait(now + k_phase_poll_ns);
    }
    if (identity_.churner) {
      std::uniform_int_distribution<std::uint64_t> rest(0, k_churn_rest_max_ns);
      deadline_ = m.phases->warmup_begin + rest(random_);
      state_ = State::resting;
      return next(m);
    }
    return take_part(m);
  case State::sending:
    return config_.closed_loop ? send_closed_loop(m) : send_open_loop(m);
  case State::window_full: // only waited() leaves it
    break;
  case State::holding:
    return hold(m);
  case State::awaiting_acks:
    if (open_ && acked_ < written_ && now < deadline_) return wait(deadline_);
    if (!open_) break;
    state_ = State::dropping;
    ending_ = Ending::dropped;
    return act(Action::Kind::drop);
  case State::backing_off:
    if (now < deadline_) return wait(deadline_);
    if (!reconnect_due(m)) {
      state_ = State::done;
      return act(Action::Kind::done);
    }
    return connect();
  case State::resting:
    if (now < deadline_) return wait(deadline_);
    if (now < m.phases->measure_end) return connect();
    state_ = State::done;
    return act(Action::Kind::done);
  case State::done:
    return act(Action::Kind::done);
  case State::idle:
  case State::connecting:
  case State::closing:
  case State::dropping:
  case State::ending:
    break;
  }
  // The connection is over, or the drive has nothing more to do with it.
  state_ = State::ending;
  return act(Action::Kind::end_connection);
}

// The phases are out: a stable member plans its drop, then sends or holds.
Action ClientFsm::take_part(Moment m) {
  plan_drop(m);
  if (identity_.sender && open_ && m.now_ns < m.phases->measure_end) {
    state_ = State::sending;
    payload_.emplace(config_.payload, config_.size, config_.seed);
    write_failed_ = false;
    if (!config_.closed_loop && next_send_ == k_never) {
      // Spread all senders over one period so they do not fire in lockstep bursts.
      next_send_ = m.phases->warmup_begin + config_.send_period_ns * *identity_.sender /
                                                std::max<std::uint64_t>(1, config_.senders);
    }
  } else {
    state_ = State::holding;
  }
  return next(m);
}

// Sends on schedule until the measured window ends, the connection does, or its drop
// is due; the schedule carries over to the next connection (late: catch up at once).
Action ClientFsm::send_open_loop(Moment m) {
  Phases const& phases = *m.phases;
  if (write_failed_ || !open_ || next_send_ >= phases.measure_end) return hold(m);
  std::uint64_t const at = std::min(next_send_, drop_at_);
  if (at > m.now_ns) return wait(at);
  if (m.now_ns >= phases.measure_end || m.now_ns >= drop_at_) return hold(m);
  return write(m);
}

// Sends while fewer than --window messages are unseen by the watching member.
Action ClientFsm::send_closed_loop(Moment m) {
  Phases const& phases = *m.phases;
  if (open_ && m.now_ns < phases.warmup_begin) return wait(phases.warmup_begin);
  std::uint64_t const stop_at = std::min(phases.measure_end, drop_at_);
  if (write_failed_ || !open_ || m.now_ns >= stop_at) return hold(m);
  if (in_flight() >= config_.window) {
    send_window_.waiting.store(true);
    // Seen again after `waiting` is up, so a watcher that saw it in between wakes us.
    if (in_flight() >= config_.window) {
      seen_before_ = send_window_.seen_next.load();
      state_ = State::window_full;
      return wait(std::min(stop_at, m.now_ns + k_window_stall_ns));
    }
    send_window_.waiting.store(false);
  }
  return write(m);
}

std::uint64_t ClientFsm::in_flight() const noexcept {
  return claimed_ - std::min(claimed_, std::max(forgiven_, send_window_.seen_next.load()));
}

Action ClientFsm::write(Moment m) {
  auto const id = *identity_.sender;
  pending_seq_ = accounting_.claim(id);
  pending_send_ns_ = m.now_ns;
  Action action = act(Action::Kind::write);
  action.frame = payload_->make(Marker{id, pending_seq_, pending_send_ns_});
  return action;
}

Action ClientFsm::written(Moment m, std::optional<std::string_view> error) {
  auto const id = *identity_.sender;
  if (error) {
    if (open_) sink_.count(ErrorKind::write_error, *error);
    accounting_.withdrawn(id, pending_seq_);
    write_failed_ = true;
  } else {
    ++written_;
    accounting_.sent(id, pending_seq_, pending_send_ns_);
    sink_.count(ClientSink::Event::sent);
  }
  if (config_.closed_loop) {
    ++claimed_;
  } else {
    // Behind schedule (the socket pushed back): send at once until caught up.
    next_send_ += config_.send_period_ns;
  }
  return next(m);
}

Action ClientFsm::waited(Moment m, bool cut) {
  if (state_ == State::window_full) {
    send_window_.waiting.store(false);
    std::uint64_t const stop_at = std::min(m.phases->measure_end, drop_at_);
    if (!cut && open_ && send_window_.seen_next.load() == seen_before_ && m.now_ns < stop_at) {
      sink_.count(ErrorKind::window_stall, {});
      forgiven_ = claimed_;
    }
    state_ = State::sending;
  }
  return next(m);
}

// Until the drain ends (stable), its leave time (churner) or its drop time; then leaves.
Action ClientFsm::hold(Moment m) {
  if (state_ == State::sending) payload_.reset();
  state_ = State::holding;
  if (identity_.churner) {
    if (open_ && m.now_ns < leave_at_) return wait(leave_at_);
    accounting_.left(identity_.receiver);
  } else {
    std::uint64_t const until = std::min(m.phases->drain_end, drop_at_);
    if (open_ && m.now_ns < until) return wait(until);
    if (open_ && drop_at_ != k_never && m.now_ns >= drop_at_) {
      drop_at_ = k_never;
      // A v1 sender first waits (bounded) for the acks of what it wrote on this
      // connection: close() with unread input sends RST and throws away output not yet
      // sent, and a message this end threw away is not one the server lost.
      state_ = State::awaiting_acks;
      deadline_ = identity_.sender && v1_ ? m.now_ns + k_ack_wait_ns : m.now_ns;
      return next(m);
    }
  }
  if (!open_) {
    state_ = State::ending;
    return act(Action::Kind::end_connection);
  }
  state_ = State::closing;
  ending_ = Ending::closed;
  return act(Action::Kind::close);
}

Action ClientFsm::closed(Moment, bool timed_out) {
  // Any other failure means the server went first; the reader has counted it.
  if (timed_out) sink_.count(ErrorKind::close_timeout, {});
  state_ = State::ending;
  return act(Action::Kind::end_connection);
}

Action ClientFsm::dropped(Moment) {
  state_ = State::ending;
  return act(Action::Kind::end_connection);
}

Action ClientFsm::ended(Moment m) {
  if (identity_.churner) return churn_rest(m);
  bool const lasting = ending_ == Ending::dropped || m.now_ns - began_ >= k_lasting_connection_ns;
  return after_connection(m, lasting);
}

// A stable member's connection attempt is over (after the first): back after a
// backoff that grows while attempts keep failing, unless the run is ending.
Action ClientFsm::after_connection(Moment m, bool lasting) {
  failures_ = lasting ? 0 : failures_ + 1;
  if (failures_ >= k_reconnect_attempts || !reconnect_due(m)) {
    state_ = State::done;
    return act(Action::Kind::done);
  }
  // First attempt at once but for a jitter (a server restart must not see every client
  // in the same millisecond); then 100 ms, 200 ms, ... up to 1.6 s.
  std::uint64_t const base =
      failures_ == 0 ? 0 : k_backoff_ns << std::min<std::uint32_t>(failures_ - 1, 4);
  std::uniform_int_distribution<std::uint64_t> jitter(0, k_backoff_jitter_ns);
  deadline_ = m.now_ns + base + jitter(random_);
  state_ = State::backing_off;
  return next(m);
}

Action ClientFsm::churn_rest(Moment m) {
  std::uniform_int_distribution<std::uint64_t> rest(0, k_churn_rest_max_ns);
  deadline_ = m.now_ns + rest(random_);
  state_ = State::resting;
  return next(m);
}

// After a connection ended that we did not close at the end of the run.
bool ClientFsm::reconnect_due(Moment m) const {
  if (ending_ == Ending::closed) return false;
  return m.phases == nullptr || m.now_ns < m.phases->drain_end;
}

void ClientFsm::mark_ready() {
  if (ready_) return;
  ready_ = true;
  // A stable member's reconnect carries its membership on: what it missed is either
  // replayed (?since=) or lost, so the accounting must not start over.
  if (registered_ && !identity_.churner) return;
  registered_ = true;
  accounting_.ready(identity_.receiver);
}

// --drop-every: a random moment in the next interval (of the measured window) that
// has not had its drop, or k_never.
void ClientFsm::plan_drop(Moment m) {
  drop_at_ = k_never;
  if (config_.drop_every_ns == 0 || identity_.churner) return;
  Phases const& phases = *m.phases;
  std::uint64_t const every = config_.drop_every_ns;
  std::uint64_t k = next_drop_interval_;
  if (m.now_ns > phases.measure_begin) k = std::max(k, (m.now_ns - phases.measure_begin) / every);
  std::uint64_t const begin = std::max(m.now_ns, phases.measure_begin + k * every);
  std::uint64_t const end = phases.measure_begin + (k + 1) * every;
  next_drop_interval_ = k + 1;
  if (begin >= end) return;
  std::uniform_int_distribution<std::uint64_t> at(begin, end - 1);
  std::uint64_t const when = at(random_);
  if (when < phases.measure_end) drop_at_ = when;
}

bool ClientFsm::frame(Moment m, std::string_view text) {
  auto const kind = kind_of(text);
  std::optional<std::uint64_t> id;
  if (kind == FrameKind::message) {
    id = uint_field(text, "id");
    if (id && (!last_id_ || *id > *last_id_)) last_id_ = id;
  }
  if (!greeted_) {
    greeted_ = true;
    // Protocol v1 servers register a member before they greet it; others never greet.
    if (kind == FrameKind::welcome) {
      v1_ = true;
      auto const passed = uint_field(text, "last_id");
      if (resumed_) {
        // The replay (ids after since, up to last_id) follows; then live messages.
        replay_until_ = passed.value_or(0);
      } else if (passed && (!last_id_ || *passed > *last_id_)) {
        // Messages up to last_id came before this member joined: not owed, not wanted.
        last_id_ = passed;
      }
      mark_ready();
    }
  }
  if (kind == FrameKind::error) sink_.count(ErrorKind::server_error_frame, {});
  bool cut = false;
  if (kind == FrameKind::ack) {
    ++acked_;
    cut = state_ == State::awaiting_acks && acked_ >= written_;
  }
  if (text.find(k_marker_prefix) == std::string_view::npos) return cut;
  if (m.phases == nullptr) return cut; // cannot be ours yet: nothing was sent
  // A replay holds every message after since, this member's own ones included.
  bool const replayed = id && *id <= replay_until_;
  MarkerScanner scanner(text);
  while (auto marker = scanner.next()) {
    switch (accounting_.arrived(identity_.receiver, *marker)) {
    case Arrival::counted:
      sink_.latency(m.now_ns > marker->send_ns ? m.now_ns - marker->send_ns : 0);
      [[fallthrough]];
    case Arrival::unmeasured:
      sink_.count(ClientSink::Event::delivered);
      notify_sender(*marker);
      break;
    case Arrival::duplicate: // counted by the accounting, reported apart
      break;
    case Arrival::foreign:
      sink_.count(ErrorKind::foreign_marker, {});
      break;
    case Arrival::unexpected_self:
      if (!replayed) sink_.count(ErrorKind::unexpected_self, {});
      break;
    }
  }
  for (std::size_t i = 0; i < scanner.malformed(); ++i)
    sink_.count(ErrorKind::malformed_marker, {});
  return cut;
}

void ClientFsm::notify_sender(Marker const& marker) {
  if (watched_.empty()) return;
  ClientFsm* const target = watched_[marker.sender % accounting_.senders_per_group()];
  if (target == nullptr) return;
  auto& window = target->send_window_;
  if (marker.seq + 1 > window.seen_next.load(std::memory_order_relaxed)) {
    window.seen_next.store(marker.seq + 1);
  }
  if (window.waiting.exchange(false)) sink_.wake(target->identity_.index);
}

void ClientFsm::read_ended(ErrorKind kind, std::string_view detail) {
  if (ending_ == Ending::none) sink_.count(kind, detail);
  open_ = false;
  sink_.count(ClientSink::Event::disconnected);
}

} // namespace huddle::load
