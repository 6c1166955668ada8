#include "net/ws_session.hpp"

#include "core/log.hpp"
#include "core/protocol.hpp"
#include "core/use_tuple.hpp"
#include "net/permessage_deflate.hpp"
#include "net/server_state.hpp"
#include "net/write_coalescing.hpp"
#include "net/ws_handshake.hpp"

#include <huddle/chat_manager.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include <algorithm>
#include <cstring>

namespace huddle::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

namespace {

// The answer to a frame over ServerConfig::message_rate, which was not handled.
std::string rate_limited(const std::optional<std::string>& ref,
                         std::chrono::milliseconds retry_after) {
  return protocol::encode_error(protocol::Error::rate_limited,
                                "too many messages: this one was not sent", ref,
                                retry_after.count());
}

// What one whole message from a client asks for: a text frame goes to
// protocol::parse_client_frame; a binary frame is an error answered without closing.
std::variant<protocol::ClientMessage, protocol::FrameError>
parse_message(bool text, std::string_view payload) {
  if (!text) return protocol::FrameError{protocol::Error::binary_unsupported, "send text frames"};
  return protocol::parse_client_frame(payload);
}

// A close frame's payload: `code` and `reason`; none for code 0 (a peer's close that had
// no code is answered without one).
std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string payload;
  if (code == 0) return payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.substr(0, 123)); // RFC 6455 §5.5: a 125-byte payload at most
  return payload;
}

// Where every read goes: one buffer per thread, so no connection holds one while it waits.
std::span<unsigned char> thread_read_buffer() {
  thread_local std::vector<unsigned char> buffer(64 * 1024);
  return buffer;
}

} // namespace

// How often the writer lets its thread run other handlers before it takes its queue. Each
// yield lets the io_context poll its sockets once more, so readers broadcast what has
// arrived meanwhile into this queue and one write carries more frames: fewer syscalls and
// TCP segments per delivery (on loopback the receiver's side of each segment is charged to
// the sender too). Two measured best in the fanout benchmark, 3 or 4 no better than 2
// (docs/performance-journal.md, "5. More frames per write").
// Only while batches carry more than one frame: under light load (rooms) there is nothing
// to gather, and each yield would cost an epoll_wait(0) of the io_context.
constexpr int k_writer_yields = 2;

// Messages per replay page (and at most a quarter of --send-queue-bytes of them).
constexpr std::size_t k_replay_page_messages = 256;

WsSession::WsSession(asio::ip::tcp::socket socket, std::unique_ptr<TlsConnection> tls,
                     std::shared_ptr<ServerState> state, const WsTarget& target, std::string user,
                     SessionAccess access, AddressLimits::Admission admission)
    : socket_(std::move(socket)), tls_(std::move(tls)),
      state_(std::move(state)), target_{target.group, target.echo, target.since,
                                        target.epoch
                                            ? std::make_unique<const std::string>(*target.epoch)
                                            : nullptr},
      user_(std::move(user)), access_(std::move(access)), admission_(std::move(admission)),
      queue_(state_->config().send_queue_bytes,
             WriteCoalescing::held_bytes(state_->config().send_queue_bytes)),
      rate_limiter_({state_->config().message_rate, state_->config().message_burst,
                     state_->config().rate_limit_close_after},
                    Clock::now()),
      frames_(FrameReaderOptions{state_->config().max_message_bytes, false}),
      coalescing_(state_->config().write_coalesce, Clock::now()) {
  if (access_.expires_at) // the watchdog counts on the steady clock
    token_expires_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           *access_.expires_at - std::chrono::system_clock::now());
}

WsSession::~WsSession() {
  release();
  delete close_request_.load();
}

void WsSession::release() noexcept {
  if (released_) return;
  released_ = true;
  admission_ = AddressLimits::Admission();
  state_->release_slot();
}

