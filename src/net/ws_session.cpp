#include "net/ws_session.hpp"
#include "core/use_tuple.hpp"

#include "core/protocol.hpp"
#include "net/frame_header.hpp"
#include "net/server_state.hpp"
#include "net/session_stream.hpp"
#include "net/write_coalescing.hpp"

#include <huddle/chat_manager.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/log/trivial.hpp>

#include <algorithm>
#include <span>

namespace huddle::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;

namespace {

// The answer to a frame over ServerConfig::message_rate, which was not handled.
std::string rate_limited(const std::optional<std::string>& ref,
                         std::chrono::milliseconds retry_after) {
  return protocol::encode_error("rate_limited",
                                "too many messages (--message-rate): this one was not sent", ref,
                                retry_after.count());
}

} // namespace

// How often the writer lets its thread run other handlers before it takes its queue. Each
// yield lets the io_context poll its sockets once more, so readers broadcast what has
// arrived meanwhile into this queue and one write carries more frames: fewer syscalls and
// TCP segments per delivery (on loopback the receiver's side of each segment is charged to
// the sender too). In the fanout benchmark 0 yields gave 3.2 frames per sendmsg and 2
// yields 4.7, and 619k -> 740-815k deliveries per server-CPU-second; 3 or 4 measured as 2.
// Only while batches carry more than one frame: under light load (rooms) there is nothing
// to gather, and each yield would cost an epoll_wait(0) of the io_context.
constexpr int k_writer_yields = 2;

// Messages per replay page (and at most a quarter of --send-queue-bytes of them).
constexpr std::size_t k_replay_page_messages = 256;

WsSession::WsSession(beast::tcp_stream stream, std::shared_ptr<ServerState> state, WsTarget target,
                     std::string user, SessionAccess access)
    : ws_(std::move(stream)), state_(std::move(state)), target_(std::move(target)),
      user_(std::move(user)), access_(std::move(access)),
      queue_(state_->config().send_queue_bytes,
             WriteCoalescing::held_bytes(state_->config().send_queue_bytes)),
      wake_(ws_.get_executor(), 1), watchdog_timer_(ws_.get_executor()),
      hold_timer_(ws_.get_executor()),
      rate_limiter_({state_->config().message_rate, state_->config().message_burst,
                     state_->config().rate_limit_close_after},
                    Clock::now()) {
  if (access_.expires_at) // the watchdog's timers count on the steady clock
    token_expires_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           *access_.expires_at - std::chrono::system_clock::now());
}

WsSession::~WsSession() = default;

