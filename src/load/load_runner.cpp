#include "load/load_runner.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unistd.h>

#include "core/client_tls.hpp"
#include "core/use_tuple.hpp"
#include "load/accounting.hpp"
#include "load/envelope.hpp"
#include "load/histogram.hpp"
#include "load/marker.hpp"
#include "load/payload.hpp"

namespace huddle::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// A client's stream: ws:// or wss://. The Client's connection code is a template over the
// two, so a plain connection's frames take no extra step for TLS being possible.
using WsStream = websocket::stream<beast::tcp_stream>;
using TlsWsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
template <class Ws> constexpr bool k_tls = std::is_same_v<Ws, TlsWsStream>;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::uint64_t k_never = UINT64_MAX;
// Closed loop: with nothing seen for this long, send anyway rather than stall the run.
constexpr std::uint64_t k_window_stall_ns = 1'000'000'000;
// Reconnecting: attempts in a row that may fail (a connection shorter than
// k_lasting_connection_ns counts as failed, so a server that accepts and drops at once
// is not hammered), the backoff after the first failure (doubling), and the jitter.
constexpr std::uint32_t k_reconnect_attempts = 5;
constexpr std::uint64_t k_lasting_connection_ns = 1'000'000'000;
constexpr std::uint64_t k_backoff_ns = 100'000'000;
constexpr std::uint64_t k_backoff_jitter_ns = 20'000'000;
// --drop-every: how long a sender waits for the acks of what it wrote before dropping.
constexpr std::uint64_t k_ack_wait_ns = 1'000'000'000;

std::uint64_t seconds_to_ns(double s) {
  return static_cast<std::uint64_t>(s * 1e9);
}

// Per-thread counters, read by the progress line while the run goes on.
struct alignas(64) WorkerStats {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> delivered{0}; // every marker seen, all phases
  std::atomic<std::int64_t> open{0};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> failed_connects{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> deflate_connects{0}; // --deflate: connects the server gave it
  std::array<std::atomic<std::uint64_t>, k_error_kinds> errors{};
};

struct Worker {
  asio::io_context ioc{1}; // one thread runs it: no locking inside Asio
  WorkerStats stats;
  Histogram latency; // only this worker's thread records
  // The first message seen per error kind, for the report; this worker's thread only.
  std::array<std::string, k_error_kinds> error_examples;
};

struct Phases {
  std::uint64_t warmup_begin = k_never;
  std::uint64_t measure_begin = k_never;
  std::uint64_t measure_end = k_never;
  std::uint64_t drain_end = k_never;
};

} // namespace

struct Client;

// One --url: where its clients connect, resolved once.
struct Endpoint {
  tcp::endpoint server;
  bool tls = false;
  std::string host; // what the certificate must name (wss)
  std::string host_header;
  std::vector<std::string> targets; // per group
};

struct LoadRunner::Impl {
  Options options;
  Accounting accounting;
  Clock::time_point t0 = Clock::now();
  std::string query;               // options.query_string()
  std::vector<Endpoint> endpoints; // one per options.url_templates
  // For wss:// endpoints (or when --ca-file is given, so a bad file is found either way);
  // shared by every connection of every thread.
  std::optional<asio::ssl::context> tls;

  std::deque<Worker> workers;
  std::vector<std::unique_ptr<Client>> clients;

  Phases phases; // written once, then published by phases_ready
  std::atomic<bool> phases_ready{false};
  std::atomic<std::int64_t> pending_connects{0};
  std::atomic<int> running_workers{0};
  std::atomic<std::uint64_t> internal_errors{0};
  std::mutex internal_error_mutex;
  std::string first_internal_error;

  explicit Impl(Options o)
      : options(std::move(o)),
        accounting(options.groups, options.senders_per_group(), options.echo) {
    bool const any_tls = std::any_of(options.url_templates.begin(), options.url_templates.end(),
                                     [](UrlTemplate const& url) { return url.tls; });
    if (any_tls || !options.ca_file.empty()) {
      try {
        tls.emplace(core::make_client_tls_context({options.ca_file, options.insecure}));
      } catch (std::runtime_error const& e) {
        throw std::runtime_error(std::string("--ca-file: ") + e.what());
      }
    }
  }

  std::uint64_t now_ns() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  Phases const* published() const {
    return phases_ready.load(std::memory_order_acquire) ? &phases : nullptr;
  }
  void record_internal_error(std::exception_ptr e);
  void check_certificates(asio::io_context& io);
  Report run();
};

namespace {

// Whether the server's handshake response takes up permessage-deflate (RFC 7692 §5.1),
// which Beast then uses for the connection.
bool deflate_accepted(websocket::response_type const& response) {
  auto const extensions = response[beast::http::field::sec_websocket_extensions];
  for (auto const& extension : beast::http::ext_list{extensions}) {
    if (beast::iequals(extension.first, "permessage-deflate")) return true;
  }
  return false;
}

asio::awaitable<void> sleep_until_ns(LoadRunner::Impl const& run, std::uint64_t at_ns) {
  std::uint64_t const now = run.now_ns();
  if (at_ns <= now) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::nanoseconds(at_ns - now));
  co_await timer.async_wait(use_tuple);
}

} // namespace