asio::awaitable<void> WsSession::run(Request request) {
  {
    // The reads after a readable wait and write_buffers() must get would_block, not a
    // wait.
    error_code ignored;
    socket_.non_blocking(true, ignored);
  }
  // Registered before the answer: the server's watchdog sweep and stop() see the session
  // from here on.
  if (!state_->add(*this)) { // stop() came first: no upgrade
    finish();
    release();
    co_return;
  }
  // The handshake_timeout that bounded the request bounds the answer too.
  last_heard_ = last_ping_ = Clock::now();
  const auto answer_deadline = last_heard_ + state_->config().handshake_timeout;
  hard_close_at_ = answer_deadline;
  arm_watchdog();
  {
    // A coroutine keeps its parameters for its whole life: the upgrade request's headers
    // are moved out here so they are freed once answered (docs/performance-journal.md,
    // "3. Idle memory").
    const Request upgrade = std::move(request);
    const std::optional<std::string> extensions =
        accept_extensions(upgrade, state_->config().deflate);
    const std::string accepted = accept_response(upgrade, extensions.value_or(""));
    if (extensions) { // permessage-deflate: clients may send compressed messages (RSV1)
      deflate_ = true;
      frames_ = FrameReader(FrameReaderOptions{state_->config().max_message_bytes, true});
    }
    const std::array<asio::const_buffer, 1> buffers{asio::buffer(accepted)};
    if (!co_await write_buffers(buffers)) {
      HUDDLE_LOG(state_->logger(), debug, "ws.upgrade_failed",
                 {{"group", target_.group}, {"user", user_}});
      state_->remove(*this);
      finish();
      release();
      co_return;
    }
  }
  if (hard_close_at_ == answer_deadline) // not moved by a close() meanwhile
    hard_close_at_ = Clock::time_point::max();
  arm_watchdog(); // for the pings and the idle timeout now

  auto self = shared_from_this();
  std::optional<protocol::Error> join_failure;
  try {
    join_ = co_await state_->broker().join(target_.group, self);
  } catch (const broker::Unavailable& e) { // Redis is away (the broker logged it)
    HUDDLE_LOG(state_->logger(), info, "ws.join_failed",
               {{"group", target_.group}, {"error", e.what()}});
    join_failure = protocol::Error::join_broker_unavailable;
  } catch (const std::exception& e) { // the history could not say where the group's ids are
    HUDDLE_LOG(state_->logger(), error, "ws.join_failed",
               {{"group", target_.group}, {"error", e.what()}});
    join_failure = protocol::Error::join_history_unavailable;
  }
  if (join_failure) {
    const protocol::ErrorInfo& failure = protocol::info(*join_failure);
    state_->remove(*this);
    state_->metrics().count_close(failure.close_code);
    co_await write_control(Opcode::close, close_payload(failure.close_code, failure.wire));
    finish();
    release();
    co_return;
  }
  // The member list is only needed again to re-encode the welcome for a replay; kept for
  // every connection, it made each connection's memory grow with its group
  // (docs/performance-journal.md, "3. Idle memory").
  if (!target_.since || !join_.added) std::vector<std::string>().swap(join_.members);
  replay_due_ = target_.since.has_value() && join_.added;
  joined_ = true;
  wake_writer(); // the welcome is queued
  read();
}

std::size_t WsSession::read_some(std::span<unsigned char> into, error_code& ec) {
  if (tls_) return tls_->read_some(into, ec);
  return socket_.read_some(asio::buffer(into.data(), into.size()), ec);
}

std::size_t WsSession::write_some(const Buffers& buffers, error_code& ec) {
  if (tls_) return tls_->write_some(buffers, ec);
  return socket_.write_some(buffers, ec);
}