asio::awaitable<void> WsSession::run(Request request) {
  const ServerConfig& config = state_->config();
  beast::get_lowest_layer(ws_).expires_never(); // the websocket timeouts take over
  // Pings and idling are the watchdog's; a control frame counts as hearing from the peer.
  configure_session_stream(ws_, config, [this](websocket::frame_type kind) {
    last_heard_ = Clock::now();
    // Beast answers a close code it knows to be invalid with 1002, but echoes 5000 and
    // above; it calls this before it writes its reply (RFC 6455 §7.4, net/frame_header.hpp).
    const std::uint16_t code = ws_.reason().code; // none (0): a close frame without a code
    if (kind == websocket::frame_type::close && code != websocket::close_code::none &&
        !is_valid_close_code(code))
      ws_.next_layer().replace_next_close(websocket::close_code::protocol_error);
  });
  {
    // write_frames() writes on the socket directly and must get would_block, not a wait.
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().non_blocking(true, ignored);
  }
  // Data frames bypass Beast's write path (writer()); Beast only writes control frames.

  {
    // A coroutine keeps its parameters for its whole life: the upgrade request's headers
    // are moved out here so they are freed once answered (docs/benchmarks.md, "Idle memory").
    const Request upgrade = std::move(request);
    auto [accept_error] = co_await ws_.async_accept(upgrade, use_tuple);
    if (accept_error) {
      BOOST_LOG_TRIVIAL(debug) << "upgrade failed group=" << target_.group << ": "
                               << accept_error.message();
      co_return;
    }
  }
  if (!state_->add(*this)) { // stop() came first
    const websocket::close_reason going_away(websocket::close_code::going_away, "server shutdown");
    co_await ws_.async_close(going_away, use_tuple);
    co_return;
  }

  auto self = shared_from_this();
  last_heard_ = last_ping_ = Clock::now();
  std::string_view join_failure;
  try {
    join_ = co_await state_->broker().join(target_.group, self);
  } catch (const broker::Unavailable& e) { // Redis is away (the broker logged it)
    BOOST_LOG_TRIVIAL(info) << "join failed group=" << target_.group << ": " << e.what();
    join_failure = "broker unavailable";
  } catch (const std::exception& e) { // the history could not say where the group's ids are
    BOOST_LOG_TRIVIAL(error) << "join failed group=" << target_.group << ": " << e.what();
    join_failure = "history unavailable";
  }
  if (!join_failure.empty()) {
    state_->remove(*this);
    const websocket::close_reason failed(websocket::close_code::internal_error, join_failure);
    co_await ws_.async_close(failed, use_tuple);
    co_return;
  }
  // The member list is only needed again to re-encode the welcome for a replay; kept for
  // every connection it cost about 32 B per member of the group (docs/benchmarks.md).
  if (!target_.since || !join_.added) std::vector<std::string>().swap(join_.members);
  asio::co_spawn(ws_.get_executor(), writer(), asio::detached);
  arm_watchdog();

  co_await reader();

  finish();
  if (join_.added) co_await state_->broker().leave(target_.group, self);
  state_->remove(*this);
}

asio::awaitable<void> WsSession::reader() {
  broker::Broker& broker = state_->broker();
  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, bytes] = co_await async_read_message(ws_, buffer, use_tuple);
    if (ec) {
      // closed: the peer's close frame (Beast answered it). message_too_big and bad UTF-8
      // were already answered by Beast with 1009 and 1007.
      BOOST_LOG_TRIVIAL(debug) << "read ended group=" << target_.group << " user=" << user_ << ": "
                               << ec.message();
      co_return;
    }
    last_heard_ = Clock::now();
    const auto rate = rate_limiter_.on_message(last_heard_);
    using Verdict = core::MessageRateLimiter::Verdict;
    if (rate.verdict == Verdict::close) {
      BOOST_LOG_TRIVIAL(info) << "rate limit group=" << target_.group << " user=" << user_;
      close(websocket::close_code::policy_error, "rate limit");
    } else if (rate.verdict == Verdict::dropped) {
      // Closing for the rate limit: nothing more from this client is handled.
    } else { // `payload` lives until buffer.consume()
      const std::string_view payload(static_cast<const char*>(buffer.data().data()), bytes);
      auto parsed = parse_message(ws_.got_text(), payload);
      if (rate.verdict == Verdict::refused) {
        const auto* message = std::get_if<protocol::ClientMessage>(&parsed);
        offer(make_frame(rate_limited(message ? message->ref : std::nullopt, rate.retry_after)));
      } else if (auto* error = std::get_if<protocol::FrameError>(&parsed)) {
        offer(make_frame(protocol::encode_error(error->code, error->detail)));
      } else {
        auto& message = std::get<protocol::ClientMessage>(parsed);
        // A named draft, not a temporary inside the co_await: g++ 12 destroys such
        // temporaries twice (GCC bug 100611 and relatives).
        MessageDraft draft{user_, std::move(message.text), now_ms()};
        // The ack promises the message is stored (--durability, or Redis took it): the
        // broker calls this from its own thread; the session is kept alive until then.
        broker::Broker::OnStored ack = [self = shared_from_this(),
                                        ref = message.ref](MessageId id) {
          self->offer(make_frame(protocol::encode_ack(ref, id)));
        };
        const broker::PublishError refused = co_await broker.publish(
            target_.group, std::move(draft), shared_from_this(), target_.echo, std::move(ack));
        if (refused == broker::PublishError::history_unavailable)
          offer(make_frame(protocol::encode_error(
              "history_unavailable", "the history cannot store messages now; send it again later",
              message.ref)));
        else if (refused == broker::PublishError::broker_unavailable)
          offer(make_frame(protocol::encode_error(
              "broker_unavailable", "the message broker cannot be reached; send it again later",
              message.ref)));
      }
    }
    buffer.consume(bytes);
    // Give back the memory of one unusually large message instead of keeping it per connection.
    if (buffer.capacity() > 16 * 1024) buffer.shrink_to_fit();
  }
}

