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
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unistd.h>

#include "core/client_tls.hpp"
#include "core/use_tuple.hpp"
#include "load/accounting.hpp"
#include "load/client_fsm.hpp"
#include "load/histogram.hpp"
#include "load/run_phases.hpp"

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

// Per-thread counters, read by the progress line while the run goes on.
struct alignas(64) WorkerStats {
  // By ClientSink::Event. Open connections: connected - disconnected.
  std::array<std::atomic<std::uint64_t>, ClientSink::k_events> events{};
  std::array<std::atomic<std::uint64_t>, k_error_kinds> errors{};

  std::uint64_t operator[](ClientSink::Event event) const {
    return events[static_cast<std::size_t>(event)].load(std::memory_order_relaxed);
  }
};

struct Worker {
  asio::io_context ioc{1}; // one thread runs it: no locking inside Asio
  WorkerStats stats;
  Histogram latency; // only this worker's thread records
  // The first message seen per error kind, for the report; this worker's thread only.
  std::array<std::string, k_error_kinds> error_examples;
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
  ClientConfig client_config;
  Accounting accounting;
  Clock::time_point t0 = Clock::now();
  std::string query;               // options.query_string()
  std::vector<Endpoint> endpoints; // one per options.url_templates
  // For wss:// endpoints (or when --ca-file is given, so a bad file is found either way);
  // shared by every connection of every thread.
  std::optional<asio::ssl::context> tls;

  std::deque<Worker> workers;
  std::vector<std::unique_ptr<Client>> clients; // by global index
  std::size_t stable_count = 0;                 // the first clients; then the churners

  Phases phases; // written once, then published by phases_ready
  std::atomic<bool> phases_ready{false};
  std::atomic<int> running_workers{0};
  std::atomic<std::uint64_t> internal_errors{0};
  std::mutex internal_error_mutex;
  std::string first_internal_error;

  explicit Impl(Options o)
      : options(std::move(o)), client_config(load::client_config(options)),
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
  void resolve_endpoints(asio::io_context& io);
  void check_certificates(asio::io_context& io);
  void create_clients(RunPhases const& timeline);
  void start_clients();
  void monitor(Report& report, RunPhases& timeline);
  void collect(Report& report, bool stopped);
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

template <class Ws>
std::pair<ErrorKind, std::string> classify_read_error(Ws& ws, boost::system::error_code ec) {
  if (ec == websocket::error::closed) {
    auto const& reason = ws.reason();
    return {error_for_close_code(reason.code),
            std::to_string(reason.code) + " " + std::string(reason.reason.c_str())};
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == beast::http::error::end_of_stream || ec == asio::error::broken_pipe) {
    return {ErrorKind::connection_lost, ec.message()};
  }
  return {ErrorKind::read_error, ec.message()};
}

} // namespace

// The I/O driver of one simulated member: performs what its ClientFsm asks for with
// Beast and Asio, and feeds back what came of it. The socket lives in the coroutine frame,
// so destroying an io_context destroys every I/O object with it, whatever state it was in.
struct Client final : ClientSink {
  LoadRunner::Impl& run;
  Worker& worker;
  std::uint32_t group; // 0-based
  ClientFsm fsm;
  asio::steady_timer* pause = nullptr; // the drive's current wait, cut short by the reader

  Client(LoadRunner::Impl& r, Worker& w, std::uint32_t g, ClientIdentity const& identity)
      : run(r), worker(w), group(g), fsm(r.client_config, identity, r.accounting, *this) {}

  void count(Event event) override {
    worker.stats.events[static_cast<std::size_t>(event)].fetch_add(1, std::memory_order_relaxed);
  }
  void count(ErrorKind kind, std::string_view detail) override {
    auto const i = static_cast<std::size_t>(kind);
    worker.stats.errors[i].fetch_add(1, std::memory_order_relaxed);
    if (worker.error_examples[i].empty()) worker.error_examples[i] = detail;
  }
  void latency(std::uint64_t ns) override { worker.latency.record(ns); }
  void wake(std::uint32_t sender_index) override {
    Client* const target = run.clients[sender_index].get();
    asio::post(target->worker.ioc, [target] {
      if (target->fsm.state() == ClientFsm::State::window_full && target->pause != nullptr) {
        target->pause->cancel();
      }
    });
  }

  Moment moment() const { return Moment{run.now_ns(), run.published()}; }