asio::awaitable<error_code> WsSession::write_rest(const Buffers& buffers) {
  if (!tls_) {
    auto [ec, written] = co_await asio::async_write(socket_, buffers, use_tuple);
    co_return ec;
  }
  // TLS: OpenSSL writes the socket itself; each wait is for what it asked for.
  Buffers rest = buffers;
  for (std::size_t left = asio::buffer_size(rest); left > 0;) {
    error_code ec;
    const std::size_t written = tls_->write_some(rest, ec);
    if (ec == asio::error::would_block) {
      std::tie(ec) = co_await socket_.async_wait(tls_->write_wait(), use_tuple);
      if (ec) co_return ec;
      continue;
    }
    if (ec) co_return ec;
    rest.consume(written);
    left -= written;
  }
  co_return error_code();
}

void WsSession::read() {
  // Records OpenSSL read ahead are there without the socket being readable.
  if (tls_ && tls_->has_buffered_input()) {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_readable({}); });
    return;
  }
  // An idle connection waits here, holding no buffer: the bytes are read once they are
  // there, into the thread's. (Asio re-arms a wait with EPOLL_CTL_MOD, which reports bytes
  // that came before it, so none are missed on any executor.)
  socket_.async_wait(tls_ ? tls_->read_wait() : asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](error_code ec) { self->on_readable(ec); });
}

void WsSession::on_readable(error_code ec) {
  const std::span<unsigned char> buffer = thread_read_buffer();
  std::size_t bytes = 0;
  if (!ec) bytes = read_some(buffer, ec); // the socket is non-blocking
  if (ec == asio::error::would_block || ec == asio::error::try_again) { // nothing after all
    read();
    return;
  }
  if (ec) {
    HUDDLE_LOG(state_->logger(), debug, "ws.read_ended",
               {{"group", target_.group}, {"user", user_}, {"error", ec.message()}});
    end();
    return;
  }
  last_heard_ = Clock::now();
  const std::span<unsigned char> input = buffer.first(bytes);
  std::vector<protocol::ClientMessage> sends;
  if (!handle_input(input, sends)) {
    end();
    return;
  }
  if (sends.empty()) {
    read();
    return;
  }
  asio::co_spawn(socket_.get_executor(), send_all(std::move(sends)), asio::detached);
}

bool WsSession::handle_input(std::span<unsigned char> input,
                             std::vector<protocol::ClientMessage>& sends) {
  for (;;) {
    const bool failed_before = frames_.failed();
    const FrameEvent event = frames_.next(input);
    switch (event.kind) {
    case FrameEvent::Kind::need_more:
      return true;
    case FrameEvent::Kind::text:
    case FrameEvent::Kind::binary: {
      const bool text = event.kind == FrameEvent::Kind::text;
      std::string_view payload = event.payload;
      if (event.compressed) {
        const auto inflated = inflate(text, payload);
        if (!inflated) return true; // closing; the failed reader's rest is discarded
        payload = *inflated;
      }
      if (auto message = take_message(text, payload)) {
        state_->metrics().messages_received.add();
        sends.push_back(std::move(*message));
      }
      // Taken (copied) or refused: the thread keeps no large inflate buffer.
      if (event.compressed) MessageInflater::for_this_thread().shrink();
      break;
    }
    case FrameEvent::Kind::ping:
      // Only the last ping needs its pong (RFC 6455 §5.5.3).
      pong_due_ = std::make_unique<std::string>(event.payload);
      wake_writer();
      break;
    case FrameEvent::Kind::pong:
      break;
    case FrameEvent::Kind::close:
      if (close_sent_) { // the closing handshake we began is complete
        if (!tls_) return false;
        // TLS ends too: the peer answers our close_notify with its own. Closed before that
        // arrives, the socket would reset the connection, and the peer could lose what it
        // had not read yet. The read goes on until the peer goes (the watchdog bounds it).
        end_sending();
        return true;
      }
      // The reply echoes the peer's code (RFC 6455 §5.5.1); what follows is discarded.
      HUDDLE_LOG(state_->logger(), debug, "ws.peer_closed",
                 {{"group", target_.group},
                  {"user", user_},
                  {"code", event.code},
                  {"reason", event.payload}});
      close(event.code, {}, Closing::replied);
      break;
    case FrameEvent::Kind::error:
      if (!failed_before) {
        HUDDLE_LOG(state_->logger(), debug, "ws.protocol_violation",
                   {{"group", target_.group},
                    {"user", user_},
                    {"code", event.code},
                    {"reason", event.payload}});
        close(event.code, event.payload, Closing::replied);
      }
      return true; // the failed reader discards the rest until the peer goes
    }
  }
}

