#include "app/serve_options.hpp"

#include "app/usage_error.hpp"
#include "broker/redis/url.hpp"
#include "core/option_values.hpp"
#include "net/client_address.hpp"

#include <boost/program_options.hpp>

#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace huddle {

// The names of ServerConfig's enums on the command line, in config files and in --help.
constexpr std::array<core::Choice<Durability>, 3> k_durability_names{
    {{"none", Durability::none}, {"batch", Durability::batch}, {"sync", Durability::sync}}};
constexpr std::array<core::Choice<AuthMode>, 3> k_auth_mode_names{
    {{"builtin", AuthMode::builtin}, {"jwt", AuthMode::jwt}, {"none", AuthMode::none}}};

// program_options' extension point (core/option_values.hpp), found by argument-dependent
// lookup in the enum's namespace.
void validate(boost::any& value, const std::vector<std::string>& tokens, Durability*, int) {
  value = core::parse_choice(tokens, k_durability_names);
}
void validate(boost::any& value, const std::vector<std::string>& tokens, AuthMode*, int) {
  value = core::parse_choice(tokens, k_auth_mode_names);
}

namespace app {

constexpr std::array<core::Choice<LogFormat>, 2> k_log_format_names{
    {{"text", LogFormat::text}, {"json", LogFormat::json}}};

void validate(boost::any& value, const std::vector<std::string>& tokens, LogFormat*, int) {
  value = core::parse_choice(tokens, k_log_format_names);
}

namespace po = boost::program_options;

namespace {

constexpr std::string_view k_variable_prefix = "HUDDLE_";

// HUDDLE_MAX_CONNECTIONS -> "max-connections", when a variable may set that option; else ""
// (ignored): HUDDLE_ also starts variables that are no option of `huddle serve`
// (HUDDLE_BROKER_PASSWORD, `huddle chat`'s HUDDLE_TOKEN, the scripts' own).
std::string option_of_variable(const std::string& variable,
                               const po::options_description& description) {
  if (!variable.starts_with(k_variable_prefix)) return {};
  std::string name = variable.substr(k_variable_prefix.size());
  for (char& c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '_')
      c = '-';
    else if (std::isupper(byte) || std::isdigit(byte))
      c = static_cast<char>(std::tolower(byte));
    else
      return {}; // HUDDLE_port, HUDDLE_MAX-CONNECTIONS: not how the variables are spelt
  }
  if (name == "help" || name == "config") return {};
  return description.find_nothrow(name, false) ? name : std::string{};
}

std::string variable_of_option(const std::string& option) {
  std::string variable(k_variable_prefix);
  for (const char c : option)
    variable += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return variable;
}

void store_environment(const po::options_description& description, po::variables_map& vm) {
  try {
    po::store(po::parse_environment(description,
                                    [&description](const std::string& variable) {
                                      return option_of_variable(variable, description);
                                    }),
              vm);
  } catch (po::error_with_option_name& e) {
    e.set_option_name(variable_of_option(e.get_option_name())); // "HUDDLE_PORT must be ..."
    throw UsageError(e.what());
  }
}

// The line of `file` that sets `key` ("key = value"), 0 when none does: program_options'
// config file parser reports no line numbers.
unsigned line_of(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    const auto equals = line.find('=');
    const auto start = line.find_first_not_of(" \t");
    if (equals == std::string::npos || start >= equals) continue;
    const auto end = line.find_last_not_of(" \t", equals - 1) + 1;
    if (line.compare(start, end - start, key) == 0) return number;
  }
  return 0;
}

void store_config_file(const std::string& file, const po::options_description& description,
                       po::variables_map& vm) {
  std::ifstream in(file);
  if (!in) throw UsageError("--config: cannot read \"" + file + "\"");
  try {
    const po::parsed_options parsed = po::parse_config_file(in, description);
    for (const po::option& option : parsed.options)
      if (option.string_key == "help" || option.string_key == "config")
        throw UsageError(file + ":" + std::to_string(line_of(file, option.string_key)) + ": " +
                         option.string_key + " is for the command line only");
    po::store(parsed, vm);
  } catch (const po::error_with_option_name& e) {
    const unsigned line = line_of(file, e.get_option_name());
    throw UsageError(file + (line ? ":" + std::to_string(line) : "") + ": " + e.what());
  } catch (const po::error& e) {
    throw UsageError(file + ": " + e.what());
  }
}

