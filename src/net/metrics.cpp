#include "net/metrics.hpp"

#include "net/client_address.hpp"
#include "net/server_state.hpp"

#include <huddle/version.hpp>

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace huddle::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;

void ServerMetrics::count_close(std::uint16_t code) noexcept {
  if (code == 0) {
    closes.add("none");
    return;
  }
  std::array<char, 8> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), code).ptr;
  closes.add(std::string_view(digits.data(), end));
}

void ServerMetrics::count_refused_upgrade(unsigned status) noexcept {
  std::array<char, 8> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), status).ptr;
  refused_upgrades.add(std::string_view(digits.data(), end));
}

namespace {

// Compares in time independent of where they differ: the token is a secret.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

std::optional<Response> metrics_access(const Request& request, const ServerState& state,
                                       std::string_view client) {
  const std::string& token = state.config().metrics_token;
  if (!token.empty()) {
    constexpr std::string_view bearer = "Bearer ";
    const std::string_view authorization = request[http::field::authorization];
    if (authorization.starts_with(bearer) &&
        same_secret(authorization.substr(bearer.size()), token))
      return std::nullopt;
    Response response = json_error(request, HttpError::unauthorized,
                                   "GET /metrics needs the metrics token as Authorization: Bearer");
    response.set(http::field::www_authenticate, "Bearer");
    return response;
  }
  // Without a token, only this host: a reverse proxy in front would make every client look
  // local, so a forwarded request is refused too (docs/operations.md, "Metrics").
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(client, ec);
  const bool forwarded = request.count("X-Forwarded-For") > 0 || request.count("Forwarded") > 0;
  if (!ec && is_loopback(address) && !forwarded) return std::nullopt;
  return json_error(request, HttpError::forbidden,
                    "GET /metrics answers loopback clients only; give the server a metrics "
                    "token to scrape it from elsewhere");
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are
  // counted after the last ')'. Field numbers as proc(5) gives them.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::istringstream fields{std::string(text.substr(close + 1))};
  std::vector<std::string> values;
  for (std::string field; fields >> field;)
    values.push_back(std::move(field));
  // values[0] is field 3 (state).
  const auto field = [&](std::size_t number, std::uint64_t& out) {
    if (number - 3 >= values.size()) return false;
    const std::string& value = values[number - 3];
    const auto result = std::from_chars(value.data(), value.data() + value.size(), out);
    return result.ec == std::errc() && result.ptr == value.data() + value.size();
  };
  ProcStat stat;
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  if (!field(14, utime) || !field(15, stime) || !field(22, stat.start_ticks) ||
      !field(23, stat.virtual_bytes) || !field(24, stat.resident_pages))
    return std::nullopt;
  stat.cpu_ticks = utime + stime;
  return stat;
}

void write_process_metrics(core::Exposition& out) {
#if defined(__linux__)
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (const auto stat = parse_proc_stat(read_file("/proc/self/stat"));
      stat && ticks_per_second > 0 && page_size > 0) {
    const auto ticks = static_cast<double>(ticks_per_second);
    out.family("process_cpu_seconds_total", core::MetricType::counter,
               "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", static_cast<double>(stat->cpu_ticks) / ticks);
    out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
              static_cast<double>(stat->resident_pages) * static_cast<double>(page_size));
    out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
              static_cast<double>(stat->virtual_bytes));
    // Boot time (btime in /proc/stat) plus the start after boot.
    std::istringstream proc_stat(read_file("/proc/stat"));
    for (std::string line; std::getline(proc_stat, line);) {
      if (!line.starts_with("btime ")) continue;
      std::uint64_t boot = 0;
      const auto result = std::from_chars(line.data() + 6, line.data() + line.size(), boot);
      if (result.ec == std::errc())
        out.gauge("process_start_time_seconds",
                  "Start time of the process since unix epoch in seconds.",
                  static_cast<double>(boot) + static_cast<double>(stat->start_ticks) / ticks);
      break;
    }
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++fds;
  if (!ec) // the directory's own descriptor, open while it was read, is not the process's
    out.gauge("process_open_fds", "Number of open file descriptors.",
              static_cast<double>(fds > 0 ? fds - 1 : 0));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
    out.gauge("process_max_fds", "Maximum number of open file descriptors.",
              limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                              : static_cast<double>(limit.rlim_cur));
#else
  (void)out;
#endif
}

asio::awaitable<std::string> render_metrics(ServerState& state) {
  const ServerMetrics& metrics = state.metrics();
  core::Exposition out;
  out.family("huddle_build_info", core::MetricType::gauge,
             "Always 1; the version label names the running huddle");
  out.sample("huddle_build_info", 1.0, {{"version", k_version}});
  out.gauge("huddle_connections", "Open WebSocket connections (upgraded or upgrading)",
            static_cast<double>(state.session_count()));
  out.gauge("huddle_groups", "Groups with at least one member connected to this server",
            static_cast<double>(co_await state.chat().group_count()));
  out.counter("huddle_messages_received_total",
              "Messages clients sent that passed parsing and the rate limit",
              metrics.messages_received.value());
  out.counter("huddle_messages_delivered_total",
              "Messages put on members' send queues, one per recipient",
              state.chat().messages_offered());
  out.counter("huddle_frames_written_total",
              "Text frames (messages, acks, presence, welcomes) written to WebSocket clients",
              metrics.frames_written.value());
  out.counter("huddle_bytes_written_total",
              "Bytes written to WebSocket clients, frame headers and control frames included",
              metrics.bytes_written.value());
  out.counter("huddle_deliveries_dropped_total",
              "Frames a connection's send queue refused because it was full or closing",
              metrics.deliveries_dropped.value());
  out.counter("huddle_slow_consumer_closes_total",
              "Connections closed with 1008 because their send queue overflowed",
              metrics.slow_consumer_closes.value());
  metrics.closes.write(out, "huddle_close_frames_sent_total", "code",
                       "Close frames the server sent, by close code (none: the peer's close "
                       "had no code)");
  metrics.refused_upgrades.write(out, "huddle_upgrades_refused_total", "status",
                                 "WebSocket upgrade requests answered with an HTTP error, by "
                                 "status");
  metrics.logins.write(out, "huddle_logins_total", "result", "POST /api/login outcomes by result",
                       false);
  const SendQueueStats queues = state.sessions().send_queue_stats();
  out.gauge("huddle_send_queue_bytes", "Bytes queued for WebSocket clients, all connections",
            static_cast<double>(queues.total_bytes));
  out.gauge("huddle_send_queue_max_bytes", "Bytes queued for the connection with the most queued",
            static_cast<double>(queues.max_bytes));
  state.broker().write_metrics(out);
  write_process_metrics(out);
  co_return out.text();
}

asio::awaitable<Response> metrics_route(const Request& request, ServerState& state,
                                        const std::string& client) {
  if (request.method() != http::verb::get)
    co_return json_error(request, HttpError::method_not_allowed, "use GET");
  if (auto refusal = metrics_access(request, state, client)) co_return std::move(*refusal);
  Response response{http::status::ok, request.version()};
  response.set(http::field::server, "huddle");
  response.set(http::field::content_type, core::Exposition::k_content_type);
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = co_await render_metrics(state);
  response.prepare_payload();
  co_return response;
}

} // namespace huddle::net