std::optional<std::string_view> WsSession::inflate(bool text, std::string_view compressed) {
  MessageInflater& inflater = MessageInflater::for_this_thread();
  const std::size_t limit = state_->config().max_message_bytes;
  const MessageInflater::Status status = inflater.inflate(compressed, limit);
  // RFC 7692 §8 leaves the code to us: data that does not inflate, or inflates to text that
  // is not UTF-8, is a message inconsistent with its type, 1007 (RFC 6455 §7.4.1).
  FrameViolation violation = FrameViolation::none;
  if (status == MessageInflater::Status::too_big)
    violation = FrameViolation::message_too_big; // stopped at the limit: a bomb costs no more
  else if (status == MessageInflater::Status::invalid)
    violation = FrameViolation::text_not_utf8; // 1007
  else if (text && !is_valid_utf8(inflater.payload()))
    violation = FrameViolation::text_not_utf8;
  if (violation == FrameViolation::none) return inflater.payload();
  const std::string_view reason = status == MessageInflater::Status::invalid
                                      ? std::string_view("invalid compressed data")
                                      : describe(violation);
  HUDDLE_LOG(state_->logger(), debug, "ws.protocol_violation",
             {{"group", target_.group},
              {"user", user_},
              {"code", close_code_of(violation)},
              {"reason", reason}});
  inflater.shrink();
  frames_.reject_message(violation);
  close(close_code_of(violation), reason, Closing::replied);
  return std::nullopt;
}

std::optional<protocol::ClientMessage> WsSession::take_message(bool text,
                                                               std::string_view payload) {
  const auto rate = rate_limiter_.on_message(last_heard_);
  using Verdict = core::MessageRateLimiter::Verdict;
  if (rate.verdict == Verdict::close) {
    HUDDLE_LOG(state_->logger(), info, "ws.rate_limited",
               {{"group", target_.group}, {"user", user_}});
    close(protocol::Error::rate_limit);
    return std::nullopt;
  }
  if (rate.verdict == Verdict::dropped) return std::nullopt; // closing: nothing is handled
  auto parsed = parse_message(text, payload);
  if (rate.verdict == Verdict::refused) {
    const auto* message = std::get_if<protocol::ClientMessage>(&parsed);
    offer(make_frame(rate_limited(message ? message->ref : std::nullopt, rate.retry_after)));
    return std::nullopt;
  }
  if (auto* error = std::get_if<protocol::FrameError>(&parsed)) {
    offer(make_frame(protocol::encode_error(error->code, error->detail)));
    return std::nullopt;
  }
  return std::get<protocol::ClientMessage>(std::move(parsed));
}

asio::awaitable<void> WsSession::send_all(std::vector<protocol::ClientMessage> sends) {
  for (protocol::ClientMessage& message : sends)
    co_await send(message);
  read();
}

asio::awaitable<void> WsSession::send(protocol::ClientMessage& message) {
  // A named draft, not a temporary inside the co_await: g++ 12 destroys such temporaries
  // twice (GCC bug 100611 and relatives).
  MessageDraft draft{user_, std::move(message.text), now_ms()};
  // The ack promises the message is stored (--durability, or Redis took it): the broker
  // calls this from its own thread; the session is kept alive until then.
  broker::Broker::OnStored ack = [self = shared_from_this(), ref = message.ref](MessageId id) {
    self->offer(make_frame(protocol::encode_ack(ref, id)));
  };
  const broker::PublishError refused = co_await state_->broker().publish(
      target_.group, std::move(draft), shared_from_this(), target_.echo, std::move(ack));
  if (refused == broker::PublishError::history_unavailable)
    offer(make_frame(protocol::encode_error(
        protocol::Error::history_unavailable,
        "the history cannot store messages now; send it again later", message.ref)));
  else if (refused == broker::PublishError::broker_unavailable)
    offer(make_frame(protocol::encode_error(
        protocol::Error::broker_unavailable,
        "the message broker cannot be reached; send it again later", message.ref)));
}

