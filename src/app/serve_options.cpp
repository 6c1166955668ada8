#include "app/serve_options.hpp"

#include "app/usage_error.hpp"
#include "broker/redis/url.hpp"
#include "net/client_address.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
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
      "tls-cert", po::value<std::string>()->default_value(""),
      "PEM certificate (chain after it allowed): with --tls-key the port speaks HTTPS and wss "
      "only; SIGHUP reloads both files for new connections")(
      "tls-key", po::value<std::string>()->default_value(""), "PEM private key of --tls-cert")(
      "threads", po::value<std::string>()->default_value(std::to_string(defaults.threads)),
      "threads, each running its own io_context; a group's connections share one")(
      "max-message-bytes",
      po::value<std::string>()->default_value(std::to_string(d.max_message_bytes)),
      "largest frame a client may send (inflated); bigger closes with 1009")(
      "deflate", po::bool_switch(),
      "negotiate permessage-deflate with clients that offer it (each frame compressed once)")(
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
      "max-connections-per-address",
      po::value<std::string>()->default_value(std::to_string(d.max_connections_per_address)),
      "open WebSocket connections per client address; more upgrades get HTTP 429 (0: none)")(
      "upgrade-rate-per-address",
      po::value<std::string>()->default_value(std::to_string(d.upgrade_rate_per_address)),
      "WebSocket upgrade requests per second per client address, after a burst of "
      "--upgrade-burst-per-address; more get HTTP 429 with Retry-After (0: no limit)")(
      "upgrade-burst-per-address",
      po::value<std::string>()->default_value(std::to_string(d.upgrade_burst_per_address)),
      "upgrade requests one client address may make back to back")(
      "message-rate", po::value<std::string>()->default_value(std::to_string(d.message_rate)),
      "frames per second one connection may send, after a burst of --message-burst; more are "
      "refused with the error rate_limited (0: no limit)")(
      "message-burst", po::value<std::string>()->default_value(std::to_string(d.message_burst)),
      "frames one connection may send back to back")(
      "rate-limit-close-after",
      po::value<std::string>()->default_value(std::to_string(d.rate_limit_close_after)),
      "refused frames in a row (none accepted between) that close the connection with 1008 "
      "\"rate limit\" (0: never)")(
      "publish-rate", po::value<std::string>()->default_value(std::to_string(d.publish_rate)),
      "publishes per second one backend (token subject) may make with POST "
      "/api/groups/ID/messages, after a burst of --publish-burst; more get HTTP 429 (0: no limit)")(
      "publish-burst", po::value<std::string>()->default_value(std::to_string(d.publish_burst)),
      "publishes one backend may make back to back")(
      "idempotency-window",
      po::value<std::string>()->default_value(format_duration(d.idempotency_window)),
      "how long a publish's Idempotency-Key is remembered, so a retry gets the first id (0: "
      "not remembered)")(
      "idempotency-keys",
      po::value<std::string>()->default_value(std::to_string(d.idempotency_keys)),
      "Idempotency-Keys remembered at most; past it the oldest are forgotten first")(
      "trusted-proxies", po::value<std::string>()->default_value(""),
      "reverse proxies (comma-separated CIDRs, IPv4 or IPv6) whose X-Forwarded-For names the "
      "client; from any other peer the header is ignored")(
      "write-coalesce", po::value<std::string>()->default_value(format_duration(d.write_coalesce)),
      "a client receiving 4 or more frames per this interval gets them at most once per "
      "interval, in one write (fewer syscalls; up to this much latency); 0: write at once")(
      "shutdown-timeout",
      po::value<std::string>()->default_value(format_duration(d.shutdown_timeout)),
      "on SIGINT/SIGTERM, time left to clients to take their close frame (1001)")(
      "db", po::value<std::string>()->default_value(d.db_path),
      "SQLite file holding the message history (created if missing; \"\": in memory only)")(
      "durability", po::value<std::string>()->default_value("batch"),
      "when a sender's ack is sent: none (at once), batch (after the group commit: survives "
      "a killed process), sync (after the commit is fsync'ed: survives a power cut)")(
      "history-writer-nice",
      po::value<std::string>()->default_value(std::to_string(d.history_writer_nice)),
      "nice value (0-19) of the thread committing history: above 0, delivering messages goes "
      "first when CPU is short and acks wait")(
      "history-commit-delay",
      po::value<std::string>()->default_value(format_duration(d.history_commit_delay)),
      "group commit: the first message of a batch waits up to this long for others before "
      "the history commits (acks wait as long, deliveries do not); 0: commit at once")(
      "history-per-group",
      po::value<std::string>()->default_value(std::to_string(d.history_per_group)),
      "messages kept per group; older ones are deleted in the background (0: no limit)")(
      "history-max-age",
      po::value<std::string>()->default_value(format_duration(d.history_max_age)),
      "messages older than this are deleted in the background (0: keep forever)")(
      "history-queue-limit",
      po::value<std::string>()->default_value(std::to_string(d.history_queue_limit)),
      "messages waiting to be written to --db; while the database is that far behind, new "
      "messages are refused with the error history_unavailable; also how far ids move on "
      "after a crash")(
      "replay-limit", po::value<std::string>()->default_value(std::to_string(d.replay_limit)),
      "a reconnect with ?since= gets at most this many of the newest messages it missed "
      "(the welcome then says truncated; older ones are on the history API)")(
      "broker", po::value<std::string>()->default_value(""),
      "run as one of several nodes sharing groups through Redis at redis://HOST[:PORT][/DB] "
      "(history and ids then live in Redis; --db keeps accounts only)")(
      "broker-prefix", po::value<std::string>()->default_value(d.broker_prefix),
      "prefix of every Redis key and channel (several services on one Redis)")(
      "broker-user", po::value<std::string>()->default_value(""),
      "Redis ACL user")("broker-password-file", po::value<std::string>()->default_value(""),
                        "file holding the Redis password (default: the environment variable "
                        "HUDDLE_BROKER_PASSWORD, if set)")(
      "broker-connect-timeout",
      po::value<std::string>()->default_value(format_duration(d.broker_connect_timeout)),
      "Redis connect and handshake timeout; retried with backoff")(
      "broker-command-timeout",
      po::value<std::string>()->default_value(format_duration(d.broker_command_timeout)),
      "a Redis reply later than this breaks the connection; sends meanwhile get the error "
      "broker_unavailable")(
      "presence-ttl", po::value<std::string>()->default_value(format_duration(d.presence_ttl)),
      "with --broker: a node that dies has its users shown offline within about this")(
      "auth", po::value<std::string>()->default_value("builtin"),
      "who may enter a group: builtin (huddle's accounts, POST /api/login), jwt (tokens "
      "minted by another service) or none (anyone, any name: loopback only)")(
      "insecure-allow-anonymous", po::bool_switch(),
      "allow --auth none on an address other than loopback")(
      "jwt-secret-file", po::value<std::string>()->default_value(""),
      "HS256 secret file; builtin: created if missing (default: huddle.jwt-secret beside "
      "--db), jwt: the issuer's shared secret")(
      "jwt-public-key", po::value<std::string>()->default_value(""),
      "--auth jwt: the issuer's RS256 public key (PEM file), instead of --jwt-secret-file")(
      "jwt-issuer", po::value<std::string>()->default_value(""),
      "when set, tokens must carry this iss (builtin sets it)")(
      "jwt-audience", po::value<std::string>()->default_value(""),
      "when set, tokens must carry this aud (builtin sets it)")(
      "token-ttl", po::value<std::string>()->default_value(format_duration(d.token_ttl)),
      "lifetime of the tokens POST /api/login issues; a socket is closed with 1008 when "
      "its token expires")(
      "access-check-interval",
      po::value<std::string>()->default_value(format_duration(d.access_check_interval)),
      "how often revoked memberships are looked for; their sockets close within about this")(
      "login-burst", po::value<std::string>()->default_value(std::to_string(d.login_burst)),
      "failed logins one address may make back to back before being slowed (HTTP 429)")(
      "login-refill-interval",
      po::value<std::string>()->default_value(format_duration(d.login_refill_interval)),
      "then one more failed login is allowed per this interval")(
      "max-pending-logins",
      po::value<std::string>()->default_value(std::to_string(d.max_pending_logins)),
      "logins waiting for password checks at once; more get HTTP 503 with Retry-After")(
      "metrics-token-file", po::value<std::string>()->default_value(""),
      "file holding the bearer token GET /metrics requires (then from any address); without "
      "it, /metrics answers loopback clients only")(
      "log-level", po::value<std::string>()->default_value(defaults.log_level),
      "trace, debug, info, warning, error or fatal")(
      "log-format", po::value<std::string>()->default_value("text"),
      "text or json (one object per line)");
  return options;
}