// One simulated member: a stable client (stays for the run, maybe sends, reconnects when
// its connection ends early) or a churner (joins and leaves in a loop). Plain data; the
// socket lives in the coroutine frame, so destroying an io_context destroys every I/O
// object with it, whatever state it was in.
struct Client {
  LoadRunner::Impl& run;
  Worker& worker;
  std::uint32_t index; // global, for pacing and source addresses
  std::uint32_t group; // 0-based
  bool churner;
  std::optional<Accounting::SenderId> sender;
  Accounting::ReceiverId receiver;
  std::minstd_rand random; // churn, drop and backoff timing; 8 bytes, not mt19937's 2.5 KB

  // Closed loop, on the sender: the watcher stores one past the highest sequence number it
  // saw and, if the sender is waiting, posts a wake-up to the sender's thread.
  std::atomic<std::uint64_t> seen_next{0};
  std::atomic<bool> waiting{false};
  asio::steady_timer* wake = nullptr; // the sender's own thread only
  std::vector<Client*> watched;       // on the watcher: by sender place k, or nullptr

  // Across connections, this client's thread only.
  bool registered = false;              // accounting.ready() called for this membership
  bool v1 = false;                      // a welcome came: the server speaks protocol v1
  std::optional<std::uint64_t> last_id; // newest message id seen, or passed at the join
  std::uint64_t drop_at = k_never;      // --drop-every: when this connection is dropped
  std::uint64_t next_drop_interval = 0;
  std::uint64_t claimed = 0;           // closed loop: messages this sender claimed
  std::uint64_t forgiven = 0;          // closed loop: after a stall, no longer waited for
  std::uint64_t next_send = k_never;   // open loop: the schedule, once started
  asio::steady_timer* pause = nullptr; // the drive's current wait, cut short by the reader

  // Per connection, this client's thread only.
  bool ready = false;
  bool open = false;
  bool closing = false;  // we sent the close frame: the end of the run
  bool dropping = false; // --drop-every: we closed the socket on purpose
  bool first_frame = true;
  bool resumed = false;           // connected with ?since=
  std::uint64_t replay_until = 0; // resumed: ids up to this one are the server's replay
  std::uint64_t written = 0;      // messages written on this connection
  std::uint64_t acked = 0;        // their acks (protocol v1)
  bool awaiting_acks = false;

  Client(LoadRunner::Impl& r, Worker& w, std::uint32_t i, std::uint32_t g, bool churn,
         std::optional<Accounting::SenderId> s, Accounting::ReceiverId rcv)
      : run(r), worker(w), index(i), group(g), churner(churn), sender(s), receiver(rcv),
        random(static_cast<std::uint_fast32_t>(r.options.seed * 1'000'003 + i + 1)) {}