void WsSession::end() {
  if (ended_) return;
  ended_ = true;
  finish();
  asio::co_spawn(socket_.get_executor(), leave(), asio::detached);
}

asio::awaitable<void> WsSession::leave() {
  auto self = shared_from_this();
  try {
    if (join_.added) co_await state_->broker().leave(target_.group, self);
  } catch (const std::exception& e) {
    HUDDLE_LOG(state_->logger(), error, "ws.leave_failed",
               {{"group", target_.group}, {"user", user_}, {"error", e.what()}});
  }
  state_->remove(*this);
  release();
}

bool WsSession::writer_has_work() const {
  // A closed queue's bytes may stay counted (an overflow is not written): then only the
  // close frame is left to write.
  return pong_due_ || ping_due_ || (queue_.closed() ? !close_sent_ : queue_.queued_bytes() > 0);
}

void WsSession::start_writer() {
  Handover handover;
  if (!write_at_once(handover))
    asio::co_spawn(socket_.get_executor(), writer(std::move(handover)), asio::detached);
}

bool WsSession::write_at_once(Handover& handover) {
  // Light traffic only (a frame or two per wake-up, as in many quiet rooms): holds,
  // gathering, replay, control frames and closing are the coroutine's.
  const auto now = Clock::now();
  if (!joined_ || finished_ || replay_due_ || gathering_ || pong_due_ || ping_due_ ||
      coalescing_.hold_until() > now)
    return false;
  // Nothing of this outlives the call: one scratch per thread serves every session.
  thread_local std::vector<Frame> batch;
  thread_local WriteScratch scratch;
  const core::SendQueue::State state = queue_.take(batch);
  if (batch.empty() || state.overflowed) { // closing: the coroutine writes the close frame
    batch.clear();
    return false;
  }
  coalescing_.took(batch.size(), now);
  gathering_ = batch.size() > 1;
  std::size_t bytes = 0;
  for (const Frame& frame : batch)
    bytes += frame->size();
  frame_buffers(batch, 0, deflate_, scratch);
  const std::size_t frames = batch.size();
  const std::size_t wire_bytes = asio::buffer_size(scratch.buffers);
  error_code ec;
  Buffers rest(scratch.buffers);
  for (std::size_t left = wire_bytes; left > 0 && !ec;) {
    const std::size_t written = write_some(rest, ec);
    rest.consume(written);
    left -= written;
  }
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    // The socket's buffer is full (rare with light traffic): the coroutine waits for it,
    // with a copy of the rest, as the frames go with the batch.
    handover.rest.resize(asio::buffer_size(rest));
    asio::buffer_copy(asio::buffer(handover.rest), rest);
    handover.queued_bytes = bytes;
    // Counted here; the coroutine's write_buffers() counts the rest's bytes.
    state_->metrics().frames_written.add(frames);
    state_->metrics().bytes_written.add(wire_bytes - handover.rest.size());
    batch.clear();
    return false;
  }
  batch.clear();
  if (ec) {
    writer_running_ = false;
    finish();
    return true;
  }
  queue_.written(bytes);
  ServerMetrics& metrics = state_->metrics();
  metrics.frames_written.add(frames);
  metrics.bytes_written.add(wire_bytes);
  // Stop, unless something came meanwhile: then the coroutine takes it from here.
  writer_running_ = false;
  return !writer_has_work() || writer_running_.exchange(true);
}

