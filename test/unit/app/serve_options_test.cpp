#include "app/serve_options.hpp"
#include "app/usage_error.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <optional>

using namespace huddle::app;
using namespace std::chrono_literals;

namespace {

std::string usage_error(const std::vector<std::string>& args) {
  try {
    parse_serve_options(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  FAIL("no UsageError for the arguments");
  return {};
}

} // namespace

TEST_CASE("defaults are huddle::ServerConfig's") {
  const ServeOptions options = parse_serve_options({});
  const huddle::ServerConfig defaults;
  CHECK(options.server.address == defaults.address);
  CHECK(options.server.port == defaults.port);
  CHECK(options.server.max_message_bytes == defaults.max_message_bytes);
  CHECK(options.server.send_queue_bytes == defaults.send_queue_bytes);
  CHECK(options.server.idle_timeout == defaults.idle_timeout);
  CHECK(options.threads >= 1);
  CHECK(!options.server.deflate); // opt-in
}

TEST_CASE("--deflate turns permessage-deflate on") {
  CHECK(parse_serve_options({"--deflate"}).server.deflate);
}

TEST_CASE("every limit is a flag") {
  const ServeOptions options = parse_serve_options(
      {"--port", "0", "--threads", "3", "--max-message-bytes", "1000", "--send-queue-bytes=4096",
       "--handshake-timeout", "250ms", "--ping-interval", "2s", "--idle-timeout", "1m",
       "--max-connections", "10", "--shutdown-timeout", "1h", "--log-format", "json"});
  CHECK(options.server.port == 0);
  CHECK(options.threads == 3);
  CHECK(options.server.max_message_bytes == 1000);
  CHECK(options.server.send_queue_bytes == 4096);
  CHECK(options.server.handshake_timeout == 250ms);
  CHECK(options.server.ping_interval == 2s);
  CHECK(options.server.idle_timeout == 60s);
  CHECK(options.server.max_connections == 10);
  CHECK(options.server.shutdown_timeout == 3600s);
  CHECK(options.log_format == LogFormat::json);
  CHECK(parse_serve_options({"--max-pending-logins", "7"}).server.max_pending_logins == 7);
  CHECK(parse_serve_options({"--write-coalesce", "10ms"}).server.write_coalesce == 10ms);
  CHECK(parse_serve_options({"--write-coalesce", "0"}).server.write_coalesce == 0ms);
  const std::string help = serve_help();
  for (auto flag :
       {"--max-message-bytes", "--send-queue-bytes", "--handshake-timeout", "--ping-interval",
        "--idle-timeout", "--max-connections", "--threads", "--shutdown-timeout", "--log-level",
        "--log-format", "--max-pending-logins", "--write-coalesce"})
    CHECK_MESSAGE(help.find(flag) != std::string::npos, flag);
}

TEST_CASE("a bad value names its flag") {
  CHECK(usage_error({"--port", "70000"}).find("--port") != std::string::npos);
  CHECK(usage_error({"--port", "80x"}).find("--port") != std::string::npos);
  CHECK(usage_error({"--threads", "0"}).find("--threads") != std::string::npos);
  CHECK(usage_error({"--idle-timeout", "soon"}).find("--idle-timeout") != std::string::npos);
  // The library's refusal names no flag; the command line names its own.
  const std::string credentials = usage_error({"--broker", "redis://u:hunter2@h:6379"});
  CHECK(credentials.find("--broker-password-file") != std::string::npos);
  CHECK(credentials.find("hunter2") == std::string::npos);
  CHECK(usage_error({"--ping-interval", "5parsecs"}).find("--ping-interval") != std::string::npos);
  CHECK(usage_error({"--log-format", "xml"}).find("--log-format") != std::string::npos);
  CHECK(usage_error({"--max-pending-logins", "0"}).find("--max-pending-logins") !=
        std::string::npos);
  CHECK(usage_error({"--write-coalesce", "2s"}).find("--write-coalesce") != std::string::npos);
  CHECK(usage_error({"--write-coalesce", "fast"}).find("--write-coalesce") != std::string::npos);
  CHECK(usage_error({"--bogus"}).find("--bogus") != std::string::npos);
  CHECK(usage_error({"--ping-interval", "60s", "--idle-timeout", "30s"}).find("--idle-timeout") !=
        std::string::npos);
}

TEST_CASE("history flags: --db, --durability, --history-per-group, --history-max-age, "
          "--history-queue-limit, --history-writer-nice") {
  const ServeOptions defaults = parse_serve_options({});
  CHECK(defaults.server.db_path == "huddle.db"); // a file for serve; in memory for the library
  CHECK(huddle::ServerConfig{}.db_path.empty());
  CHECK(defaults.server.durability == huddle::Durability::batch);
  CHECK(defaults.server.history_per_group == 10'000);
  CHECK(defaults.server.history_max_age == 30 * 24h);
  CHECK(defaults.server.history_queue_limit == 100'000);
  CHECK(defaults.server.history_writer_nice == 10);
  CHECK(defaults.server.history_commit_delay == 2ms);

  const ServeOptions options =
      parse_serve_options({"--db", "/tmp/x.db", "--durability", "sync", "--history-per-group", "50",
                           "--history-max-age", "7d"});
  CHECK(options.server.db_path == "/tmp/x.db");
  CHECK(options.server.durability == huddle::Durability::sync);
  CHECK(options.server.history_per_group == 50);
  CHECK(options.server.history_max_age == 7 * 24h);
  CHECK(parse_serve_options({"--durability", "none"}).server.durability ==
        huddle::Durability::none);
  CHECK(parse_serve_options({"--db", ""}).server.db_path.empty());
  CHECK(parse_serve_options({"--history-per-group", "0"}).server.history_per_group == 0);
  CHECK(parse_serve_options({"--history-max-age", "0"}).server.history_max_age == 0ms);
  CHECK(parse_serve_options({"--history-max-age", "90m"}).server.history_max_age == 90min);
  CHECK(parse_serve_options({"--history-queue-limit", "10"}).server.history_queue_limit == 10);
  CHECK(parse_serve_options({"--history-writer-nice", "0"}).server.history_writer_nice == 0);
  CHECK(parse_serve_options({"--history-commit-delay", "0"}).server.history_commit_delay == 0ms);
  CHECK(parse_serve_options({"--history-commit-delay", "10ms"}).server.history_commit_delay ==
        10ms);

  CHECK(usage_error({"--durability", "always"}).find("--durability") != std::string::npos);
  CHECK(usage_error({"--history-per-group", "-1"}).find("--history-per-group") !=
        std::string::npos);
  CHECK(usage_error({"--history-max-age", "month"}).find("--history-max-age") != std::string::npos);
  CHECK(usage_error({"--history-writer-nice", "20"}).find("--history-writer-nice") !=
        std::string::npos);
  CHECK(usage_error({"--history-queue-limit", "0"}).find("--history-queue-limit") !=
        std::string::npos);
  CHECK(usage_error({"--history-commit-delay", "2s"}).find("--history-commit-delay") !=
        std::string::npos);

  const std::string help = serve_help();
  for (auto flag : {"--db", "--durability", "--history-per-group", "--history-max-age", "30d",
                    "--history-queue-limit", "--history-writer-nice", "--history-commit-delay"})
    CHECK_MESSAGE(help.find(flag) != std::string::npos, flag);
}

TEST_CASE("abuse limits: rates, per-address limits and trusted proxies are flags") {
  const ServeOptions defaults = parse_serve_options({});
  const huddle::ServerConfig config;
  CHECK(defaults.server.message_rate == config.message_rate);
  CHECK(defaults.server.message_burst == config.message_burst);
  CHECK(defaults.server.rate_limit_close_after == config.rate_limit_close_after);
  CHECK(defaults.server.max_connections_per_address == config.max_connections_per_address);
  CHECK(defaults.server.upgrade_rate_per_address == config.upgrade_rate_per_address);
  CHECK(defaults.server.upgrade_burst_per_address == config.upgrade_burst_per_address);
  CHECK(defaults.server.trusted_proxies.empty());

  const ServeOptions options = parse_serve_options(
      {"--message-rate", "5", "--message-burst", "7", "--rate-limit-close-after", "0",
       "--max-connections-per-address", "0", "--upgrade-rate-per-address", "3",
       "--upgrade-burst-per-address", "9", "--trusted-proxies", "10.0.0.0/8, ::1,192.0.2.7"});
  CHECK(options.server.message_rate == 5);
  CHECK(options.server.message_burst == 7);
  CHECK(options.server.rate_limit_close_after == 0);
  CHECK(options.server.max_connections_per_address == 0);
  CHECK(options.server.upgrade_rate_per_address == 3);
  CHECK(options.server.upgrade_burst_per_address == 9);
  CHECK(options.server.trusted_proxies ==
        std::vector<std::string>{"10.0.0.0/8", "::1", "192.0.2.7"});

  const std::string help = serve_help();
  for (auto flag : {"--message-rate", "--message-burst", "--rate-limit-close-after",
                    "--max-connections-per-address", "--upgrade-rate-per-address",
                    "--upgrade-burst-per-address", "--trusted-proxies"})
    CHECK_MESSAGE(help.find(flag) != std::string::npos, flag);

  CHECK(usage_error({"--message-rate", "-1"}).find("--message-rate") != std::string::npos);
  CHECK(usage_error({"--message-burst", "0"}).find("--message-burst") != std::string::npos);
  CHECK(usage_error({"--upgrade-burst-per-address", "0"}).find("--upgrade-burst-per-address") !=
        std::string::npos);
  CHECK(usage_error({"--max-connections-per-address", "x"}).find("--max-connections-per-address") !=
        std::string::npos);
  for (auto bad : {"10.0.0.0/33", "::1/129", "example.com", "10.0.0.0/", "10.0.0.0/8,",
                   "10.0.0.0/8/8", "1.2.3.4/-1"}) {
    CAPTURE(bad);
    const std::string error = usage_error({"--trusted-proxies", bad});
    CHECK(error.find("--trusted-proxies") != std::string::npos);
  }
}

TEST_CASE("--metrics-token-file: the token is the file's first line, long enough, no blanks") {
  CHECK(parse_serve_options({}).server.metrics_token.empty()); // loopback only by default
  huddle::test::TempDir dir;
  const std::string file = dir.file("metrics-token");
  std::ofstream(file) << "0123456789abcdef0123\r\nsecond line\n";
  CHECK(parse_serve_options({"--metrics-token-file", file}).server.metrics_token ==
        "0123456789abcdef0123");
  std::ofstream(file) << "short\n";
  CHECK(usage_error({"--metrics-token-file", file}).find("at least 16") != std::string::npos);
  std::ofstream(file) << "0123456789abcdef 0123\n";
  CHECK(usage_error({"--metrics-token-file", file}).find("without blanks") != std::string::npos);
  std::ofstream(file) << "";
  CHECK(usage_error({"--metrics-token-file", file}).find("cannot read") != std::string::npos);
  CHECK(usage_error({"--metrics-token-file", dir.file("missing")}).find("--metrics-token-file") !=
        std::string::npos);
}

TEST_CASE("the publish API's limits are flags") {
  const ServeOptions defaults = parse_serve_options({});
  const huddle::ServerConfig config;
  CHECK(defaults.server.publish_rate == config.publish_rate);
  CHECK(defaults.server.publish_burst == config.publish_burst);
  CHECK(defaults.server.idempotency_window == config.idempotency_window);
  CHECK(defaults.server.idempotency_keys == config.idempotency_keys);

  const ServeOptions options =
      parse_serve_options({"--publish-rate", "0", "--publish-burst", "3", "--idempotency-window",
                           "1h", "--idempotency-keys", "50"});
  CHECK(options.server.publish_rate == 0);
  CHECK(options.server.publish_burst == 3);
  CHECK(options.server.idempotency_window == std::chrono::hours(1));
  CHECK(options.server.idempotency_keys == 50);
  CHECK(parse_serve_options({"--idempotency-window", "0"}).server.idempotency_window.count() == 0);

  const std::string help = serve_help();
  for (auto flag :
       {"--publish-rate", "--publish-burst", "--idempotency-window", "--idempotency-keys"})
    CHECK_MESSAGE(help.find(flag) != std::string::npos, flag);
  for (auto bad :
       {std::pair{"--publish-rate", "-1"}, std::pair{"--publish-burst", "0"},
        std::pair{"--idempotency-window", "soon"}, std::pair{"--idempotency-keys", "0"}}) {
    CAPTURE(bad.first);
    CHECK(usage_error({bad.first, bad.second}).find(bad.first) != std::string::npos);
  }
}

namespace {

// Sets an environment variable for one test, then puts back what was there.
class ScopedVariable {
public:
  ScopedVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedVariable() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedVariable(const ScopedVariable&) = delete;
  ScopedVariable& operator=(const ScopedVariable&) = delete;

private:
  const char* name_;
  std::optional<std::string> old_;
};

} // namespace

TEST_CASE("durations and sizes take one format; --help shows defaults in it") {
  const ServeOptions options =
      parse_serve_options({"--max-message-bytes", "16KiB", "--send-queue-bytes", "4MiB",
                           "--idle-timeout", "1.5m", "--history-commit-delay", "0.5s"});
  CHECK(options.server.max_message_bytes == 16 * 1024);
  CHECK(options.server.send_queue_bytes == 4 << 20);
  CHECK(options.server.idle_timeout == 90s);
  CHECK(options.server.history_commit_delay == 500ms);
  const std::string help = serve_help();
  for (auto shown :
       {"--max-message-bytes arg (=64KiB)", "--send-queue-bytes arg (=1MiB)",
        "--idle-timeout arg (=1m)", "--token-ttl arg (=12h)", "--history-max-age arg (=30d)",
        "--write-coalesce arg (=4ms)", "--durability arg (=batch)", "--auth arg (=builtin)",
        "--log-format arg (=text)"})
    CHECK_MESSAGE(help.find(shown) != std::string::npos, shown);
  CHECK(usage_error({"--max-message-bytes", "128MiB"}) ==
        "--max-message-bytes must be a size from 16 to 64MiB, like 65536, 64KiB or 1MiB, got "
        "\"128MiB\"");
  CHECK(usage_error({"--history-commit-delay", "0.5us"}).find("--history-commit-delay") == 0);
}

TEST_CASE("--config reads `name = value` lines; HUDDLE_* variables; flags > env > file") {
  huddle::test::TempDir dir;
  const std::string file = dir.file("huddle.conf");
  std::ofstream(file) << "# a comment\n"
                         "port = 1111\n"
                         "max-connections = 10\n"
                         "message-rate = 3\n"
                         "idle-timeout = 2m\n"
                         "deflate = true\n";
  const ServeOptions from_file = parse_serve_options({"--config", file});
  CHECK(from_file.server.port == 1111);
  CHECK(from_file.server.max_connections == 10);
  CHECK(from_file.server.message_rate == 3);
  CHECK(from_file.server.idle_timeout == 2min);
  CHECK(from_file.server.deflate);
  CHECK(from_file.server.message_burst == huddle::ServerConfig{}.message_burst);

  const ScopedVariable port("HUDDLE_PORT", "2222");
  const ScopedVariable connections("HUDDLE_MAX_CONNECTIONS", "20");
  const ScopedVariable burst("HUDDLE_MESSAGE_BURST", "9");
  const ServeOptions all = parse_serve_options({"--config", file, "--port", "3333"});
  CHECK(all.server.port == 3333);          // the flag over the variable and the file
  CHECK(all.server.max_connections == 20); // the variable over the file
  CHECK(all.server.message_burst == 9);    // the variable over the default
  CHECK(all.server.message_rate == 3);     // the file over the default
  CHECK(all.server.idle_timeout == 2min);
  CHECK(parse_serve_options({}).server.port == 2222); // no file: the variable
}

TEST_CASE("a bad line in the config file names the file, the line and the key") {
  huddle::test::TempDir dir;
  const std::string file = dir.file("huddle.conf");
  std::ofstream(file) << "port = 1\n  idle-timeout =  soon\n";
  CHECK(usage_error({"--config", file}) ==
        file + ":2: idle-timeout must be a duration of at least 1ms, like 250ms, 1.5s or 5m, "
               "got \"soon\"");
  std::ofstream(file) << "port = 1\nprot = 2\n";
  CHECK(usage_error({"--config", file}) == file + ":2: unrecognised option 'prot'");
  std::ofstream(file) << "port 1\n";
  const std::string syntax = usage_error({"--config", file});
  CHECK(syntax.find(file + ": ") == 0);
  CHECK(syntax.find("port 1") != std::string::npos);
  std::ofstream(file) << "config = other.conf\n";
  CHECK(usage_error({"--config", file}) == file + ":1: config is for the command line only");
  CHECK(usage_error({"--config", dir.file("missing.conf")}) ==
        "--config: cannot read \"" + dir.file("missing.conf") + "\"");
  // The file is checked like the flags: a cross-field rule names the flags.
  std::ofstream(file) << "ping-interval = 1m\nidle-timeout = 30s\n";
  CHECK(usage_error({"--config", file}).find("--idle-timeout must be longer") == 0);
}

TEST_CASE("a bad HUDDLE_* value names the variable; other HUDDLE_* variables are ignored") {
  {
    const ScopedVariable port("HUDDLE_PORT", "80x");
    CHECK(usage_error({}) == "HUDDLE_PORT must be a whole number from 0 to 65535, got \"80x\"");
    CHECK(parse_serve_options({"--port", "1"}).server.port == 1); // the flag wins, unread
  }
  const ScopedVariable token("HUDDLE_TOKEN", "for huddle chat");
  const ScopedVariable typo("HUDDLE_MAX_CONECTIONS", "1");
  const ScopedVariable help("HUDDLE_HELP", "1");
  const ScopedVariable config("HUDDLE_CONFIG", "/no/such/file");
  const ScopedVariable lower("HUDDLE_port", "1");
  const ServeOptions options = parse_serve_options({});
  CHECK_FALSE(options.help);
  CHECK(options.server.port == huddle::ServerConfig{}.port);
  CHECK(options.server.max_connections == huddle::ServerConfig{}.max_connections);

  const ScopedVariable password("HUDDLE_BROKER_PASSWORD", "secret");
  CHECK(parse_serve_options({"--broker", "redis://127.0.0.1:6379"}).server.broker_password ==
        "secret");
}