asio::awaitable<void> WsSession::writer() {
  auto self = shared_from_this();
  std::vector<Frame> batch;
  bool replay_due = target_.since.has_value() && join_.added;
  const auto executor = ws_.get_executor();
  bool gathering = false; // the last batch had more than one frame
  WriteCoalescing coalescing(state_->config().write_coalesce, Clock::now());
  for (;;) {
    auto now = Clock::now();
    // A closing session, or a queue past WriteCoalescing::held_bytes(), is written at once.
    if (coalescing.hold_until() > now && !queue_.urgent()) {
      hold_timer_.expires_at(coalescing.hold_until());
      // Cut short by close(), finish(), and offer() when the queue passes held_bytes().
      co_await hold_timer_.async_wait(use_tuple);
      now = Clock::now();
    } else {
      for (int i = 0; gathering && i < k_writer_yields; ++i)
        co_await asio::post(executor, asio::use_awaitable);
    }
    const core::SendQueue::State state = queue_.take(batch);
    if (!batch.empty() && !state.overflowed) { // overflowed: the peer is being closed
      coalescing.took(batch.size(), now);
      std::size_t first = 0;
      if (replay_due) {
        // batch[0] is the welcome (connect() offered it first); replay() writes it anew.
        replay_due = false;
        if (!co_await replay()) {
          finish();
          co_return;
        }
        first = 1;
      }
      if (!co_await write_frames(batch, first)) {
        finish();
        co_return;
      }
      std::size_t bytes = 0;
      for (const Frame& frame : batch)
        bytes += frame->size();
      queue_.written(bytes);
      gathering = batch.size() > 1;
      continue; // look again before sleeping: more may have come
    }

    if (state.closed) break;
    if (ping_due_.exchange(false)) {
      auto [ec] = co_await ws_.async_ping({}, use_tuple);
      if (ec) {
        finish();
        co_return;
      }
      continue;
    }
    auto [ec] = co_await wake_.async_receive(use_tuple);
    if (ec) co_return; // the channel was closed by finish()
  }

  std::optional<websocket::close_reason> reason;
  {
    std::lock_guard lock(close_mutex_);
    reason = close_reason_;
  }
  if (reason && !finished_) {
    auto [ec] = co_await ws_.async_close(*reason, use_tuple);
    BOOST_LOG_TRIVIAL(debug) << "closed group=" << target_.group << " user=" << user_
                             << " code=" << reason->code << " (" << reason->reason << ")"
                             << (ec ? ": " + ec.message() : std::string());
  }
}