asio::awaitable<void> WsSession::writer(Handover handover) {
  auto self = shared_from_this();
  std::vector<Frame> batch;
  WriteScratch scratch;
  const auto executor = socket_.get_executor();
  if (!joined_) { // woken by an offer during the join: run() starts it after
    writer_running_ = false;
    co_return;
  }
  asio::steady_timer hold_timer(executor);
  hold_timer_ = &hold_timer;
  if (!handover.rest.empty()) { // what write_at_once() could not write
    const std::array<asio::const_buffer, 1> rest{asio::buffer(handover.rest)};
    if (co_await write_buffers(rest))
      queue_.written(handover.queued_bytes);
    else
      finish(); // skips the loop below
  }
  while (!finished_) {
    auto now = Clock::now();
    // A closing session, or a queue past WriteCoalescing::held_bytes(), is written at once.
    if (coalescing_.hold_until() > now && !queue_.urgent()) {
      hold_timer.expires_at(coalescing_.hold_until());
      // Cut short by close(), finish(), and offer() when the queue passes held_bytes().
      co_await hold_timer.async_wait(use_tuple);
      now = Clock::now();
    } else {
      for (int i = 0; gathering_ && i < k_writer_yields; ++i)
        co_await asio::post(executor, asio::use_awaitable);
    }
    if (pong_due_) {
      const std::unique_ptr<std::string> payload = std::move(pong_due_);
      if (!co_await write_control(Opcode::pong, *payload)) break;
      continue;
    }
    const core::SendQueue::State state = queue_.take(batch);
    if (!batch.empty() && !state.overflowed) { // overflowed: the peer is being closed
      coalescing_.took(batch.size(), now);
      std::size_t first = 0;
      if (replay_due_) {
        // batch[0] is the welcome (connect() offered it first); replay() writes it anew.
        replay_due_ = false;
        if (!co_await replay(scratch)) break;
        first = 1;
      }
      if (!co_await write_frames(batch, first, scratch)) break;
      std::size_t bytes = 0;
      for (const Frame& frame : batch)
        bytes += frame->size();
      queue_.written(bytes);
      gathering_ = batch.size() > 1;
      batch.clear();
      continue; // look again before stopping: more may have come
    }
    if (state.closed) {
      if (!close_sent_ && !co_await write_close()) break;
    } else if (ping_due_.exchange(false)) {
      if (!co_await write_control(Opcode::ping, {})) break;
      continue;
    }
    // Nothing to do: stop, unless something came after the last look (offer() saw the
    // writer running and started none).
    hold_timer_ = nullptr; // before the flag: a writer started next sets its own
    writer_running_ = false;
    if (!writer_has_work() || writer_running_.exchange(true)) co_return;
    hold_timer_ = &hold_timer;
  }
  // The connection failed, or the session finished.
  hold_timer_ = nullptr;
  writer_running_ = false;
  finish();
}

asio::awaitable<bool> WsSession::write_close() {
  const CloseRequest* request = close_request_.load();
  const std::uint16_t code = request ? request->code : 0;
  const std::string_view reason = request ? std::string_view(request->reason) : "";
  const Closing how = request ? request->how : Closing::handshake;
  close_sent_ = true;
  state_->metrics().count_close(code);
  const bool written = co_await write_control(Opcode::close, close_payload(code, reason));
  HUDDLE_LOG(state_->logger(), debug, "ws.closed",
             {{"group", target_.group},
              {"user", user_},
              {"code", code},
              {"reason", reason},
              {"written", written}});
  // Replying to the peer's close or violation, nothing more is said: the peer closes its
  // side on our close frame, and the read goes on until it does (the watchdog bounds that).
  if (written && how == Closing::replied) end_sending();
  co_return written;
}