ServeOptions defaults() {
  ServeOptions options;
  options.threads = std::max(1u, std::thread::hardware_concurrency());
  options.server.db_path = "huddle.db";    // the library's default is in memory
  options.server.auth = AuthMode::builtin; // the library's default is none, on loopback only
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

// "10.0.0.0/8, ::1" -> {"10.0.0.0/8", "::1"}, each checked as the server will read it.
std::vector<std::string> parse_trusted_proxies(const std::string& text) {
  std::vector<std::string> ranges;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const auto comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    try {
      net::parse_address_range(item);
    } catch (const std::invalid_argument& e) {
      throw UsageError("--trusted-proxies takes CIDRs like 10.0.0.0/8 or 2001:db8::/32, "
                       "comma-separated: " +
                       std::string(e.what()));
    }
    ranges.push_back(std::move(item));
    start = comma + 1;
  }
  return ranges;
}

// The Redis password: from --broker-password-file (its first line), else the environment;
// never a flag of its own, which `ps` would show.
std::string read_broker_password(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("HUDDLE_BROKER_PASSWORD");
    return env ? env : "";
  }
  std::ifstream in(file);
  std::string password;
  if (!in || !std::getline(in, password))
    throw UsageError("--broker-password-file: cannot read \"" + file + "\"");
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