asio::awaitable<bool> WsSession::write_frames(const std::vector<Frame>& frames, std::size_t first) {
  // One write for all of them: each frame's header and its shared payload side by side,
  // so a broadcast's bytes are never copied per recipient (docs/benchmarks.md).
  headers_.clear();
  buffers_.clear();
  for (std::size_t i = first; i < frames.size(); ++i)
    headers_.push_back(text_frame_header(frames[i]->size()));
  for (std::size_t i = first; i < frames.size(); ++i) {
    const FrameHeader& header = headers_[i - first];
    buffers_.emplace_back(header.bytes.data(), header.size);
    buffers_.emplace_back(frames[i]->data(), frames[i]->size());
  }
  // Most batches fit in the socket's send buffer: written at once with a non-blocking
  // sendmsg, with no composed operation, no allocation and no completion handler to run.
  // Only what the socket refuses waits in an async_write. Fanout A/B against Beast's
  // composed write: 649k -> 779k deliveries per server-CPU-second.
  SerialWriteStream& stream = ws_.next_layer();
  if (stream.try_lock_write()) {
    auto& socket = beast::get_lowest_layer(ws_).socket();
    error_code ec;
    beast::buffers_suffix<std::span<const asio::const_buffer>> rest(buffers_);
    for (std::size_t left = asio::buffer_size(buffers_); left > 0;) {
      const std::size_t written = socket.write_some(rest, ec);
      if (ec) break;
      rest.consume(written);
      left -= written;
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      auto [write_error, written] = co_await asio::async_write(socket, rest, use_tuple);
      ec = write_error;
    }
    stream.unlock_write();
    co_return !ec;
  }
  // Beast is writing a control frame: wait for the lock.
  auto [ec, written] = co_await stream.async_write_locked(buffers_, use_tuple);
  co_return !ec;
}

asio::awaitable<bool> WsSession::replay() {
  // Everything up to join_.last_id was appended to the store before the welcome was
  // offered, and everything after it is in our queue behind the welcome: replaying the
  // store (pending messages included) up to last_id leaves no gap and no duplicate.
  const ServerConfig& config = state_->config();
  const MessageId since = *target_.since;
  const MessageId last_id = join_.last_id;
  const std::string epoch = state_->broker().epoch();
  const auto welcome = [&](protocol::Replay outcome) {
    return make_frame(
        protocol::encode_welcome(target_.group, user_, last_id, epoch, join_.members, outcome));
  };

  if ((target_.epoch && *target_.epoch != epoch) || since > last_id) {
    // The client's ids belong to another history (or to none): replaying from them could
    // skip messages or show others under ids it already holds.
    const std::vector<Frame> frames{welcome(protocol::Replay::reset)};
    const bool written = co_await write_frames(frames, 0);
    std::vector<std::string>().swap(join_.members);
    BOOST_LOG_TRIVIAL(debug) << "replay reset group=" << target_.group << " user=" << user_
                             << " since=" << since << " epoch=" << target_.epoch.value_or("")
                             << " (now " << epoch << ", last_id " << last_id << ")";
    co_return written;
  }

  // One page at a time, each written before the next is read: the socket's pace decides,
  // and a connection holds one page however much it missed.
  const std::size_t page_bytes = std::max<std::size_t>(config.send_queue_bytes / 4, 1);
  const auto read_page = [&](MessageId after) {
    return state_->broker().read(target_.group, after, last_id, k_replay_page_messages, page_bytes);
  };
  MessageId after = since;
  if (static_cast<std::uint64_t>(last_id - since) > config.replay_limit)
    after = last_id - static_cast<MessageId>(config.replay_limit);
  std::vector<MessagePtr> page;
  std::vector<Frame> frames;
  std::size_t replayed = 0;
  try {
    if (since < last_id) page = co_await read_page(after);
    // A gap before the first message replayed is over the limit or removed by retention
    // (truncated), or ids a crash burnt, which named no stored message (not truncated: a
    // client that reloaded on it would find the same gap again).
    const MessageId first = page.empty() ? last_id + 1 : page.front()->id();
    const bool truncated = since < last_id && first != since + 1 &&
                           co_await state_->broker().skips(target_.group, since, first);
    frames.push_back(welcome(truncated ? protocol::Replay::truncated : protocol::Replay::complete));
    std::vector<std::string>().swap(join_.members);
    for (;;) {
      for (const MessagePtr& message : page)
        frames.push_back(message->frame());
      if (!co_await write_frames(frames, 0)) co_return false;
      replayed += page.size();
      if (page.empty() || page.back()->id() >= last_id) break;
      after = page.back()->id();
      frames.clear();
      page.clear(); // before the next page is read
      page = co_await read_page(after);
    }
  } catch (const std::exception& e) { // the database failed: better no session than a gap
    BOOST_LOG_TRIVIAL(error) << "replay failed group=" << target_.group << ": " << e.what();
    co_return false;
  }
  BOOST_LOG_TRIVIAL(debug) << "replayed group=" << target_.group << " user=" << user_
                           << " since=" << since << " messages=" << replayed;
  co_return true;
}