// Where each option's value goes: a bound field of `options`, whose value when this is called
// is the default --help shows, else a string parse_serve_options() takes from the
// variables_map (files read and lists split there).
po::options_description describe(ServeOptions& options) {
  using core::duration_value;
  using core::number_value;
  using core::size_value;
  using namespace std::chrono_literals;
  constexpr core::Duration k_1ms{1ms};
  constexpr core::Duration k_zero{};
  auto text = [](std::string* field) { return po::value(field)->default_value(*field); };
  auto given = [] { return po::value<std::string>()->default_value(""); };
  ServerConfig& d = options.server;
  po::options_description description("huddle serve options");
  description.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(),
      "read options from this file, one `name = value` a line, names as the flags' without "
      "--; flags, then HUDDLE_* variables (HUDDLE_MAX_CONNECTIONS for --max-connections), "
      "win over it")("address", text(&d.address), "address to listen on")(
      "port", number_value<std::uint16_t>(&d.port, 0, 65535),
      "TCP port to listen on (0: pick a free one and print it)")(
      "tls-cert", text(&d.tls_certificate_file),
      "PEM certificate (chain after it allowed): with --tls-key the port speaks HTTPS and wss "
      "only; SIGHUP reloads both files for new connections")("tls-key", text(&d.tls_key_file),
                                                             "PEM private key of --tls-cert")(
      "threads", number_value(&options.threads, 1u, 1024u),
      "threads, each running its own io_context; a group's connections share one")(
      "max-message-bytes", size_value(&d.max_message_bytes, {16}, {64 << 20}),
      "largest frame a client may send (inflated); bigger closes with 1009")(
      "deflate", po::bool_switch(&d.deflate),
      "negotiate permessage-deflate with clients that offer it (each frame compressed once)")(
      "send-queue-bytes", size_value(&d.send_queue_bytes, {1024}, {std::uint64_t{1} << 34}),
      "bytes queued for one slow reader before it is closed with 1008 \"slow consumer\"")(
      "handshake-timeout", duration_value(&d.handshake_timeout, k_1ms),
      "time from TCP accept to the end of the WebSocket upgrade, and for a closing handshake")(
      "ping-interval", duration_value(&d.ping_interval, k_1ms),
      "send a ping after this long without hearing from a client")(
      "idle-timeout", duration_value(&d.idle_timeout, k_1ms),
      "drop a client not heard from (not even a pong) for this long")(
      "max-connections", number_value<std::size_t>(&d.max_connections, 1, 10'000'000),
      "open WebSocket connections; more upgrade requests get HTTP 503")(
      "max-connections-per-address",
      number_value<std::size_t>(&d.max_connections_per_address, 0, 10'000'000),
      "open WebSocket connections per client address; more upgrades get HTTP 429 (0: none)")(
      "upgrade-rate-per-address", number_value(&d.upgrade_rate_per_address, 0u, 1'000'000u),
      "WebSocket upgrade requests per second per client address, after a burst of "
      "--upgrade-burst-per-address; more get HTTP 429 with Retry-After (0: no limit)")(
      "upgrade-burst-per-address", number_value(&d.upgrade_burst_per_address, 1u, 1'000'000u),
      "upgrade requests one client address may make back to back")(
      "message-rate", number_value(&d.message_rate, 0u, 1'000'000u),
      "frames per second one connection may send, after a burst of --message-burst; more are "
      "refused with the error rate_limited (0: no limit)")(
      "message-burst", number_value(&d.message_burst, 1u, 1'000'000u),
      "frames one connection may send back to back")(
      "rate-limit-close-after", number_value(&d.rate_limit_close_after, 0u, 1'000'000u),
      "refused frames in a row (none accepted between) that close the connection with 1008 "
      "\"rate limit\" (0: never)")(
      "publish-rate", number_value(&d.publish_rate, 0u, 1'000'000u),
      "publishes per second one backend (token subject) may make with POST "
      "/api/groups/ID/messages, after a burst of --publish-burst; more get HTTP 429 (0: no limit)")(
      "publish-burst", number_value(&d.publish_burst, 1u, 1'000'000u),
      "publishes one backend may make back to back")(
      "idempotency-window", duration_value(&d.idempotency_window, k_zero),
      "how long a publish's Idempotency-Key is remembered, so a retry gets the first id (0: "
      "not remembered)")(
      "idempotency-keys", number_value<std::size_t>(&d.idempotency_keys, 1, 100'000'000),
      "Idempotency-Keys remembered at most; past it the oldest are forgotten first")(
      "trusted-proxies", given(),
      "reverse proxies (comma-separated CIDRs, IPv4 or IPv6) whose X-Forwarded-For names the "
      "client; from any other peer the header is ignored")(
      "write-coalesce", duration_value(&d.write_coalesce, k_zero, core::Duration{1s}),
      "a client receiving 4 or more frames per this interval gets them at most once per "
      "interval, in one write (fewer syscalls; up to this much latency); 0: write at once")(
      "shutdown-timeout", duration_value(&d.shutdown_timeout, k_1ms),
      "on SIGINT/SIGTERM, time left to clients to take their close frame (1001)")(
      "db", text(&d.db_path),
      "SQLite file holding the message history (created if missing; \"\": in memory only)")(
      "durability", core::choice_value(&d.durability, k_durability_names),
      "when a sender's ack is sent: none (at once), batch (after the group commit: survives "
      "a killed process), sync (after the commit is fsync'ed: survives a power cut)")(
      "history-writer-nice", number_value(&d.history_writer_nice, 0, 19),
      "nice value (0-19) of the thread committing history: above 0, delivering messages goes "
      "first when CPU is short and acks wait")(
      "history-commit-delay", duration_value(&d.history_commit_delay, k_zero, core::Duration{1s}),
      "group commit: the first message of a batch waits up to this long for others before "
      "the history commits (acks wait as long, deliveries do not); 0: commit at once")(
      "history-per-group", number_value<std::size_t>(&d.history_per_group, 0, 1'000'000'000),
      "messages kept per group; older ones are deleted in the background (0: no limit)")(
      "history-max-age", duration_value(&d.history_max_age, k_zero),
      "messages older than this are deleted in the background (0: keep forever)")(
      "history-queue-limit", number_value<std::size_t>(&d.history_queue_limit, 1, 1'000'000'000),
      "messages waiting to be written to --db; while the database is that far behind, new "
      "messages are refused with the error history_unavailable; also how far ids move on "
      "after a crash")(
      "replay-limit", number_value<std::size_t>(&d.replay_limit, 1, 1'000'000'000),
      "a reconnect with ?since= gets at most this many of the newest messages it missed "
      "(the welcome then says truncated; older ones are on the history API)")(
      "broker", text(&d.broker_url),
      "run as one of several nodes sharing groups through Redis at redis://HOST[:PORT][/DB] "
      "(history and ids then live in Redis; --db keeps accounts only)")(
      "broker-prefix", text(&d.broker_prefix),
      "prefix of every Redis key and channel (several services on one Redis)")(
      "broker-user", text(&d.broker_user),
      "Redis ACL user")("broker-password-file", given(),
                        "file holding the Redis password (default: the environment variable "
                        "HUDDLE_BROKER_PASSWORD, if set)")(
      "broker-connect-timeout", duration_value(&d.broker_connect_timeout, k_1ms),
      "Redis connect and handshake timeout; retried with backoff")(
      "broker-command-timeout", duration_value(&d.broker_command_timeout, k_1ms),
      "a Redis reply later than this breaks the connection; sends meanwhile get the error "
      "broker_unavailable")(
      "presence-ttl", duration_value(&d.presence_ttl, k_1ms),
      "with --broker: a node that dies has its users shown offline within about this")(
      "auth", core::choice_value(&d.auth, k_auth_mode_names),
      "who may enter a group: builtin (huddle's accounts, POST /api/login), jwt (tokens "
      "minted by another service) or none (anyone, any name: loopback only)")(
      "insecure-allow-anonymous", po::bool_switch(&d.allow_anonymous_on_network),
      "allow --auth none on an address other than loopback")(
      "jwt-secret-file", text(&d.jwt_secret_file),
      "HS256 secret file; builtin: created if missing (default: huddle.jwt-secret beside "
      "--db), jwt: the issuer's shared secret")(
      "jwt-public-key", text(&d.jwt_public_key_file),
      "--auth jwt: the issuer's RS256 public key (PEM file), instead of --jwt-secret-file")(
      "jwt-issuer", text(&d.jwt_issuer), "when set, tokens must carry this iss (builtin sets it)")(
      "jwt-audience", text(&d.jwt_audience),
      "when set, tokens must carry this aud (builtin sets it)")(
      "token-ttl", duration_value(&d.token_ttl, core::Duration{1s}),
      "lifetime of the tokens POST /api/login issues; a socket is closed with 1008 when "
      "its token expires")(
      "access-check-interval", duration_value(&d.access_check_interval, k_1ms),
      "how often revoked memberships are looked for; their sockets close within about this")(
      "login-burst", number_value(&d.login_burst, 1u, 1'000'000u),
      "failed logins one address may make back to back before being slowed (HTTP 429)")(
      "login-refill-interval", duration_value(&d.login_refill_interval, k_1ms),
      "then one more failed login is allowed per this interval")(
      "max-pending-logins", number_value(&d.max_pending_logins, 1u, 100'000u),
      "logins waiting for password checks at once; more get HTTP 503 with Retry-After")(
      "metrics-token-file", given(),
      "file holding the bearer token GET /metrics requires (then from any address); without "
      "it, /metrics answers loopback clients only")("log-level", text(&options.log_level),
                                                    "trace, debug, info, warning, error or fatal")(
      "log-format", core::choice_value(&options.log_format, k_log_format_names),
      "text or json (one object per line)");
  return description;
}

ServeOptions defaults() {
  ServeOptions options;
  options.threads = std::max(1u, std::thread::hardware_concurrency());
  options.server.db_path = "huddle.db";    // the library's default is in memory
  options.server.auth = AuthMode::builtin; // the library's default is none, on loopback only
  return options;
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

ServeOptions parse_serve_options(const std::vector<std::string>& args) {
  ServeOptions options = defaults();
  const auto description = describe(options);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(description).run(), vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (vm.count("help")) {
    options.help = true;
    return options;
  }
  // Each source only fills what an earlier one left unset: flags > environment > file.
  store_environment(description, vm);
  if (vm.count("config")) store_config_file(vm["config"].as<std::string>(), description, vm);
  po::notify(vm); // fills the bound fields of `options`

  auto text = [&](const char* flag) { return vm[flag].as<std::string>(); };
  ServerConfig& server = options.server;
  server.trusted_proxies = parse_trusted_proxies(text("trusted-proxies"));
  if (!server.broker_url.empty()) {
    try {
      broker::redis::parse_url(server.broker_url);
    } catch (const std::invalid_argument& e) {
      if (broker::redis::holds_credentials(server.broker_url))
        throw UsageError("--broker: the URL holds credentials (user:password@); put the password "
                         "in --broker-password-file or HUDDLE_BROKER_PASSWORD, not the URL");
      throw UsageError(std::string("--broker: ") + e.what());
    }
    server.broker_password = read_broker_password(text("broker-password-file"));
  }
  server.metrics_token = read_metrics_token(text("metrics-token-file"));
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
  return options;
}

std::string serve_help() {
  ServeOptions shown = defaults();
  std::ostringstream out;
  out << "usage: huddle serve [options]\n\n" << describe(shown);
  return out.str();
}

} // namespace app

} // namespace huddle
