// The server's metrics and GET /metrics (Prometheus text format 0.0.4).
//
// ServerMetrics holds the counters the net layer updates as things happen (core::Counter:
// a relaxed add on a per-thread cache line, no lock, no allocation); everything else is read
// when scraped: connections, groups, send queues (ServerState), messages offered (the
// ChatManager), the history writer (the broker) and the process (/proc/self). Every metric
// is listed in docs/operations.md, "Metrics".
//
// Who may scrape (metrics_access()): with ServerConfig::metrics_token, whoever sends it as
// `Authorization: Bearer`; without, loopback clients only, and no request a proxy forwarded.
#pragma once

#include "core/metrics.hpp"
#include "net/http_response.hpp"

#include <boost/asio/awaitable.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace huddle::net {

class ServerState;

// A counter per value of one label, for a fixed list of values and "other".
template <std::size_t N> class LabeledCounter {
public:
  explicit constexpr LabeledCounter(std::array<std::string_view, N> values) : values_(values) {}
  void add(std::string_view value) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      if (values_[i] == value) {
        counters_[i].add();
        return;
      }
    counters_[N].add();
  }
  // Writes the family: every value, zero or not, so a rate() sees each series from the start.
  void write(core::Exposition& out, std::string_view name, std::string_view label,
             std::string_view help, bool with_other = true) const {
    out.family(name, core::MetricType::counter, help);
    for (std::size_t i = 0; i < N; ++i)
      out.sample(name, counters_[i].value(), {{label, values_[i]}});
    if (with_other) out.sample(name, counters_[N].value(), {{label, "other"}});
  }

private:
  std::array<std::string_view, N> values_;
  std::array<core::Counter, N + 1> counters_; // the last: "other"
};

struct ServerMetrics {
  core::Counter messages_received;    // client messages that passed parsing and the rate limit
  core::Counter frames_written;       // data frames written to WebSocket clients
  core::Counter bytes_written;        // bytes written to WebSocket clients, all frames
  core::Counter deliveries_dropped;   // frames a session's queue refused (full or closed)
  core::Counter slow_consumer_closes; // sessions closed with 1008 "slow consumer"
  // Close frames the server sent, by code (a peer's close is echoed; "none": no code).
  LabeledCounter<11> closes{
      {"none", "1000", "1001", "1002", "1003", "1007", "1008", "1009", "1010", "1011", "1012"}};
  // WebSocket upgrades answered with an HTTP error, by status.
  LabeledCounter<7> refused_upgrades{{"400", "401", "403", "426", "429", "500", "503"}};
  // POST /api/login outcomes.
  LabeledCounter<4> logins{{"success", "invalid_credentials", "throttled", "busy"}};

  void count_close(std::uint16_t code) noexcept;
  void count_refused_upgrade(unsigned status) noexcept;
};

// Why a scrape is refused, or nothing when `request` (from `client`, as resolved through the
// trusted proxies) may read the metrics.
std::optional<Response> metrics_access(const Request& request, const ServerState& state,
                                       std::string_view client);

// The exposition of everything: the body of GET /metrics.
boost::asio::awaitable<std::string> render_metrics(ServerState& state);

// GET /metrics: access, then the exposition with its content type.
boost::asio::awaitable<Response> metrics_route(const Request& request, ServerState& state,
                                               const std::string& client);

// The process's own figures as Prometheus client libraries name them (process_*), from
// /proc/self; nothing where /proc cannot be read.
void write_process_metrics(core::Exposition& out);

// From /proc/self/stat's text: user+system CPU time and the start time after boot, in clock
// ticks; none when it cannot be parsed.
struct ProcStat {
  std::uint64_t cpu_ticks = 0;
  std::uint64_t start_ticks = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_pages = 0;
};
std::optional<ProcStat> parse_proc_stat(std::string_view text);

} // namespace huddle::net
