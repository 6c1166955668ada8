#include "load/report.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <numeric>

namespace huddle::load {

namespace json = boost::json;

namespace {

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

// Three significant decimals are all a percentile from 1/64-wide buckets can claim.
double round3(double value) {
  return std::round(value * 1000.0) / 1000.0;
}

// printf into a std::string; the attribute keeps format checking on every call.
[[gnu::format(printf, 1, 2)]] std::string format(char const* fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

std::string percentile_label(double p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "p%g", p);
  return buf;
}

} // namespace

std::uint64_t Report::error_total() const noexcept {
  return std::accumulate(errors.begin(), errors.end(), std::uint64_t{0});
}

double Report::deliveries_per_s() const noexcept {
  return measured_s > 0 ? static_cast<double>(tally.delivered) / measured_s : 0.0;
}

double Report::sends_per_s() const noexcept {
  return measured_s > 0 ? static_cast<double>(tally.sent) / measured_s : 0.0;
}

std::string Report::to_json() const {
  json::object out;
  out["scenario"] = options.scenario;
  out["url"] = options.url;
  out["groups"] = options.groups;
  out["clients_per_group"] = options.clients;
  out["senders_per_group"] = options.senders_per_group();
  out["churners_per_group"] = options.churners;
  out["mode"] = options.idle ? "idle" : options.closed_loop() ? "closed" : "open";
  out["rate_per_sender"] = options.rate;
  out["window"] = options.window;
  out["size"] = options.size;
  out["payload"] = payload_kind_name(options.payload);
  out["threads"] = options.threads;
  out["echo"] = options.echo;
  out["planned_connections"] = planned_connections;
  out["connected"] = connected;
  out["peak_connected"] = peak_connected;
  out["connects"] = connects;
  out["failed_connects"] = failed_connects;
  out["reconnects"] = reconnects;
  out["deflate"] = json::object{{"offered", options.deflate}, {"accepted", deflate_connects}};
  out["drop_every_s"] = options.drop_every_s;
  out["connect_phase_s"] = round3(connect_phase_s);
  out["warmup_s"] = options.warmup_s;
  out["duration_s"] = round3(measured_s);
  out["drain_s"] = options.drain_s;
  out["elapsed_s"] = round3(elapsed_s);
  out["sent"] = tally.sent;
  out["delivered"] = tally.delivered;
  out["delivered_all_phases"] = delivered_all_phases;
  out["expected"] = tally.expected;
  out["delivered_expected"] = tally.delivered_accountable;
  out["lost"] = tally.lost;
  out["duplicates"] = tally.duplicates;
  out["sent_per_s"] = round3(sends_per_s());
  out["deliveries_per_s"] = round3(deliveries_per_s());

  json::object latency;
  latency["count"] = latency_ns.count();
  latency["min"] = us(latency_ns.min());
  latency["mean"] = round3(latency_ns.mean() / 1000.0);
  for (double const p : k_report_percentiles) {
    latency[percentile_label(p)] = us(latency_ns.percentile(p));
  }
  latency["max"] = us(latency_ns.max());
  out["latency_us"] = std::move(latency);

  json::object errs;
  for (std::size_t i = 0; i < k_error_kinds; ++i) {
    if (errors[i] != 0) errs[k_error_names[i]] = errors[i];
  }
  out["errors"] = std::move(errs);
  json::object examples;
  for (std::size_t i = 0; i < k_error_kinds; ++i) {
    if (errors[i] != 0 && !error_examples[i].empty())
      examples[k_error_names[i]] = error_examples[i];
  }
  out["error_examples"] = std::move(examples);
  out["error_total"] = error_total();

  json::array series;
  for (auto const& s : timeline) {
    series.push_back(json::array{round3(s.t_s), s.connected, s.sent, s.delivered, s.errors});
  }
  out["timeline_columns"] = json::array{"t_s", "connected", "sent", "delivered", "errors"};
  out["timeline"] = std::move(series);
  return json::serialize(out);
}

std::string Report::to_table() const {
  std::string out = "huddle-load " + options.scenario + ": " + options.url + "\n";
  auto row = [&](char const* label, std::string const& text) {
    out += format("  %-12s ", label) + text + "\n";
  };
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  row("connections",
      format("%llu connected of %llu planned, %llu failed, peak %llu, %llu reconnects",
             u(connected), u(planned_connections), u(failed_connects), u(peak_connected),
             u(reconnects)));
  if (options.deflate) {
    row("deflate",
        format("offered; accepted on %llu of %llu connections", u(deflate_connects), u(connects)));
  }
  row("measured", format("%.2f s (after %.2f s connecting, %.2f s warm-up)", measured_s,
                         connect_phase_s, options.warmup_s));
  row("sent", format("%llu  (%.0f/s)", u(tally.sent), sends_per_s()));
  row("delivered", format("%llu  (%.0f/s)", u(tally.delivered), deliveries_per_s()));
  row("expected",
      format("%llu  (delivered of them %llu)", u(tally.expected), u(tally.delivered_accountable)));
  row("lost", format("%llu  (after %.2f s drain)", u(tally.lost), options.drain_s));
  row("duplicates", format("%llu%s", u(tally.duplicates),
                           tally.duplicates == 0 ? "" : "  (delivered twice: a server bug)"));
  if (latency_ns.count() > 0) {
    row("latency ms",
        format("p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f",
               us(latency_ns.percentile(50)) / 1000, us(latency_ns.percentile(90)) / 1000,
               us(latency_ns.percentile(99)) / 1000, us(latency_ns.percentile(99.9)) / 1000,
               us(latency_ns.max()) / 1000));
  }
  if (error_total() == 0) {
    row("errors", "none");
  } else {
    std::string kinds;
    for (std::size_t i = 0; i < k_error_kinds; ++i) {
      if (errors[i] == 0) continue;
      if (!kinds.empty()) kinds += ", ";
      kinds += std::string(k_error_names[i]) + " " + std::to_string(errors[i]);
    }
    row("errors", kinds);
    for (std::size_t i = 0; i < k_error_kinds; ++i) {
      if (errors[i] != 0 && !error_examples[i].empty()) {
        row("", std::string(k_error_names[i]) + ": " + error_examples[i]);
      }
    }
  }
  return out;
}

} // namespace huddle::load