void WsSession::arm_watchdog() {
  const ServerConfig& config = state_->config();
  const auto ping_at = std::max(last_heard_, last_ping_) + config.ping_interval;
  const auto idle_at = last_heard_ + config.idle_timeout;
  watchdog_timer_.expires_at(std::min({ping_at, idle_at, hard_close_at_, token_expires_at_}));
  // A completion handler, not a coroutine: an idle connection then holds one small pending
  // wait instead of a coroutine frame and its co_spawn state (docs/benchmarks.md).
  watchdog_timer_.async_wait([self = shared_from_this()](error_code) { self->on_watchdog(); });
}

void WsSession::on_watchdog() {
  if (finished_) return;
  const ServerConfig& config = state_->config();
  const auto now = Clock::now();
  if (now >= token_expires_at_) {
    BOOST_LOG_TRIVIAL(info) << "token expired group=" << target_.group << " user=" << user_;
    token_expires_at_ = Clock::time_point::max();
    close(websocket::close_code::policy_error, "token expired");
  } else if (now >= hard_close_at_ || now >= last_heard_ + config.idle_timeout) {
    BOOST_LOG_TRIVIAL(info) << (now >= hard_close_at_ ? "close timed out" : "idle timeout")
                            << " group=" << target_.group << " user=" << user_;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close(); // the reader and writer fail and end
    return;
  } else if (now >= std::max(last_heard_, last_ping_) + config.ping_interval) {
    last_ping_ = now;
    ping_due_ = true;
    wake_writer();
  }
  arm_watchdog(); // also after a cancel: close() moved a deadline
}

bool WsSession::offer(const Frame& frame) noexcept {
  switch (queue_.push(frame)) {
  case core::SendQueue::Push::queued:
    return true;
  case core::SendQueue::Push::queued_first:
    wake_writer();
    return true;
  case core::SendQueue::Push::flush_due:
    wake_writer();
    // The writer's executor owns the timer; the writer checks urgent() before it waits,
    // so a push that lands before the wait starts is not missed either.
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->hold_timer_.cancel(); });
    return true;
  case core::SendQueue::Push::overflow:
    BOOST_LOG_TRIVIAL(info) << "slow consumer group=" << target_.group << " user=" << user_;
    close(websocket::close_code::policy_error, "slow consumer");
    return false;
  case core::SendQueue::Push::closed:
    break;
  }
  return false;
}

void WsSession::close(websocket::close_code code, std::string_view reason) noexcept {
  {
    std::lock_guard lock(close_mutex_);
    if (close_reason_) return;
    close_reason_.emplace(code, reason.substr(0, 123)); // RFC 6455 §5.5: 125-byte payload
  }
  queue_.close();
  wake_writer();
  // Bound the closing handshake: a peer that stopped reading never takes our close frame.
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    const auto deadline = Clock::now() + self->state_->config().shutdown_timeout;
    self->hard_close_at_ = std::min(self->hard_close_at_, deadline);
    self->watchdog_timer_.cancel();
    self->hold_timer_.cancel();
  });
}

void WsSession::wake_writer() noexcept {
  wake_.try_send(error_code{}); // fails only when a wake-up is already pending
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  queue_.close();
  wake_.close();
  watchdog_timer_.cancel();
  hold_timer_.cancel();
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

} // namespace huddle::net