  void count(ErrorKind kind) {
    worker.stats.errors[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  }
  void count(ErrorKind kind, std::string_view detail) {
    count(kind);
    auto& example = worker.error_examples[static_cast<std::size_t>(kind)];
    if (example.empty()) example = detail;
  }

  void mark_ready() {
    if (ready) return;
    ready = true;
    // A stable member's reconnect carries its membership on: what it missed is either
    // replayed (?since=) or lost, so the accounting must not start over.
    if (registered && !churner) return;
    registered = true;
    run.accounting.ready(receiver);
  }

  // Waits until `at_ns`, or less: the reader cuts the wait short when the connection ends
  // (and, while a drop waits for them, when the acks are in). Callers look again.
  asio::awaitable<void> pause_until(std::uint64_t at_ns) {
    std::uint64_t const now = run.now_ns();
    if (!open || at_ns <= now) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    if (at_ns == k_never) {
      timer.expires_at(Clock::time_point::max());
    } else {
      timer.expires_after(std::chrono::nanoseconds(at_ns - now));
    }
    pause = &timer;
    co_await timer.async_wait(use_tuple);
    pause = nullptr;
  }

  // Client i's endpoint is the (i mod N)th --url, on every connection it makes.
  std::size_t endpoint_index() const { return index % run.endpoints.size(); }
  Endpoint const& endpoint() const { return run.endpoints[endpoint_index()]; }

  // The request target: with ?since=<last id seen> when this member reconnects to a
  // protocol v1 server, so the server replays what it missed (docs/protocol.md).
  std::string connect_target() {
    resumed = !churner && v1 && last_id.has_value();
    if (!resumed) return endpoint().targets[group];
    return run.options.url_templates[endpoint_index()].target(
        run.options.group_base + group, query_with_since(run.query, *last_id));
  }

  // A new stream for this client's endpoint: plain or TLS, as its URL says.
  template <class Ws> Ws new_stream(asio::any_io_executor executor) {
    if constexpr (k_tls<Ws>) {
      return Ws(std::move(executor), *run.tls);
    } else {
      return Ws(std::move(executor));
    }
  }

  template <class Ws> asio::awaitable<bool> connect(Ws& ws, std::string const& target) {
    auto& options = run.options;
    auto& stream = beast::get_lowest_layer(ws);
    stream.expires_after(std::chrono::nanoseconds(seconds_to_ns(options.connect_timeout_s)));
    if (options.source_addresses > 1) {
      // Each source address has its own ephemeral port range (RFC 6056): spreading over
      // 127.0.0.0/8 lifts the ~28k connections per (source, destination) pair.
      boost::system::error_code ec;
      auto& socket = stream.socket();
      socket.open(tcp::v4(), ec);
      auto const source = asio::ip::address_v4(0x7f000001u + index % options.source_addresses);
      if (!ec) socket.bind(tcp::endpoint(source, 0), ec);
      if (ec) {
        count(ErrorKind::connect_error, "bind " + source.to_string() + ": " + ec.message());
        co_return false;
      }
    }
    auto [connect_ec] = co_await stream.async_connect(endpoint().server, use_tuple);
    if (connect_ec) {
      count(connect_ec == asio::error::connection_refused ? ErrorKind::connect_refused
            : connect_ec == beast::error::timeout         ? ErrorKind::connect_timeout
                                                          : ErrorKind::connect_error,
            connect_ec.message());
      co_return false;
    }
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    if constexpr (k_tls<Ws>) {
      // Within the same --connect-timeout as the TCP connect.
      auto& tls = ws.next_layer();
      core::prepare_client_handshake(tls, endpoint().host);
      auto [tls_ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (tls_ec) {
        count(tls_ec == beast::error::timeout ? ErrorKind::connect_timeout
                                              : ErrorKind::handshake_error,
              "TLS: " + core::tls_failure_reason(tls.native_handle(), tls_ec));
        co_return false;
      }
    }
    // The websocket stream runs its own timers from here on.
    stream.expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::nanoseconds(seconds_to_ns(options.connect_timeout_s));
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "huddle-load/0.1");
    }));
    if (options.deflate) {
      // Beast's defaults, as a browser offers: both windows 15 bits, context takeover
      // allowed (the server may answer that it takes none), every message compressed.
      websocket::permessage_deflate deflate;
      deflate.client_enable = true;
      ws.set_option(deflate);
    }
    websocket::response_type response;
    auto [hs_ec] = co_await ws.async_handshake(response, endpoint().host_header, target, use_tuple);
    if (hs_ec) {
      count(hs_ec == websocket::error::upgrade_declined ? ErrorKind::handshake_rejected
            : hs_ec == beast::error::timeout            ? ErrorKind::connect_timeout
                                                        : ErrorKind::handshake_error,
            hs_ec == websocket::error::upgrade_declined
                ? "HTTP " + std::to_string(response.result_int())
                : hs_ec.message());
      co_return false;
    }
    if (options.deflate && deflate_accepted(response)) {
      worker.stats.deflate_connects.fetch_add(1, std::memory_order_relaxed);
    }
    ws.text(true);
    open = true;
    closing = false;
    dropping = false;
    ready = false;
    first_frame = true;
    replay_until = 0;
    written = 0;
    acked = 0;
    worker.stats.open.fetch_add(1, std::memory_order_relaxed);
    worker.stats.connects.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }

  void on_frame(std::string_view frame) {
    auto const kind = kind_of(frame);
    std::optional<std::uint64_t> id;
    if (kind == FrameKind::message) {
      id = uint_field(frame, "id");
      if (id && (!last_id || *id > *last_id)) last_id = id;
    }
    if (first_frame) {
      first_frame = false;
      // Protocol v1 servers register a member before they greet it; others never greet.
      if (kind == FrameKind::welcome) {
        v1 = true;
        auto const passed = uint_field(frame, "last_id");
        if (resumed) {
          // The replay (ids after since, up to last_id) follows; then live messages.
          replay_until = passed.value_or(0);
        } else if (passed && (!last_id || *passed > *last_id)) {
          // Messages up to last_id came before this member joined: not owed, not wanted.
          last_id = passed;
        }
        mark_ready();
      }
    }
    if (kind == FrameKind::error) count(ErrorKind::server_error_frame);
    if (kind == FrameKind::ack) {
      ++acked;
      if (awaiting_acks && acked >= written && pause != nullptr) pause->cancel();
    }
    if (frame.find(k_marker_prefix) == std::string_view::npos) return;
    if (!run.published()) return; // cannot be ours yet: nothing was sent
    // A replay holds every message after since, this member's own ones included.
    bool const replayed = id && *id <= replay_until;
    std::uint64_t const now = run.now_ns();
    MarkerScanner scanner(frame);
    while (auto marker = scanner.next()) {
      switch (run.accounting.arrived(receiver, *marker)) {
      case Arrival::counted:
        worker.latency.record(now > marker->send_ns ? now - marker->send_ns : 0);
        [[fallthrough]];
      case Arrival::unmeasured:
        worker.stats.delivered.fetch_add(1, std::memory_order_relaxed);
        notify_sender(*marker);
        break;
      case Arrival::duplicate: // counted by the accounting, reported apart
        break;
      case Arrival::foreign:
        count(ErrorKind::foreign_marker);
        break;
      case Arrival::unexpected_self:
        if (!replayed) count(ErrorKind::unexpected_self);
        break;
      }
    }
    for (std::size_t i = 0; i < scanner.malformed(); ++i)
      count(ErrorKind::malformed_marker);
  }

  void notify_sender(Marker const& marker) {
    if (watched.empty()) return;
    Client* const target = watched[marker.sender % run.accounting.senders_per_group()];
    if (target == nullptr) return;
    if (marker.seq + 1 > target->seen_next.load(std::memory_order_relaxed)) {
      target->seen_next.store(marker.seq + 1);
    }
    if (target->waiting.exchange(false)) {
      asio::post(target->worker.ioc, [target] {
        if (target->wake != nullptr) target->wake->cancel();
      });
    }
  }

  template <class Ws> asio::awaitable<void> read_loop(Ws& ws) {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
      if (ec) {
        if (!closing && !dropping) classify_read_error(ws, ec);
        break;
      }
      auto const data = buffer.cdata();
      on_frame(std::string_view(static_cast<char const*>(data.data()), data.size()));
      buffer.consume(n);
    }
    open = false;
    worker.stats.open.fetch_sub(1, std::memory_order_relaxed);
    // Whatever the drive waits for, this connection will not bring it.
    if (pause != nullptr) pause->cancel();
    if (wake != nullptr) wake->cancel();
  }

  template <class Ws> void classify_read_error(Ws& ws, boost::system::error_code ec) {
    if (ec == websocket::error::closed) {
      auto const& reason = ws.reason();
      count(error_for_close_code(reason.code),
            std::to_string(reason.code) + " " + std::string(reason.reason.c_str()));
    } else if (ec == asio::error::eof || ec == asio::error::connection_reset ||
               ec == beast::http::error::end_of_stream || ec == asio::error::broken_pipe) {
      count(ErrorKind::connection_lost, ec.message());
    } else {
      count(ErrorKind::read_error, ec.message());
    }
  }

  template <class Ws> asio::awaitable<void> close(Ws& ws) {
    if (!open) co_return;
    closing = true;
    auto [ec] = co_await ws.async_close(websocket::close_code::normal, use_tuple);
    if (ec == beast::error::timeout) count(ErrorKind::close_timeout);
    // Any other failure means the server went first; the read loop has counted it.
  }

  // --drop-every: the socket goes without a close frame, as when a network path dies.
  template <class Ws> asio::awaitable<void> drop(Ws& ws) {
    drop_at = k_never;
    // A v1 sender first waits (bounded) for the acks of what it wrote on this connection:
    // close() with unread input sends RST and throws away output not yet sent, and a
    // message this end threw away is not one the server lost.
    if (sender && v1) {
      std::uint64_t const deadline = run.now_ns() + k_ack_wait_ns;
      awaiting_acks = true;
      while (open && acked < written && run.now_ns() < deadline)
        co_await pause_until(deadline);
      awaiting_acks = false;
    }
    if (!open) co_return;
    dropping = true;
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
  }

  PayloadMaker payload_maker() const {
    return PayloadMaker(run.options.payload, run.options.size, run.options.seed);
  }

  template <class Ws> asio::awaitable<void> send_one(Ws& ws, PayloadMaker& payload, bool& ok) {
    auto const id = *sender;
    std::uint64_t const seq = run.accounting.claim(id);
    std::uint64_t const send_ns = run.now_ns();
    auto const& frame = payload.make(Marker{id, seq, send_ns});
    auto [ec, n] = co_await ws.async_write(asio::buffer(frame), use_tuple);
    if (ec) {
      if (open && !closing) count(ErrorKind::write_error, ec.message());
      run.accounting.withdrawn(id, seq);
      ok = false;
      co_return;
    }
    ++written;
    run.accounting.sent(id, seq, send_ns);
    worker.stats.sent.fetch_add(1, std::memory_order_relaxed);
  }

  // Sends on schedule until the measured window ends, the connection does, or its drop
  // is due; the schedule carries over to the next connection (late: catch up at once).
  template <class Ws> asio::awaitable<void> send_open_loop(Ws& ws, Phases const& phases) {
    PayloadMaker payload = payload_maker();
    auto const period = static_cast<std::uint64_t>(1e9 / run.options.rate);
    if (next_send == k_never) {
      // Spread all senders over one period so they do not fire in lockstep bursts.
      std::uint64_t const senders =
          std::uint64_t{run.accounting.groups()} * run.accounting.senders_per_group();
      next_send = phases.warmup_begin + period * *sender / std::max<std::uint64_t>(1, senders);
    }
    bool ok = true;
    while (ok && open && next_send < phases.measure_end) {
      co_await pause_until(std::min(next_send, drop_at));
      std::uint64_t const now = run.now_ns();
      if (!open || now >= phases.measure_end || now >= drop_at) break;
      if (now < next_send) continue; // cut short
      co_await send_one(ws, payload, ok);
      // Behind schedule (the socket pushed back): send at once until caught up.
      next_send += period;
    }
  }

  template <class Ws> asio::awaitable<void> send_closed_loop(Ws& ws, Phases const& phases) {
    PayloadMaker payload = payload_maker();
    asio::steady_timer timer(co_await asio::this_coro::executor);
    wake = &timer;
    std::uint64_t const window = run.options.window;
    bool ok = true;
    while (open && run.now_ns() < phases.warmup_begin)
      co_await pause_until(phases.warmup_begin);
    auto const stop_at = std::min(phases.measure_end, drop_at);
    while (ok && open && run.now_ns() < stop_at) {
      auto in_flight = [&] {
        return claimed - std::min(claimed, std::max(forgiven, seen_next.load()));
      };
      if (in_flight() >= window) {
        waiting.store(true);
        if (in_flight() >= window) {
          std::uint64_t const before = seen_next.load();
          std::uint64_t const until = std::min(stop_at, run.now_ns() + k_window_stall_ns);
          timer.expires_after(std::chrono::nanoseconds(until - std::min(until, run.now_ns())));
          auto [ec] = co_await timer.async_wait(use_tuple);
          waiting.store(false);
          if (!ec && open && seen_next.load() == before && run.now_ns() < stop_at) {
            count(ErrorKind::window_stall);
            forgiven = claimed;
          }
          continue;
        }
        waiting.store(false);
      }
      co_await send_one(ws, payload, ok);
      ++claimed;
    }
    wake = nullptr;
  }

  // Stable member: connect, take part until the drain ends, close. A connection that
  // ends before then (the server's doing, or --drop-every) is followed by another, after
  // a short backoff that grows while attempts keep failing.
  asio::awaitable<void> stable_session(std::uint64_t connect_at_ns) {
    co_await sleep_until_ns(run, connect_at_ns);
    bool first = true;
    std::uint32_t failures = 0; // in a row: failed connects and short-lived connections
    for (;;) {
      Outcome outcome = Outcome::not_connected;
      if (endpoint().tls) {
        outcome = co_await stable_connection<TlsWsStream>(first);
      } else {
        outcome = co_await stable_connection<WsStream>(first);
      }
      if (first && outcome == Outcome::not_connected) {
        co_return; // as before reconnects: a member that never joined
      }
      first = false;
      failures = outcome == Outcome::lasting ? 0 : failures + 1;
      if (failures >= k_reconnect_attempts || !reconnect_due()) co_return;
      co_await backoff(failures);
      if (!reconnect_due()) co_return;
    }
  }

  // What came of one connection of a stable member.
  enum class Outcome {
    not_connected,
    short_lived, // ended within k_lasting_connection_ns, not by --drop-every
    lasting,
  };

  template <class Ws> asio::awaitable<Outcome> stable_connection(bool first) {
    Ws ws = new_stream<Ws>(co_await asio::this_coro::executor);
    std::string const target = connect_target();
    bool const connected = co_await connect(ws, target);
    if (!connected) worker.stats.failed_connects.fetch_add(1, std::memory_order_relaxed);
    if (first) {
      run.pending_connects.fetch_sub(1);
    } else if (connected) {
      worker.stats.reconnects.fetch_add(1, std::memory_order_relaxed);
    }
    if (!connected) co_return Outcome::not_connected;
    std::uint64_t const began = run.now_ns();
    co_await (read_loop(ws) && stable_drive(ws));
    co_return dropping || run.now_ns() - began >= k_lasting_connection_ns ? Outcome::lasting
                                                                          : Outcome::short_lived;
  }

  // After a connection ended that we did not close at the end of the run.
  bool reconnect_due() const {
    if (closing) return false;
    Phases const* phases = run.published();
    return phases == nullptr || run.now_ns() < phases->drain_end;
  }

  asio::awaitable<void> backoff(std::uint32_t failures) {
    // First attempt at once but for a jitter (a server restart must not see every client
    // in the same millisecond); then 100 ms, 200 ms, ... up to 1.6 s.
    std::uint64_t const base =
        failures == 0 ? 0 : k_backoff_ns << std::min<std::uint32_t>(failures - 1, 4);
    std::uniform_int_distribution<std::uint64_t> jitter(0, k_backoff_jitter_ns);
    co_await sleep_until_ns(run, run.now_ns() + base + jitter(random));
  }

  asio::awaitable<void> wait_for_phases(Phases const*& phases, bool while_open) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    // Polling keeps the connect barrier simple; 10 ms is nothing next to a run.
    while ((phases = run.published()) == nullptr && (open || !while_open)) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(use_tuple);
    }
  }

  asio::awaitable<void> settle() {
    co_await pause_until(run.now_ns() + seconds_to_ns(run.options.settle_s));
    if (open) mark_ready();
  }

  // --drop-every: a random moment in the next interval (of the measured window) that
  // has not had its drop, or k_never.
  void plan_drop(Phases const& phases) {
    drop_at = k_never;
    if (run.options.drop_every_s <= 0 || churner) return;
    std::uint64_t const every = seconds_to_ns(run.options.drop_every_s);
    std::uint64_t const now = run.now_ns();
    std::uint64_t k = next_drop_interval;
    if (now > phases.measure_begin) k = std::max(k, (now - phases.measure_begin) / every);
    std::uint64_t const begin = std::max(now, phases.measure_begin + k * every);
    std::uint64_t const end = phases.measure_begin + (k + 1) * every;
    next_drop_interval = k + 1;
    if (begin >= end) return;
    std::uniform_int_distribution<std::uint64_t> at(begin, end - 1);
    std::uint64_t const when = at(random);
    if (when < phases.measure_end) drop_at = when;
  }

  // One connection of a stable member.
  template <class Ws> asio::awaitable<void> stable_drive(Ws& ws) {
    if (!registered) co_await settle();
    Phases const* phases = nullptr;
    co_await wait_for_phases(phases, true);
    if (phases == nullptr) co_return; // the connection ended first
    plan_drop(*phases);
    if (sender && open && run.now_ns() < phases->measure_end) {
      if (run.options.closed_loop()) {
        co_await send_closed_loop(ws, *phases);
      } else {
        co_await send_open_loop(ws, *phases);
      }
    }
    std::uint64_t const until = std::min(phases->drain_end, drop_at);
    while (open && run.now_ns() < until)
      co_await pause_until(until);
    if (!open) co_return;
    if (drop_at != k_never && run.now_ns() >= drop_at) {
      co_await drop(ws);
    } else {
      co_await close(ws);
    }
  }

  // Churner: from the warm-up to the end of the measured window, join, stay a while, leave.
  asio::awaitable<void> churn_loop() {
    Phases const* phases = nullptr;
    co_await wait_for_phases(phases, false);
    auto const& options = run.options;
    std::uniform_int_distribution<std::uint64_t> hold(seconds_to_ns(options.churn_hold_min_s),
                                                      seconds_to_ns(options.churn_hold_max_s));
    std::uniform_int_distribution<std::uint64_t> pause_between(0, 50'000'000);
    co_await sleep_until_ns(run, phases->warmup_begin + pause_between(random));
    while (run.now_ns() < phases->measure_end) {
      if (endpoint().tls) {
        co_await churn_visit<TlsWsStream>(*phases, hold);
      } else {
        co_await churn_visit<WsStream>(*phases, hold);
      }
      co_await sleep_until_ns(run, run.now_ns() + pause_between(random));
    }
  }

  // One join of a churner, for as long as `hold` draws.
  template <class Ws>
  asio::awaitable<void> churn_visit(Phases const& phases,
                                    std::uniform_int_distribution<std::uint64_t>& hold) {
    Ws ws = new_stream<Ws>(co_await asio::this_coro::executor);
    if (co_await connect(ws, endpoint().targets[group])) {
      std::uint64_t const leave_at = std::min(run.now_ns() + hold(random), phases.drain_end);
      co_await (read_loop(ws) && churn_stay(ws, leave_at));
    } else {
      worker.stats.failed_connects.fetch_add(1, std::memory_order_relaxed);
    }
  }

  template <class Ws> asio::awaitable<void> churn_stay(Ws& ws, std::uint64_t leave_at) {
    co_await settle();
    while (open && run.now_ns() < leave_at)
      co_await pause_until(leave_at);
    run.accounting.left(receiver);
    co_await close(ws);
  }
};