void WsSession::frame_buffers(const std::vector<Frame>& frames, std::size_t first, bool deflate,
                              WriteScratch& scratch) {
  // Each frame's header and its shared payload side by side, for one gather write: a
  // broadcast's bytes are never copied per recipient (docs/performance-journal.md, "1. One
  // gather write per wakeup"). Compressed, the payload is the frame's one compressed form,
  // made by the first recipient that needs it: compression costs once per message, not per
  // delivery (docs/operations.md, --deflate).
  scratch.headers.clear();
  scratch.buffers.clear();
  const auto payload_of = [&](const Frame& frame) -> const std::string& {
    if (!deflate || frame->size() < k_deflate_min_bytes) return *frame;
    const std::string& compressed = frame.body().deflated(&deflate_message);
    return compressed.empty() ? *frame : compressed; // empty: not worth it
  };
  for (std::size_t i = first; i < frames.size(); ++i) {
    const std::string& payload = payload_of(frames[i]);
    scratch.headers.push_back(text_frame_header(payload.size(), &payload != frames[i].get()));
  }
  for (std::size_t i = first; i < frames.size(); ++i) {
    const FrameHeader& header = scratch.headers[i - first];
    const std::string& payload = payload_of(frames[i]);
    scratch.buffers.emplace_back(header.bytes.data(), header.size);
    scratch.buffers.emplace_back(payload.data(), payload.size());
  }
}

asio::awaitable<bool> WsSession::write_frames(const std::vector<Frame>& frames, std::size_t first,
                                              WriteScratch& scratch) {
  frame_buffers(frames, first, deflate_, scratch);
  // A named result and one co_return: written as `if (!co_await ...) co_return false;` and
  // another co_return, the g++ 12 build stopped here with SIGILL (an integration test).
  const bool written = co_await write_buffers(scratch.buffers);
  if (written) state_->metrics().frames_written.add(frames.size() - first);
  co_return written;
}

asio::awaitable<bool> WsSession::write_control(Opcode opcode, std::string_view payload) {
  const auto header = control_frame_header(opcode, payload.size());
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(payload)};
  co_return co_await write_buffers(buffers);
}

asio::awaitable<bool> WsSession::write_buffers(std::span<const asio::const_buffer> buffers) {
  // Most batches fit in the socket's send buffer: written at once with a non-blocking
  // sendmsg, with no composed operation, no allocation and no completion handler to run.
  // Only what the socket refuses waits in an async_write. Measured against an async_write
  // per batch: docs/performance-journal.md, "5. More frames per write".
  error_code ec;
  Buffers rest(buffers);
  for (std::size_t left = asio::buffer_size(buffers); left > 0;) {
    const std::size_t written = write_some(rest, ec);
    if (ec) break;
    rest.consume(written);
    left -= written;
  }
  if (ec == asio::error::would_block || ec == asio::error::try_again)
    ec = co_await write_rest(rest);
  if (!ec) state_->metrics().bytes_written.add(asio::buffer_size(buffers));
  co_return !ec;
}

asio::awaitable<bool> WsSession::replay(WriteScratch& scratch) {
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
    const bool written = co_await write_frames(frames, 0, scratch);
    std::vector<std::string>().swap(join_.members);
    HUDDLE_LOG(state_->logger(), debug, "ws.replay_reset",
               {{"group", target_.group},
                {"user", user_},
                {"since", since},
                {"since_epoch", target_.epoch ? std::string_view(*target_.epoch) : ""},
                {"epoch", epoch},
                {"last_id", last_id}});
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
      if (!co_await write_frames(frames, 0, scratch)) co_return false;
      replayed += page.size();
      if (page.empty() || page.back()->id() >= last_id) break;
      after = page.back()->id();
      frames.clear();
      page.clear(); // before the next page is read
      page = co_await read_page(after);
    }
  } catch (const std::exception& e) { // the database failed: better no session than a gap
    HUDDLE_LOG(state_->logger(), error, "ws.replay_failed",
               {{"group", target_.group}, {"user", user_}, {"error", e.what()}});
    co_return false;
  }
  HUDDLE_LOG(state_->logger(), debug, "ws.replayed",
             {{"group", target_.group}, {"user", user_}, {"since", since}, {"messages", replayed}});
  co_return true;
}

