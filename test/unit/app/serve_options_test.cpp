#include "app/serve_options.hpp"
#include "app/usage_error.hpp"

#include <doctest/doctest.h>

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
  const std::string help = serve_help();
  for (auto flag : {"--max-message-bytes", "--send-queue-bytes", "--handshake-timeout",
                    "--ping-interval", "--idle-timeout", "--max-connections", "--threads",
                    "--shutdown-timeout", "--log-level", "--log-format"})
    CHECK_MESSAGE(help.find(flag) != std::string::npos, flag);
}

TEST_CASE("a bad value names its flag") {
  CHECK(usage_error({"--port", "70000"}).find("--port") != std::string::npos);
  CHECK(usage_error({"--port", "80x"}).find("--port") != std::string::npos);
  CHECK(usage_error({"--threads", "0"}).find("--threads") != std::string::npos);
  CHECK(usage_error({"--idle-timeout", "soon"}).find("--idle-timeout") != std::string::npos);
  CHECK(usage_error({"--ping-interval", "5parsecs"}).find("--ping-interval") != std::string::npos);
  CHECK(usage_error({"--log-format", "xml"}).find("--log-format") != std::string::npos);
  CHECK(usage_error({"--bogus"}).find("--bogus") != std::string::npos);
  CHECK(usage_error({"--ping-interval", "60s", "--idle-timeout", "30s"}).find("--idle-timeout") !=
        std::string::npos);
}