void LoadRunner::Impl::record_internal_error(std::exception_ptr e) {
  internal_errors.fetch_add(1);
  std::lock_guard lock(internal_error_mutex);
  if (!first_internal_error.empty()) return;
  try {
    std::rethrow_exception(e);
  } catch (std::exception const& ex) {
    first_internal_error = ex.what();
  } catch (...) {
    first_internal_error = "unknown exception";
  }
}

namespace {

// "" when a TLS handshake with `endpoint` succeeds or TCP cannot connect (which the run
// counts), else why the handshake failed.
asio::awaitable<std::string> tls_verdict(Endpoint const& endpoint, asio::ssl::context& context,
                                         std::chrono::nanoseconds timeout) {
  beast::ssl_stream<beast::tcp_stream> stream(co_await asio::this_coro::executor, context);
  auto& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_after(timeout);
  auto [connect_ec] = co_await tcp_stream.async_connect(endpoint.server, use_tuple);
  if (connect_ec) co_return "";
  core::prepare_client_handshake(stream, endpoint.host);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (!ec) co_return "";
  if (ec == beast::error::timeout) co_return "no TLS handshake within --connect-timeout";
  std::string why = core::tls_failure_reason(stream.native_handle(), ec);
  if (core::certificate_refused(stream.native_handle())) {
    why += " (a private CA: --ca-file FILE; a self-signed test setup: --insecure)";
  }
  co_return why;
}

char const* phase_name(Phases const* p, std::uint64_t now) {
  if (p == nullptr) return "connecting";
  if (now < p->measure_begin) return "warm-up";
  if (now < p->measure_end) return "measuring";
  if (now < p->drain_end) return "draining";
  return "closing";
}

} // namespace

