#include "app/serve_options.hpp"

#include "app/usage_error.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <sstream>
#include <thread>

namespace huddle::app {

namespace po = boost::program_options;

namespace {

std::string format_duration(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  return std::to_string(ms / 1000) + "s";
}

po::options_description describe(const ServeOptions& defaults) {
  const ServerConfig& d = defaults.server;
  po::options_description options("huddle serve options");
  // Durations and sizes are read as strings so a bad value can be reported with its flag.
  options.add_options()("help,h", "show this help")(
      "address", po::value<std::string>()->default_value(d.address), "address to listen on")(
      "port", po::value<std::string>()->default_value(std::to_string(d.port)),
      "TCP port to listen on (0: pick a free one and print it)")(
      "threads", po::value<std::string>()->default_value(std::to_string(defaults.threads)),
      "threads running the io_context")(
      "max-message-bytes",
      po::value<std::string>()->default_value(std::to_string(d.max_message_bytes)),
      "largest frame a client may send; bigger closes with 1009")(
      "send-queue-bytes",
      po::value<std::string>()->default_value(std::to_string(d.send_queue_bytes)),
      "bytes queued for one slow reader before it is closed with 1008 \"slow consumer\"")(
      "handshake-timeout",
      po::value<std::string>()->default_value(format_duration(d.handshake_timeout)),
      "time from TCP accept to the end of the WebSocket upgrade, and for a closing handshake")(
      "ping-interval", po::value<std::string>()->default_value(format_duration(d.ping_interval)),
      "send a ping after this long without hearing from a client")(
      "idle-timeout", po::value<std::string>()->default_value(format_duration(d.idle_timeout)),
      "drop a client not heard from (not even a pong) for this long")(
      "max-connections", po::value<std::string>()->default_value(std::to_string(d.max_connections)),
      "open WebSocket connections; more upgrade requests get HTTP 503")(
      "shutdown-timeout",
      po::value<std::string>()->default_value(format_duration(d.shutdown_timeout)),
      "on SIGINT/SIGTERM, time left to clients to take their close frame (1001)")(
      "db", po::value<std::string>()->default_value(d.db_path),
      "SQLite file holding the message history (created if missing; \"\": in memory only)")(
      "durability", po::value<std::string>()->default_value("batch"),
      "when a sender's ack is sent: none (at once), batch (after the group commit: survives "
      "a killed process), sync (after the commit is fsync'ed: survives a power cut)")(
      "history-per-group",
      po::value<std::string>()->default_value(std::to_string(d.history_per_group)),
      "messages kept per group; older ones are deleted in the background (0: no limit)")(
      "history-max-age",
      po::value<std::string>()->default_value(format_duration(d.history_max_age)),
      "messages older than this are deleted in the background (0: keep forever)")(
      "log-level", po::value<std::string>()->default_value(defaults.log_level),
      "trace, debug, info, warning, error or fatal")(
      "log-format", po::value<std::string>()->default_value("text"),
      "text or json (one object per line)");
  return options;
}

ServeOptions defaults() {
  ServeOptions options;
  options.threads = std::max(1u, std::thread::hardware_concurrency());
  options.server.db_path = "huddle.db"; // the library's default is in memory
  return options;
}

template <typename Integer>
Integer parse_integer(const std::string& flag, const std::string& text, Integer min, Integer max) {
  Integer value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    throw UsageError("--" + flag + " must be an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got \"" + text + "\"");
  }
  return value;
}

} // namespace

std::chrono::milliseconds parse_duration(const std::string& flag, const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  const std::string unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  if (digits == 0 || scale == 0)
    throw UsageError("--" + flag + " must be a duration like 250ms, 10s, 5m or 1h, got \"" + text +
                     "\"");
  const auto count = parse_integer<std::int64_t>(flag, text.substr(0, digits), 1, 1'000'000'000);
  return std::chrono::milliseconds(count * scale);
}

ServeOptions parse_serve_options(const std::vector<std::string>& args) {
  ServeOptions options = defaults();
  const auto description = describe(options);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(description).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (vm.count("help")) {
    options.help = true;
    return options;
  }
  auto text = [&](const char* flag) { return vm[flag].as<std::string>(); };
  ServerConfig& server = options.server;
  server.address = text("address");
  server.port = parse_integer<std::uint16_t>("port", text("port"), 0, 65535);
  options.threads = parse_integer<unsigned>("threads", text("threads"), 1, 1024);
  server.max_message_bytes =
      parse_integer<std::size_t>("max-message-bytes", text("max-message-bytes"), 16, 64 << 20);
  server.send_queue_bytes = parse_integer<std::size_t>("send-queue-bytes", text("send-queue-bytes"),
                                                       1024, std::size_t{1} << 34);
  server.handshake_timeout = parse_duration("handshake-timeout", text("handshake-timeout"));
  server.ping_interval = parse_duration("ping-interval", text("ping-interval"));
  server.idle_timeout = parse_duration("idle-timeout", text("idle-timeout"));
  server.max_connections =
      parse_integer<std::size_t>("max-connections", text("max-connections"), 1, 10'000'000);
  server.shutdown_timeout = parse_duration("shutdown-timeout", text("shutdown-timeout"));
  server.db_path = text("db");
  const std::string durability = text("durability");
  if (durability == "none")
    server.durability = Durability::none;
  else if (durability == "batch")
    server.durability = Durability::batch;
  else if (durability == "sync")
    server.durability = Durability::sync;
  else
    throw UsageError("--durability must be none, batch or sync, got \"" + durability + "\"");
  server.history_per_group =
      parse_integer<std::size_t>("history-per-group", text("history-per-group"), 0, 1'000'000'000);
  const std::string max_age = text("history-max-age");
  server.history_max_age =
      max_age == "0" ? std::chrono::milliseconds(0) : parse_duration("history-max-age", max_age);
  if (server.idle_timeout <= server.ping_interval)
    throw UsageError("--idle-timeout must be longer than --ping-interval, or a live peer could be "
                     "dropped before it is pinged");

  options.log_level = text("log-level");
  const std::string format = text("log-format");
  if (format == "text")
    options.log_format = LogFormat::text;
  else if (format == "json")
    options.log_format = LogFormat::json;
  else
    throw UsageError("--log-format must be text or json, got \"" + format + "\"");
  return options;
}

std::string serve_help() {
  std::ostringstream out;
  out << "usage: huddle serve [options]\n\n" << describe(defaults());
  return out.str();
}

} // namespace huddle::app