// The metrics token: the first line of --metrics-token-file, at least
// k_min_metrics_token_length characters, so a guessable token is refused, not served.
constexpr std::size_t k_min_metrics_token_length = 16;
std::string read_metrics_token(const std::string& file) {
  if (file.empty()) return {};
  std::ifstream in(file);
  std::string token;
  if (!in || !std::getline(in, token))
    throw UsageError("--metrics-token-file: cannot read \"" + file + "\"");
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.size() < k_min_metrics_token_length || token.find_first_of(" \t") != std::string::npos)
    throw UsageError("--metrics-token-file: the token (the file's first line) must be at least " +
                     std::to_string(k_min_metrics_token_length) +
                     " characters without blanks, e.g. from `openssl rand -hex 32`");
  return token;
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
  server.deflate = vm["deflate"].as<bool>();
  server.send_queue_bytes = parse_integer<std::size_t>("send-queue-bytes", text("send-queue-bytes"),
                                                       1024, std::size_t{1} << 34);
  server.handshake_timeout = parse_duration("handshake-timeout", text("handshake-timeout"));
  server.ping_interval = parse_duration("ping-interval", text("ping-interval"));
  server.idle_timeout = parse_duration("idle-timeout", text("idle-timeout"));
  server.max_connections =
      parse_integer<std::size_t>("max-connections", text("max-connections"), 1, 10'000'000);
  server.max_connections_per_address = parse_integer<std::size_t>(
      "max-connections-per-address", text("max-connections-per-address"), 0, 10'000'000);
  server.upgrade_rate_per_address = parse_integer<unsigned>(
      "upgrade-rate-per-address", text("upgrade-rate-per-address"), 0, 1'000'000);
  server.upgrade_burst_per_address = parse_integer<unsigned>(
      "upgrade-burst-per-address", text("upgrade-burst-per-address"), 1, 1'000'000);
  server.message_rate = parse_integer<unsigned>("message-rate", text("message-rate"), 0, 1'000'000);
  server.message_burst =
      parse_integer<unsigned>("message-burst", text("message-burst"), 1, 1'000'000);
  server.rate_limit_close_after = parse_integer<unsigned>(
      "rate-limit-close-after", text("rate-limit-close-after"), 0, 1'000'000);
  server.publish_rate = parse_integer<unsigned>("publish-rate", text("publish-rate"), 0, 1'000'000);
  server.publish_burst =
      parse_integer<unsigned>("publish-burst", text("publish-burst"), 1, 1'000'000);
  const std::string window = text("idempotency-window");
  server.idempotency_window =
      window == "0" ? std::chrono::milliseconds(0) : parse_duration("idempotency-window", window);
  server.idempotency_keys =
      parse_integer<std::size_t>("idempotency-keys", text("idempotency-keys"), 1, 100'000'000);
  server.trusted_proxies = parse_trusted_proxies(text("trusted-proxies"));
  server.shutdown_timeout = parse_duration("shutdown-timeout", text("shutdown-timeout"));
  const std::string coalesce = text("write-coalesce");
  server.write_coalesce =
      coalesce == "0" ? std::chrono::milliseconds(0) : parse_duration("write-coalesce", coalesce);
  if (server.write_coalesce > std::chrono::seconds(1))
    throw UsageError("--write-coalesce must be at most 1s, got \"" + coalesce + "\"");
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
  server.history_writer_nice =
      parse_integer<int>("history-writer-nice", text("history-writer-nice"), 0, 19);
  const std::string commit_delay = text("history-commit-delay");
  server.history_commit_delay = commit_delay == "0"
                                    ? std::chrono::milliseconds(0)
                                    : parse_duration("history-commit-delay", commit_delay);
  if (server.history_commit_delay > std::chrono::seconds(1))
    throw UsageError("--history-commit-delay must be at most 1s, got \"" + commit_delay + "\"");
  server.history_queue_limit = parse_integer<std::size_t>(
      "history-queue-limit", text("history-queue-limit"), 1, 1'000'000'000);
  server.replay_limit =
      parse_integer<std::size_t>("replay-limit", text("replay-limit"), 1, 1'000'000'000);
  const std::string max_age = text("history-max-age");
  server.history_max_age =
      max_age == "0" ? std::chrono::milliseconds(0) : parse_duration("history-max-age", max_age);
  server.broker_url = text("broker");
  server.broker_prefix = text("broker-prefix");
  server.broker_user = text("broker-user");
  server.broker_connect_timeout =
      parse_duration("broker-connect-timeout", text("broker-connect-timeout"));
  server.broker_command_timeout =
      parse_duration("broker-command-timeout", text("broker-command-timeout"));
  server.presence_ttl = parse_duration("presence-ttl", text("presence-ttl"));
  if (!server.broker_url.empty()) {
    try {
      broker::redis::parse_url(server.broker_url);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--broker: ") + e.what());
    }
    server.broker_password = read_broker_password(text("broker-password-file"));
  }
  const std::string auth = text("auth");
  if (auth == "builtin")
    server.auth = AuthMode::builtin;
  else if (auth == "jwt")
    server.auth = AuthMode::jwt;
  else if (auth == "none")
    server.auth = AuthMode::none;
  else
    throw UsageError("--auth must be builtin, jwt or none, got \"" + auth + "\"");
  server.allow_anonymous_on_network = vm["insecure-allow-anonymous"].as<bool>();
  server.jwt_secret_file = text("jwt-secret-file");
  server.jwt_public_key_file = text("jwt-public-key");
  server.jwt_issuer = text("jwt-issuer");
  server.jwt_audience = text("jwt-audience");
  server.token_ttl = std::chrono::duration_cast<std::chrono::seconds>(
      parse_duration("token-ttl", text("token-ttl")));
  if (server.token_ttl.count() == 0) throw UsageError("--token-ttl must be at least 1s");
  server.access_check_interval =
      parse_duration("access-check-interval", text("access-check-interval"));
  server.login_burst = parse_integer<unsigned>("login-burst", text("login-burst"), 1, 1'000'000);
  server.login_refill_interval =
      parse_duration("login-refill-interval", text("login-refill-interval"));
  server.max_pending_logins =
      parse_integer<unsigned>("max-pending-logins", text("max-pending-logins"), 1, 100'000);
  server.metrics_token = read_metrics_token(text("metrics-token-file"));
  server.tls_certificate_file = text("tls-cert");
  server.tls_key_file = text("tls-key");
  if (server.tls_certificate_file.empty() != server.tls_key_file.empty())
    throw UsageError(server.tls_key_file.empty() ? "--tls-cert needs --tls-key"
                                                 : "--tls-key needs --tls-cert");
  if (server.auth == AuthMode::jwt &&
      server.jwt_secret_file.empty() == server.jwt_public_key_file.empty())
    throw UsageError("--auth jwt needs exactly one of --jwt-secret-file and --jwt-public-key");
  if (server.auth == AuthMode::builtin && !server.jwt_public_key_file.empty())
    throw UsageError("--jwt-public-key is for --auth jwt; --auth builtin signs its own tokens");
  if (server.auth == AuthMode::none && !server.allow_anonymous_on_network &&
      !net::is_loopback(server.address))
    throw UsageError("--auth none lets anyone in under any name: use a loopback --address, or "
                     "add --insecure-allow-anonymous to serve \"" +
                     server.address + "\" anyway");
  if (!server.broker_url.empty() && server.auth == AuthMode::builtin && server.db_path.empty())
    throw UsageError("--auth builtin with --broker keeps the accounts in --db, which must name a "
                     "file every node on this host shares; nodes on several hosts use --auth jwt");
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