// Each wss:// endpoint's certificate, checked once before the run (as each host is resolved
// once): a server the clients will not trust stops huddle-load here, with the reason, rather
// than every client counting the same handshake error.
void LoadRunner::Impl::check_certificates(asio::io_context& io) {
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (!endpoints[i].tls) continue;
    auto verdict = asio::co_spawn(
        io,
        tls_verdict(endpoints[i], *tls,
                    std::chrono::nanoseconds(seconds_to_ns(options.connect_timeout_s))),
        asio::use_future);
    io.restart();
    io.run();
    std::string const why = verdict.get();
    if (why.empty()) continue;
    auto const& url = options.url_templates[i];
    throw std::runtime_error("--url: TLS with " + url.authority() + " failed: " + why);
  }
}

Report LoadRunner::Impl::run() {
  // Resolve once per URL: thousands of clients must not each ask the resolver.
  query = options.query_string();
  asio::io_context resolver_ioc;
  tcp::resolver resolver(resolver_ioc);
  for (auto const& url : options.url_templates) {
    Endpoint endpoint;
    boost::system::error_code ec;
    auto const results = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error("--url: cannot resolve '" + url.host + "': " + ec.message());
    }
    // "localhost" often resolves to ::1 first while servers listen on 127.0.0.1.
    endpoint.server = results.begin()->endpoint();
    for (auto const& entry : results) {
      if (entry.endpoint().address().is_v4()) {
        endpoint.server = entry.endpoint();
        break;
      }
    }
    if (options.source_addresses > 1 &&
        !(endpoint.server.address().is_v4() && endpoint.server.address().is_loopback())) {
      throw std::runtime_error("--source-addresses: needs a 127.0.0.0/8 server address");
    }
    endpoint.tls = url.tls;
    endpoint.host = url.host;
    endpoint.host_header = url.host_header();
    for (std::uint32_t g = 0; g < options.groups; ++g) {
      endpoint.targets.push_back(url.target(options.group_base + g, query));
    }
    endpoints.push_back(std::move(endpoint));
  }
  check_certificates(resolver_ioc);

  for (std::uint32_t t = 0; t < options.threads; ++t)
    workers.emplace_back();

  // Stable clients first, group by group; the first senders_per_group of each group send.
  std::uint32_t const spg = accounting.senders_per_group();
  std::uint32_t index = 0;
  std::vector<std::vector<Client*>> stable_by_group(options.groups);
  for (std::uint32_t g = 0; g < options.groups; ++g) {
    for (std::uint32_t c = 0; c < options.clients; ++c, ++index) {
      std::optional<Accounting::SenderId> sender;
      if (c < spg) sender = accounting.sender_id(g, c);
      auto const receiver = accounting.add_receiver(g, sender);
      clients.push_back(std::make_unique<Client>(*this, workers[index % workers.size()], index, g,
                                                 false, sender, receiver));
      stable_by_group[g].push_back(clients.back().get());
    }
  }
  std::size_t const stable_count = clients.size();
  for (std::uint32_t g = 0; g < options.groups; ++g) {
    for (std::uint32_t c = 0; c < options.churners; ++c, ++index) {
      auto const receiver = accounting.add_receiver(g, std::nullopt, false);
      clients.push_back(std::make_unique<Client>(*this, workers[index % workers.size()], index, g,
                                                 true, std::nullopt, receiver));
    }
  }
  // Closed loop: a sender's window is freed by what its group's last member sees (the
  // one before it, for the last member itself; itself only with --echo and one member).
  if (options.closed_loop() && spg > 0) {
    for (auto& members : stable_by_group) {
      for (std::uint32_t k = 0; k < spg; ++k) {
        Client* const sender = members[k];
        Client* watcher = members.back();
        if (watcher == sender && members.size() > 1) watcher = members[members.size() - 2];
        if (watcher->watched.empty()) watcher->watched.assign(spg, nullptr);
        watcher->watched[k] = sender;
      }
    }
  }

  auto on_done = [this](std::exception_ptr e) {
    if (e) record_internal_error(e);
  };
  pending_connects = static_cast<std::int64_t>(stable_count);
  t0 = Clock::now();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto& client = *clients[i];
    if (client.churner) {
      asio::co_spawn(client.worker.ioc, client.churn_loop(), on_done);
    } else {
      std::uint64_t const at = options.connect_rate > 0
                                   ? seconds_to_ns(static_cast<double>(i) / options.connect_rate)
                                   : 0;
      asio::co_spawn(client.worker.ioc, client.stable_session(at), on_done);
    }
  }

  std::vector<std::thread> threads;
  running_workers = static_cast<int>(workers.size());
  for (auto& worker : workers) {
    threads.emplace_back([this, &worker] {
      worker.ioc.run();
      running_workers.fetch_sub(1);
    });
  }

  auto sum = [this](auto member) {
    std::int64_t total = 0;
    for (auto& w : workers)
      total += static_cast<std::int64_t>((w.stats.*member).load());
    return total;
  };
  auto error_sum = [this] {
    std::uint64_t total = 0;
    for (auto& w : workers)
      for (auto& e : w.stats.errors)
        total += e.load();
    return total;
  };

  Report report;
  report.options = options;
  report.planned_connections = options.connections();
  double const last_connect_s =
      options.connect_rate > 0 ? static_cast<double>(stable_count) / options.connect_rate : 0;
  std::uint64_t const connect_deadline =
      seconds_to_ns(last_connect_s + options.connect_timeout_s + 1);
  // Closing thousands of sockets takes a moment; after this the run is cut short.
  std::uint64_t close_grace = seconds_to_ns(std::max(
      3.0, options.connect_timeout_s + static_cast<double>(options.connections()) / 5000.0));

  bool const tty = isatty(STDERR_FILENO) == 1;
  std::uint64_t next_tick = 1'000'000'000;
  std::uint64_t hard_deadline = k_never;
  std::int64_t last_sent = 0;
  std::int64_t last_delivered = 0;
  bool stopped = false;
  while (running_workers.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::uint64_t const now = now_ns();
    if (!phases_ready.load() && (pending_connects.load() <= 0 || now >= connect_deadline)) {
      Phases p;
      p.warmup_begin = now;
      p.measure_begin = now + seconds_to_ns(options.warmup_s);
      p.measure_end = p.measure_begin + seconds_to_ns(options.duration_s);
      p.drain_end =
          p.measure_end + seconds_to_ns(options.senders_per_group() > 0 ? options.drain_s : 0);
      accounting.set_window(MeasuredWindow{p.measure_begin, p.measure_end});
      phases = p;
      phases_ready.store(true, std::memory_order_release);
      report.connect_phase_s = static_cast<double>(now) / 1e9;
      report.connected =
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, sum(&WorkerStats::open)));
      hard_deadline = p.drain_end + close_grace;
    }
    report.peak_connected =
        std::max(report.peak_connected,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(0, sum(&WorkerStats::open))));
    if (now >= hard_deadline && !stopped) {
      for (auto& w : workers)
        w.ioc.stop();
      stopped = true;
    }
    if (now < next_tick) continue;
    next_tick += 1'000'000'000;
    Sample s;
    s.t_s = static_cast<double>(now) / 1e9;
    s.connected = static_cast<std::uint64_t>(std::max<std::int64_t>(0, sum(&WorkerStats::open)));
    auto const sent = sum(&WorkerStats::sent);
    auto const delivered = sum(&WorkerStats::delivered);
    s.sent = static_cast<std::uint64_t>(sent);
    s.delivered = static_cast<std::uint64_t>(delivered);
    s.errors = error_sum();
    report.timeline.push_back(s);
    if (options.progress) {
      std::fprintf(stderr,
                   "%s[%6.1fs] %-10s open %llu/%llu  sent %lld (%lld/s)  delivered %lld (%lld/s)"
                   "  errors %llu%s",
                   tty ? "\r\033[K" : "", s.t_s, phase_name(published(), now),
                   static_cast<unsigned long long>(s.connected),
                   static_cast<unsigned long long>(report.planned_connections),
                   static_cast<long long>(sent), static_cast<long long>(sent - last_sent),
                   static_cast<long long>(delivered),
                   static_cast<long long>(delivered - last_delivered),
                   static_cast<unsigned long long>(s.errors), tty ? "" : "\n");
      std::fflush(stderr);
    }
    last_sent = sent;
    last_delivered = delivered;
  }
  if (options.progress && tty) std::fputs("\n", stderr);
  for (auto& thread : threads)
    thread.join();

  report.elapsed_s = static_cast<double>(now_ns()) / 1e9;
  report.measured_s = options.duration_s;
  report.tally = accounting.tally();
  for (auto& w : workers) {
    report.latency_ns.merge(w.latency);
    report.connects += w.stats.connects.load();
    report.failed_connects += w.stats.failed_connects.load();
    report.reconnects += w.stats.reconnects.load();
    report.deflate_connects += w.stats.deflate_connects.load();
    report.delivered_all_phases += w.stats.delivered.load();
    for (std::size_t i = 0; i < k_error_kinds; ++i) {
      report.errors[i] += w.stats.errors[i].load();
      if (report.error_examples[i].empty()) report.error_examples[i] = w.error_examples[i];
    }
  }
  if (stopped) report.errors[static_cast<std::size_t>(ErrorKind::close_timeout)] += 1;
  if (internal_errors.load() > 0) {
    std::fprintf(stderr, "huddle-load: %llu client coroutine(s) failed; first: %s\n",
                 static_cast<unsigned long long>(internal_errors.load()),
                 first_internal_error.c_str());
  }
  // Frames (and the sockets in them) go with their io_context, before the clients they use.
  workers.clear();
  clients.clear();
  return report;
}

LoadRunner::LoadRunner(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
LoadRunner::~LoadRunner() = default;
Report LoadRunner::run() {
  return impl_->run();
}

} // namespace huddle::load
