#include "broker/redis/connection.hpp"

#include "core/log.hpp"
#include "core/use_tuple.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace huddle::broker::redis {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Reconnection backoff: the first retry after 100 ms, doubling up to 5 s. A connection that
// lasted k_backoff_max resets it, so a server that drops a healthy connection now and then
// gets a quick reconnect, while one that drops every connection at once is not hammered.
constexpr std::chrono::milliseconds k_backoff_min{100};
constexpr std::chrono::milliseconds k_backoff_max{5'000};
// Bytes read per read. hiredis copies what it is fed, so this only bounds one read.
constexpr std::size_t k_read_size = 16 * 1024;
// A write buffer that grew past this for a burst is released after it, not kept for good.
constexpr std::size_t k_write_buffer_kept = 64 * 1024;
// Sent after a (P|S)UNSUBSCRIBE that names no channel: its pong ends that command's replies.
constexpr std::string_view k_ping = "*1\r\n$4\r\nPING\r\n";

// A call whose caller resumes through `Handler` (an awaitable's): completion is posted to the
// handler's executor, never run inline on the connection's strand, so the caller's next
// command cannot re-enter the strand's code midway. No work guard: co_spawn already keeps the
// caller's executor busy for as long as its coroutine lives.
template <typename Handler> class CallFor final : public detail::PendingCall {
public:
  explicit CallFor(Handler handler) : handler_(std::move(handler)) {}

  void complete(error_code ec) override {
    if (ec) replies.clear();
    asio::post(asio::append(std::move(handler_), ec, std::move(replies)));
  }

private:
  Handler handler_;
};

// The connection's own PING (watch_deadlines()): its reply only proves the server is there.
struct HealthCheck final : detail::PendingCall {
  void complete(error_code) override {}
};

void finish(std::unique_ptr<detail::PendingCall> call, error_code ec) {
  call->complete(ec);
}

std::string describe(const Endpoint& endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  std::string where =
      (ipv6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
  if (endpoint.db != 0) where += "/" + std::to_string(endpoint.db);
  return where;
}

std::string millis(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

std::string describe_read_error(const error_code& ec) {
  return ec == asio::error::eof ? "the server closed the connection" : ec.message();
}

} // namespace

std::shared_ptr<Connection> Connection::create(asio::any_io_executor executor,
                                               ConnectionConfig config) {
  if (config.connect_timeout <= std::chrono::milliseconds::zero() ||
      config.command_timeout <= std::chrono::milliseconds::zero())
    throw std::invalid_argument("redis: connect and command timeouts must be above zero");
  if (config.health_check_interval < std::chrono::milliseconds::zero())
    throw std::invalid_argument("redis: the health check interval must not be negative");
  // Redis refuses names with spaces or control characters (CLIENT SETNAME): every handshake
  // would fail, so say so now.
  if (!std::all_of(config.client_name.begin(), config.client_name.end(),
                   [](char c) { return c >= '!' && c <= '~'; }))
    throw std::invalid_argument("redis: the client name \"" + config.client_name +
                                "\" has a space or a character outside printable ASCII");
  if (config.endpoint.host.empty()) throw std::invalid_argument("redis: no host to connect to");
  return std::shared_ptr<Connection>(new Connection(std::move(executor), std::move(config)));
}

Connection::Connection(asio::any_io_executor executor, ConnectionConfig config)
    : config_(std::move(config)), logger_(core::log::or_default(config_.logger)),
      where_(describe(config_.endpoint)), strand_(asio::make_strand(std::move(executor))),
      resolver_(strand_), socket_(strand_), connect_timer_(strand_), backoff_timer_(strand_),
      write_signal_(strand_), deadline_timer_(strand_), read_buffer_(k_read_size) {}

Connection::~Connection() = default;

void Connection::on_push(std::function<void(std::string_view, std::string_view)> handler) {
  push_handler_ = std::move(handler);
}
void Connection::on_connect(std::function<asio::awaitable<void>()> hook) {
  connect_hook_ = std::move(hook);
}
void Connection::on_disconnect(std::function<void()> hook) {
  disconnect_hook_ = std::move(hook);
}

asio::awaitable<void> Connection::run() {
  if (started_.exchange(true)) throw std::logic_error("redis: Connection::run() called twice");
  auto self = shared_from_this(); // the connection outlives its own coroutines
  // Cancelling run() (as the loser of an `||` is) stops the connection as stop() does. The
  // cancellation itself does not reach supervise(), which must fail what is pending on its way out.
  auto slot = (co_await asio::this_coro::cancellation_state).slot();
  if (slot.is_connected()) slot.assign([self](asio::cancellation_type) { self->stop(); });
  co_await asio::co_spawn(
      strand_, supervise(),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

void Connection::stop() {
  if (stopped_.exchange(true)) return;
  asio::post(strand_, [self = shared_from_this()] { self->interrupt(); });
}

// On the strand: ends whatever the connection waits for, so supervise() sees stopped_.
void Connection::interrupt() {
  error_code ignored;
  switch (state_) {
  case State::connecting:
    resolver_.cancel();
    socket_.close(ignored);
    break;
  case State::hooking:
  case State::ready:
    break_connection(error::stopped, "stopped");
    break;
  case State::down:
    backoff_timer_.cancel();
    break;
  case State::idle: // run() checks stopped_ when it starts
    break;
  }
}

asio::awaitable<std::tuple<error_code, Reply>> Connection::execute(Command command) {
  std::vector<Command> commands;
  commands.push_back(std::move(command));
  auto [ec, replies] = co_await execute_all(std::move(commands));
  if (ec) co_return std::tuple{ec, Reply{}};
  co_return std::tuple{ec, std::move(replies.front())};
}

asio::awaitable<std::tuple<error_code, std::vector<Reply>>>
Connection::execute_all(std::vector<Command> commands) {
  return asio::async_initiate<decltype(use_tuple), void(error_code, std::vector<Reply>)>(
      [self = shared_from_this()](auto handler, std::vector<Command> commands) {
        std::unique_ptr<detail::PendingCall> call =
            std::make_unique<CallFor<decltype(handler)>>(std::move(handler));
        auto* connection = self.get();
        asio::dispatch(connection->strand_, [self = std::move(self), call = std::move(call),
                                             commands = std::move(commands)]() mutable {
          self->submit(std::move(call), std::move(commands));
        });
      },
      use_tuple, std::move(commands));
}

// On the strand: a new call, sent now, held for the end of the handshake, or failed.
void Connection::submit(std::unique_ptr<detail::PendingCall> call, std::vector<Command> commands) {
  if (commands.empty()) return finish(std::move(call), {});
  if (stopped_.load()) return finish(std::move(call), error::stopped);
  switch (state_) {
  case State::idle:
  case State::down:
    return finish(std::move(call), error::not_connected);
  case State::connecting:
    held_.push_back(Held{std::move(call), std::move(commands)});
    return;
  case State::hooking:
  case State::ready:
    return enqueue(std::move(call), commands);
  }
}

// On the strand, connection live: encodes the call's commands behind those queued and wakes
// the writer (and the deadline watch, when nothing was pending).
void Connection::enqueue(std::unique_ptr<detail::PendingCall> call,
                         const std::vector<Command>& commands) {
  const auto deadline = Clock::now() + config_.command_timeout;
  const bool nothing_pending = entries_.empty();
  detail::PendingCall* const raw = call.get();
  raw->replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    append_command(queued_, commands[i]);
    const std::uint32_t replies = config_.subscriber ? subscriber_replies(commands[i]) : 1;
    if (replies == k_until_pong) queued_.append(k_ping);
    entries_.push_back(Entry{raw, nullptr, replies, deadline, {}});
  }
  entries_.back().owner = std::move(call);
  if (nothing_pending) deadline_timer_.cancel();
  write_signal_.cancel();
}

// On the strand: one reply from the server. False when no command was waiting for it.
bool Connection::take_reply(Reply reply) {
  if (config_.subscriber) {
    if (const auto publication = as_publication(reply)) {
      if (push_handler_) push_handler_(publication->channel, publication->payload);
      return true;
    }
  }
  if (entries_.empty()) return false;
  Entry& entry = entries_.front();
  if (entry.replies_left == k_until_pong) {
    if (!is_pong(reply)) {
      entry.reply = std::move(reply);
      return true;
    }
  } else {
    // Redis refuses a whole (un)subscribe with one error, not one per channel.
    const bool refused = reply.is_error();
    entry.reply = std::move(reply);
    if (!refused && --entry.replies_left > 0) return true;
  }
  entry.call->replies.push_back(std::move(entry.reply));
  auto owner = std::move(entry.owner);
  entries_.pop_front();
  if (owner) finish(std::move(owner), {});
  return true;
}

// On the strand: ends a live connection (idempotent). The oldest call fails with `cause`
// (the command that timed out, or whose reply was not RESP), the others with
// connection_lost; all with stopped when stopping. Closing the socket ends read_replies(),
// which ends the session.
void Connection::break_connection(error cause, std::string reason) {
  if (!live()) return;
  state_ = State::down;
  connected_.store(false, std::memory_order_release);
  break_reason_ = std::move(reason);
  error_code ignored;
  socket_.close(ignored);
  queued_.clear();
  bool oldest = true;
  for (auto& entry : entries_) {
    if (!entry.owner) continue;
    const error code = cause == error::stopped || oldest ? cause : error::connection_lost;
    finish(std::move(entry.owner), code);
    oldest = false;
  }
  entries_.clear();
  fail_held(cause == error::stopped ? error::stopped : error::not_connected);
}

void Connection::fail_held(error cause) {
  auto held = std::move(held_);
  held_.clear();
  for (auto& call : held)
    finish(std::move(call.call), cause);
}

asio::awaitable<void> Connection::supervise() {
  using namespace asio::experimental::awaitable_operators;
  auto backoff = k_backoff_min;
  int failures = 0; // attempts failed in a row
  while (!stopped_.load()) {
    const Attempt attempt = co_await connect();
    if (attempt.ok) {
      failures = 0;
      state_ = State::hooking;
      connected_.store(true, std::memory_order_release);
      HUDDLE_LOG(*logger_, info, "redis.connected",
                 {{"redis", where_}, {"subscriber", config_.subscriber}});
      const auto since = Clock::now();
      last_read_ = since;
      co_await (read_replies() || write_commands() || watch_deadlines() || after_connect());
      break_connection(error::connection_lost, "session ended"); // a branch did already
      if (stopped_.load())
        HUDDLE_LOG(*logger_, info, "redis.closed",
                   {{"redis", where_}, {"subscriber", config_.subscriber}});
      else
        HUDDLE_LOG(
            *logger_, info, "redis.lost",
            {{"redis", where_}, {"subscriber", config_.subscriber}, {"reason", break_reason_}});
      if (disconnect_hook_) disconnect_hook_();
      if (Clock::now() - since >= k_backoff_max) backoff = k_backoff_min;
    } else {
      state_ = State::down;
      error_code ignored;
      socket_.close(ignored);
      fail_held(stopped_.load() ? error::stopped : error::not_connected);
      if (stopped_.load()) break;
      const LogLevel level = attempt.refused ? LogLevel::error
                             : failures == 0 ? LogLevel::warning
                                             : LogLevel::debug;
      if (logger_->enabled(level))
        core::log::write(*logger_, level, "redis.connect_failed",
                         {{"redis", where_},
                          {"subscriber", config_.subscriber},
                          {"reason", attempt.why},
                          {"retry_ms", backoff.count()}});
      ++failures;
    }
    if (stopped_.load()) break;
    HUDDLE_LOG(
        *logger_, debug, "redis.reconnecting",
        {{"redis", where_}, {"subscriber", config_.subscriber}, {"delay_ms", backoff.count()}});
    backoff_timer_.expires_after(backoff);
    co_await backoff_timer_.async_wait(use_tuple);
    backoff = std::min(backoff * 2, k_backoff_max);
  }
  state_ = State::down;
}

// One attempt: the handshake under connect_timeout. The timer closes the socket (and cancels
// a resolve) rather than racing the handshake, so whatever step it is in ends with an error.
asio::awaitable<Connection::Attempt> Connection::connect() {
  state_ = State::connecting;
  const auto attempt = ++attempt_;
  connect_timed_out_ = false;
  connect_timer_.expires_after(config_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this(), attempt](error_code ec) {
    if (ec || self->state_ != State::connecting || self->attempt_ != attempt) return;
    self->connect_timed_out_ = true;
    error_code ignored;
    self->resolver_.cancel();
    self->socket_.close(ignored);
  });
  Attempt result = co_await handshake();
  connect_timer_.cancel();
  if (!result.ok && connect_timed_out_)
    result = Attempt{false, false, "no answer within " + millis(config_.connect_timeout)};
  co_return result;
}

asio::awaitable<Connection::Attempt> Connection::handshake() {
  const auto failed = [](std::string why) { return Attempt{false, false, std::move(why)}; };
  const auto& endpoint = config_.endpoint;
  auto [resolve_error, endpoints] =
      co_await resolver_.async_resolve(endpoint.host, std::to_string(endpoint.port), use_tuple);
  if (resolve_error) co_return failed("cannot resolve the host: " + resolve_error.message());
  if (stopped_.load()) co_return failed("stopped");

  socket_ = asio::ip::tcp::socket(strand_);
  auto [connect_error, peer] = co_await asio::async_connect(socket_, endpoints, use_tuple);
  if (connect_error) co_return failed(connect_error.message());
  error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  reader_ = ReplyReader();

  // The steps go out in one write; the first refusal names the step (never the password).
  std::vector<std::string_view> steps;
  std::string wire;
  if (!config_.password.empty()) {
    append_command(wire, config_.user.empty() ? Command{"AUTH", config_.password}
                                              : Command{"AUTH", config_.user, config_.password});
    steps.push_back("AUTH");
  }
  if (endpoint.db != 0) {
    append_command(wire, {"SELECT", std::to_string(endpoint.db)});
    steps.push_back("SELECT");
  }
  if (!config_.client_name.empty()) {
    append_command(wire, {"CLIENT", "SETNAME", config_.client_name});
    steps.push_back("CLIENT SETNAME");
  }
  // Last, so a server that wants a password nobody gave says so (NOAUTH) here.
  append_command(wire, {"PING"});
  steps.push_back("PING");

  auto [write_error, written] = co_await asio::async_write(socket_, asio::buffer(wire), use_tuple);
  if (write_error) co_return failed(write_error.message());
  std::size_t answered = 0;
  while (answered < steps.size()) {
    if (auto reply = reader_.next()) {
      if (reply->is_error())
        co_return Attempt{false, true,
                          "Redis refused " + std::string(steps[answered]) + ": " + reply->text};
      ++answered;
      continue;
    }
    if (reader_.failed()) co_return failed("not a Redis server? " + reader_.error());
    auto [read_error, read] =
        co_await socket_.async_read_some(asio::buffer(read_buffer_), use_tuple);
    if (read_error) co_return failed(describe_read_error(read_error));
    reader_.feed({read_buffer_.data(), read});
  }
  if (stopped_.load()) co_return failed("stopped");
  co_return Attempt{true, false, {}};
}

// The session's four coroutines each run until the connection breaks. Whichever notices it
// first calls break_connection(), which closes the socket and so ends read_replies(); the
// `||` in supervise() then cancels the others, which find the connection down and return.

asio::awaitable<void> Connection::read_replies() {
  try {
    for (;;) {
      auto [ec, read] = co_await socket_.async_read_some(asio::buffer(read_buffer_), use_tuple);
      if (!live()) co_return;
      if (ec) {
        break_connection(error::connection_lost, describe_read_error(ec));
        co_return;
      }
      last_read_ = Clock::now();
      reader_.feed({read_buffer_.data(), read});
      while (auto reply = reader_.next()) {
        if (!take_reply(std::move(*reply))) {
          break_connection(error::protocol_error, "a reply to no command");
          co_return;
        }
      }
      if (reader_.failed()) {
        break_connection(error::protocol_error, "not RESP: " + reader_.error());
        co_return;
      }
    }
  } catch (const std::exception& e) {
    // The push handler threw, or memory ran out: the replies after this one are lost.
    break_connection(error::connection_lost, std::string("reading replies failed: ") + e.what());
  }
}

asio::awaitable<void> Connection::write_commands() {
  try {
    for (;;) {
      while (queued_.empty()) {
        write_signal_.expires_at(Clock::time_point::max());
        co_await write_signal_.async_wait(use_tuple);
        if (!live()) co_return;
      }
      std::swap(writing_, queued_);
      auto [ec, written] = co_await asio::async_write(socket_, asio::buffer(writing_), use_tuple);
      if (writing_.capacity() > k_write_buffer_kept)
        std::string().swap(writing_);
      else
        writing_.clear();
      if (!live()) co_return;
      if (ec) {
        break_connection(error::connection_lost, "write failed: " + ec.message());
        co_return;
      }
    }
  } catch (const std::exception& e) {
    break_connection(error::connection_lost, std::string("writing failed: ") + e.what());
  }
}

// One timer for every pending command: it waits for the oldest one's deadline. When that
// command is answered first, the timer wakes for nothing and waits for the next oldest. With
// nothing pending, it waits for the next health check: a PING after health_check_interval
// without a byte from the server, so that a server or network that went silent (no FIN, no
// RST) is noticed by command_timeout even on a subscriber connection that only listens.
asio::awaitable<void> Connection::watch_deadlines() {
  const auto interval = config_.health_check_interval;
  for (;;) {
    if (!live()) co_return;
    const auto now = Clock::now();
    if (!entries_.empty() && entries_.front().deadline <= now) {
      break_connection(error::timeout,
                       "no reply within " + millis(config_.command_timeout) + " (command_timeout)");
      co_return;
    }
    if (entries_.empty() && interval > interval.zero() && now >= last_read_ + interval) {
      enqueue(std::make_unique<HealthCheck>(), std::vector<Command>{Command{"PING"}});
      continue;
    }
    deadline_timer_.expires_at(!entries_.empty()            ? entries_.front().deadline
                               : interval > interval.zero() ? last_read_ + interval
                                                            : Clock::time_point::max());
    co_await deadline_timer_.async_wait(use_tuple);
  }
}

asio::awaitable<void> Connection::after_connect() {
  if (connect_hook_) {
    try {
      co_await connect_hook_();
    } catch (const std::exception& e) {
      if (live()) {
        HUDDLE_LOG(*logger_, error, "redis.on_connect_failed",
                   {{"redis", where_}, {"subscriber", config_.subscriber}, {"error", e.what()}});
        break_connection(error::connection_lost, std::string("on_connect failed: ") + e.what());
      }
      co_return;
    }
  }
  if (!live()) co_return;
  state_ = State::ready;
  auto held = std::move(held_);
  held_.clear();
  for (auto& call : held)
    enqueue(std::move(call.call), call.commands);
  // Done; the other coroutines' `||` cancels this wait when the connection breaks.
  asio::steady_timer forever(co_await asio::this_coro::executor, Clock::time_point::max());
  co_await forever.async_wait(use_tuple);
}

} // namespace huddle::broker::redis