  void cut_pause() {
    if (pause != nullptr) pause->cancel();
  }

  // Waits until `at_ns` or until cut short, and tells the machine which.
  asio::awaitable<Action> wait(std::uint64_t at_ns) {
    std::uint64_t const now = run.now_ns();
    if (at_ns <= now) co_return fsm.waited(moment(), false);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    if (at_ns == k_never) {
      timer.expires_at(Clock::time_point::max());
    } else {
      timer.expires_after(std::chrono::nanoseconds(at_ns - now));
    }
    pause = &timer;
    auto [ec] = co_await timer.async_wait(use_tuple);
    pause = nullptr;
    co_return fsm.waited(moment(), static_cast<bool>(ec));
  }

  // Client i's endpoint is the (i mod N)th --url, on every connection it makes.
  std::size_t endpoint_index() const { return fsm.identity().index % run.endpoints.size(); }
  Endpoint const& endpoint() const { return run.endpoints[endpoint_index()]; }

  // The request target, with ?since= when the member resumes (docs/protocol.md).
  std::string target(std::optional<std::uint64_t> since) const {
    if (!since) return endpoint().targets[group];
    return run.options.url_templates[endpoint_index()].target(run.options.group_base + group,
                                                              query_with_since(run.query, *since));
  }

  // A new stream for this client's endpoint: plain or TLS, as its URL says.
  template <class Ws> Ws new_stream(asio::any_io_executor executor) {
    if constexpr (k_tls<Ws>) {
      return Ws(std::move(executor), *run.tls);
    } else {
      return Ws(std::move(executor));
    }
  }

  // The member's life: everything between connections, and each connection.
  asio::awaitable<void> session() {
    Action action = fsm.start(moment());
    for (;;) {
      switch (action.kind) {
      case Action::Kind::wait:
        action = co_await wait(action.until_ns);
        break;
      case Action::Kind::connect:
        if (endpoint().tls) {
          action = co_await connection<TlsWsStream>(action.since);
        } else {
          action = co_await connection<WsStream>(action.since);
        }
        break;
      case Action::Kind::done:
        co_return;
      default:
        throw std::logic_error("client state machine: I/O asked for without a connection");
      }
    }
  }

  template <class Ws> asio::awaitable<Action> connection(std::optional<std::uint64_t> since) {
    Ws ws = new_stream<Ws>(co_await asio::this_coro::executor);
    ConnectResult const result = co_await connect(ws, target(since));
    Action const action = fsm.connected(moment(), result);
    if (result.error) co_return action;
    co_await (read_loop(ws) && drive(ws, action));
    co_return fsm.ended(moment());
  }