void WsSession::arm_watchdog() {
  const ServerConfig& config = state_->config();
  const auto ping_at = std::max(last_heard_, last_ping_) + config.ping_interval;
  const auto idle_at = last_heard_ + config.idle_timeout;
  const auto at = std::min({ping_at, idle_at, hard_close_at_, token_expires_at_});
  watchdog_at_.store(at.time_since_epoch().count());
}

bool WsSession::watchdog_due(Clock::time_point now) noexcept {
  auto at = watchdog_at_.load(std::memory_order_relaxed);
  // Taken once: the sweep asks for one look, and the look sets the next deadline.
  return at <= now.time_since_epoch().count() &&
         watchdog_at_.compare_exchange_strong(at, k_no_deadline);
}

void WsSession::on_watchdog() {
  if (finished_) return;
  const ServerConfig& config = state_->config();
  const auto now = Clock::now();
  if (now >= token_expires_at_) {
    HUDDLE_LOG(state_->logger(), info, "ws.token_expired",
               {{"group", target_.group}, {"user", user_}});
    token_expires_at_ = Clock::time_point::max();
    close(protocol::Error::token_expired);
  } else if (now >= hard_close_at_ || now >= last_heard_ + config.idle_timeout) {
    HUDDLE_LOG(state_->logger(), info,
               now >= hard_close_at_ ? "ws.close_timed_out" : "ws.idle_timeout",
               {{"group", target_.group}, {"user", user_}});
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    close_socket(); // the read and the writer fail and end
    return;
  } else if (now >= std::max(last_heard_, last_ping_) + config.ping_interval) {
    last_ping_ = now;
    ping_due_ = true;
    wake_writer();
  }
  arm_watchdog();
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
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->hold_timer_) self->hold_timer_->cancel();
    });
    return true;
  case core::SendQueue::Push::overflow:
    state_->metrics().slow_consumer_closes.add();
    state_->metrics().deliveries_dropped.add();
    HUDDLE_LOG(state_->logger(), info, "ws.slow_consumer",
               {{"group", target_.group}, {"user", user_}});
    close(protocol::Error::slow_consumer);
    return false;
  case core::SendQueue::Push::closed:
    state_->metrics().deliveries_dropped.add();
    break;
  }
  return false;
}

void WsSession::close(std::uint16_t code, std::string_view reason, Closing how) noexcept {
  // RFC 6455 §5.5: a 125-byte payload at most.
  auto request =
      std::make_unique<CloseRequest>(CloseRequest{code, how, std::string(reason.substr(0, 123))});
  CloseRequest* none = nullptr;
  if (!close_request_.compare_exchange_strong(none, request.get())) return; // the first wins
  request.release();
  queue_.close();
  wake_writer();
  // Bound the closing handshake: a peer that stopped reading never takes our close frame.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    const auto deadline = Clock::now() + self->state_->config().shutdown_timeout;
    self->hard_close_at_ = std::min(self->hard_close_at_, deadline);
    if (!self->finished_) self->arm_watchdog();
    if (self->hold_timer_) self->hold_timer_->cancel();
  });
}

void WsSession::wake_writer() noexcept {
  if (writer_running_.exchange(true)) return;
  // Posted, not dispatched: offer() may be called inside a broadcast, under its lock.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->start_writer(); });
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  queue_.close();
  watchdog_at_ = k_no_deadline;
  if (hold_timer_) hold_timer_->cancel();
  close_socket();
}

void WsSession::end_sending() noexcept {
  if (tls_) tls_->shutdown();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void WsSession::close_socket() noexcept {
  // Unbound first: the descriptor's number may go to another connection as soon as it is
  // closed, and a TLS call after that must fail, not write to that connection.
  if (tls_) tls_->detach();
  error_code ignored;
  socket_.close(ignored);
}

} // namespace huddle::net