  template <class Ws> asio::awaitable<ConnectResult> connect(Ws& ws, std::string const& target) {
    auto& options = run.options;
    auto& stream = beast::get_lowest_layer(ws);
    stream.expires_after(std::chrono::nanoseconds(seconds_to_ns(options.connect_timeout_s)));
    if (options.source_addresses > 1) {
      // Each source address has its own ephemeral port range (RFC 6056): spreading over
      // 127.0.0.0/8 lifts the ~28k connections per (source, destination) pair.
      boost::system::error_code ec;
      auto& socket = stream.socket();
      socket.open(tcp::v4(), ec);
      auto const source =
          asio::ip::address_v4(0x7f000001u + fsm.identity().index % options.source_addresses);
      if (!ec) socket.bind(tcp::endpoint(source, 0), ec);
      if (ec) {
        co_return ConnectResult{ErrorKind::connect_error,
                                "bind " + source.to_string() + ": " + ec.message()};
      }
    }
    auto [connect_ec] = co_await stream.async_connect(endpoint().server, use_tuple);
    if (connect_ec) {
      co_return ConnectResult{connect_ec == asio::error::connection_refused
                                  ? ErrorKind::connect_refused
                              : connect_ec == beast::error::timeout ? ErrorKind::connect_timeout
                                                                    : ErrorKind::connect_error,
                              connect_ec.message()};
    }
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    if constexpr (k_tls<Ws>) {
      // Within the same --connect-timeout as the TCP connect.
      auto& tls = ws.next_layer();
      core::prepare_client_handshake(tls, endpoint().host);
      auto [tls_ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (tls_ec) {
        co_return ConnectResult{tls_ec == beast::error::timeout ? ErrorKind::connect_timeout
                                                                : ErrorKind::handshake_error,
                                "TLS: " + core::tls_failure_reason(tls.native_handle(), tls_ec)};
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
      co_return ConnectResult{hs_ec == websocket::error::upgrade_declined
                                  ? ErrorKind::handshake_rejected
                              : hs_ec == beast::error::timeout ? ErrorKind::connect_timeout
                                                               : ErrorKind::handshake_error,
                              hs_ec == websocket::error::upgrade_declined
                                  ? "HTTP " + std::to_string(response.result_int())
                                  : hs_ec.message()};
    }
    ws.text(true);
    ConnectResult result;
    result.deflate = options.deflate && deflate_accepted(response);
    co_return result;
  }

  template <class Ws> asio::awaitable<void> read_loop(Ws& ws) {
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
      if (ec) {
        auto const [kind, detail] = classify_read_error(ws, ec);
        fsm.read_ended(kind, detail);
        break;
      }
      auto const data = buffer.cdata();
      if (fsm.frame(moment(), std::string_view(static_cast<char const*>(data.data()), data.size())))
        cut_pause();
      buffer.consume(n);
    }
    // Whatever the drive waits for, this connection will not bring it.
    cut_pause();
  }

  // The drive of one connection, from the action fsm.connected() returned to the end.
  template <class Ws> asio::awaitable<void> drive(Ws& ws, Action action) {
    for (;;) {
      switch (action.kind) {
      case Action::Kind::wait:
        action = co_await wait(action.until_ns);
        break;
      case Action::Kind::write: {
        auto [ec, n] = co_await ws.async_write(asio::buffer(action.frame), use_tuple);
        if (ec) {
          std::string const why = ec.message();
          action = fsm.written(moment(), why);
        } else {
          action = fsm.written(moment(), std::nullopt);
        }
        break;
      }
      case Action::Kind::close: {
        auto [ec] = co_await ws.async_close(websocket::close_code::normal, use_tuple);
        action = fsm.closed(moment(), ec == beast::error::timeout);
        break;
      }
      case Action::Kind::drop: { // the socket goes without a close frame
        boost::system::error_code ignored;
        beast::get_lowest_layer(ws).socket().close(ignored);
        action = fsm.dropped(moment());
        break;
      }
      case Action::Kind::end_connection:
        co_return;
      case Action::Kind::connect:
      case Action::Kind::done:
        throw std::logic_error("client state machine: a new connection while one is open");
      }
    }
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

// Resolve once per URL: thousands of clients must not each ask the resolver.
void LoadRunner::Impl::resolve_endpoints(asio::io_context& io) {
  query = options.query_string();
  tcp::resolver resolver(io);
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
}

// Stable clients first, group by group (the first senders_per_group of each group send),
// then the churners; spread over the workers round robin.
void LoadRunner::Impl::create_clients(RunPhases const& timeline) {
  for (std::uint32_t t = 0; t < options.threads; ++t)
    workers.emplace_back();
  std::uint32_t const spg = accounting.senders_per_group();
  std::uint32_t index = 0;
  std::vector<std::vector<Client*>> stable_by_group(options.groups);
  for (std::uint32_t g = 0; g < options.groups; ++g) {
    for (std::uint32_t c = 0; c < options.clients; ++c, ++index) {
      ClientIdentity identity;
      identity.index = index;
      identity.connect_at_ns = timeline.connect_at_ns(index);
      if (c < spg) identity.sender = accounting.sender_id(g, c);
      identity.receiver = accounting.add_receiver(g, identity.sender);
      clients.push_back(
          std::make_unique<Client>(*this, workers[index % workers.size()], g, identity));
      stable_by_group[g].push_back(clients.back().get());
    }
  }
  stable_count = clients.size();
  for (std::uint32_t g = 0; g < options.groups; ++g) {
    for (std::uint32_t c = 0; c < options.churners; ++c, ++index) {
      ClientIdentity identity;
      identity.index = index;
      identity.churner = true;
      identity.receiver = accounting.add_receiver(g, std::nullopt, false);
      clients.push_back(
          std::make_unique<Client>(*this, workers[index % workers.size()], g, identity));
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
        watcher->fsm.watch(k, &sender->fsm);
      }
    }
  }
}

void LoadRunner::Impl::start_clients() {
  auto on_done = [this](std::exception_ptr e) {
    if (e) record_internal_error(e);
  };
  t0 = Clock::now();
  for (auto& client : clients)
    asio::co_spawn(client->worker.ioc, client->session(), on_done);
}

// Until every worker has run out of work: publishes the phases when the connect phase
// ends, stops the workers when closing overruns, samples the timeline and prints progress.
void LoadRunner::Impl::monitor(Report& report, RunPhases& timeline) {
  using Event = ClientSink::Event;
  auto sum = [this](Event event) {
    std::uint64_t total = 0;
    for (auto& w : workers)
      total += w.stats[event];
    return total;
  };
  auto open_now = [&sum] {
    // Disconnects read first, so their connects are in the second read; a torn read
    // (relaxed counters) is held at zero rather than wrapping.
    std::uint64_t const disconnected = sum(Event::disconnected);
    std::uint64_t const connected = sum(Event::connected);
    return connected - std::min(connected, disconnected);
  };
  auto error_sum = [this] {
    std::uint64_t total = 0;
    for (auto& w : workers)
      for (auto& e : w.stats.errors)
        total += e.load();
    return total;
  };
  bool const tty = isatty(STDERR_FILENO) == 1;
  Sample last;
  while (running_workers.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::uint64_t const now = now_ns();
    auto const pending_connects = static_cast<std::int64_t>(stable_count) -
                                  static_cast<std::int64_t>(sum(Event::first_attempt_over));
    auto const tick = timeline.tick(now, pending_connects);
    if (tick.publish) {
      phases = *timeline.phases();
      accounting.set_window(MeasuredWindow{phases.measure_begin, phases.measure_end});
      phases_ready.store(true, std::memory_order_release);
      report.connect_phase_s = static_cast<double>(now) / 1e9;
      report.connected = open_now();
    }
    report.peak_connected = std::max(report.peak_connected, open_now());
    if (tick.stop) {
      for (auto& w : workers)
        w.ioc.stop();
    }
    if (!tick.sample) continue;
    Sample s;
    s.t_s = static_cast<double>(now) / 1e9;
    s.connected = open_now();
    s.sent = sum(Event::sent);
    s.delivered = sum(Event::delivered);
    s.errors = error_sum();
    report.timeline.push_back(s);
    if (options.progress) {
      std::fprintf(stderr,
                   "%s[%6.1fs] %-10s open %llu/%llu  sent %lld (%lld/s)  delivered %lld (%lld/s)"
                   "  errors %llu%s",
                   tty ? "\r\033[K" : "", s.t_s, phase_name(published(), now),
                   static_cast<unsigned long long>(s.connected),
                   static_cast<unsigned long long>(report.planned_connections),
                   static_cast<long long>(s.sent), static_cast<long long>(s.sent - last.sent),
                   static_cast<long long>(s.delivered),
                   static_cast<long long>(s.delivered - last.delivered),
                   static_cast<unsigned long long>(s.errors), tty ? "" : "\n");
      std::fflush(stderr);
    }
    last = s;
  }
  if (options.progress && tty) std::fputs("\n", stderr);
}

// The workers' figures, merged into the report once their threads have joined.
void LoadRunner::Impl::collect(Report& report, bool stopped) {
  report.elapsed_s = static_cast<double>(now_ns()) / 1e9;
  report.measured_s = options.duration_s;
  report.tally = accounting.tally();
  for (auto& w : workers) {
    report.latency_ns.merge(w.latency);
    report.connects += w.stats[ClientSink::Event::connected];
    report.failed_connects += w.stats[ClientSink::Event::connect_failed];
    report.reconnects += w.stats[ClientSink::Event::reconnected];
    report.deflate_connects += w.stats[ClientSink::Event::deflate_granted];
    report.delivered_all_phases += w.stats[ClientSink::Event::delivered];
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
}

Report LoadRunner::Impl::run() {
  {
    asio::io_context io;
    resolve_endpoints(io);
    check_certificates(io);
  }
  RunPhases timeline(options, std::uint64_t{options.groups} * options.clients);
  create_clients(timeline);
  start_clients();

  std::vector<std::thread> threads;
  running_workers = static_cast<int>(workers.size());
  for (auto& worker : workers) {
    threads.emplace_back([this, &worker] {
      worker.ioc.run();
      running_workers.fetch_sub(1);
    });
  }
  Report report;
  report.options = options;
  report.planned_connections = options.connections();
  monitor(report, timeline);
  for (auto& thread : threads)
    thread.join();
  collect(report, timeline.stopped());
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
