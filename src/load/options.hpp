// Options: huddle-load's configuration, the presets, and the command line that fills it.
//
// parse_options() never exits or prints: it returns the options, the help text, or one
// line naming the offending flag, so main() decides the exit code (2 for bad input) and
// tests can drive it with plain argument lists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "load/payload.hpp"

namespace huddle::load {

// ws://host[:port]/path or wss://…, with `{group}` standing for the group id in the path.
struct UrlTemplate {
  bool tls = false; // wss://
  std::string host; // without brackets: "::1"
  std::uint16_t port = 80;
  std::string path = "/"; // path and query as written

  // The request target for a group: path with {group} replaced, plus `query` if any.
  std::string target(std::uint64_t group, std::string_view query) const;
  // The Host header value.
  std::string host_header() const;
  // HOST:PORT, for messages.
  std::string authority() const;
};

// Parses a ws:// or wss:// URL template (core::parse_ws_url, with {group} allowed in the
// path); on failure returns nullopt and sets `error`.
std::optional<UrlTemplate> parse_url_template(std::string_view url, std::string& error);

// Splits --url values ("a", or "a,b,c"; the flag may be given more than once) into one
// URL per endpoint; an empty one (",," or a trailing comma) is an error naming the value.
std::optional<std::vector<std::string>> split_urls(std::vector<std::string> const& values,
                                                   std::string& error);

// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
std::string url_encode(std::string_view text);

// `query` (without '?') with since=<id> in place of any since= it had: what a client
// reconnecting to a protocol v1 server asks for, so the server replays what it missed.
std::string query_with_since(std::string_view query, std::uint64_t since);

// The largest --size, in bytes.
inline constexpr std::uint32_t k_max_size = 16u << 20;

struct Options {
  // The --url values as given, joined by commas: what the report names.
  std::string url = "ws://127.0.0.1:8080/ws/{group}";
  // One per --url, in order: client i connects to url_templates[i % size()], so with the
  // nodes of one service a group's members and senders are spread over all of them.
  std::vector<UrlTemplate> url_templates;
  std::string scenario = "custom";
  std::uint32_t groups = 1;
  std::uint64_t group_base = 1; // id of the first group
  std::uint32_t clients = 10;   // stable members per group
  std::uint32_t senders = 1;    // of those, how many send
  double rate = 0;              // msgs/s per sender; 0 means closed loop
  std::uint32_t window = 8;     // closed loop: messages in flight per sender
  std::uint32_t size = 64;      // payload bytes (json: the document's)
  PayloadKind payload = PayloadKind::padding;
  double duration_s = 10;        // measured period
  double warmup_s = 1;           // sending, not measured
  double drain_s = 2;            // after sending stops, before counting losses
  double connect_rate = 5000;    // new connections per second; 0: all at once
  double connect_timeout_s = 10; // TCP connect + WebSocket handshake
  double settle_s = 0.1;         // without a welcome frame: join taken as done after
  std::uint32_t threads = 1;     // io_contexts, one thread each
  bool idle = false;             // hold connections, send nothing
  std::string token;
  std::string query;     // extra query string, appended as is
  std::string ca_file;   // wss://: PEM CA certificates trusted besides the system's
  bool insecure = false; // wss://: no certificate check (self-signed test setups only)
  bool deflate = false;  // offer permessage-deflate (RFC 7692) in every handshake
  bool echo = false;
  bool json = false;
  bool progress = true;
  std::uint32_t churners = 0; // per group: clients that join and leave in a loop
  double churn_hold_min_s = 0.2;
  double churn_hold_max_s = 1.0;
  std::uint32_t source_addresses = 1; // spread client sockets over 127.0.0.1..N
  std::uint64_t seed = 1;
  // Each stable client drops its TCP connection (no close frame) at a random moment in
  // every interval of this length in the measured window, then reconnects; 0: never.
  double drop_every_s = 0;

  bool closed_loop() const noexcept { return rate <= 0; }
  std::uint32_t senders_per_group() const noexcept { return idle ? 0 : senders; }
  std::uint64_t connections() const noexcept {
    return std::uint64_t{groups} * (clients + churners);
  }
  // The query string a client sends (token, echo, --query), without '?'.
  std::string query_string() const;
};

struct ParseResult {
  std::optional<Options> options; // set when the run can go ahead
  std::string help;               // set for --help / --version
  std::string error;              // one line naming the flag, for exit code 2
};

ParseResult parse_options(std::vector<std::string> const& args);

// Applies a preset to `options`; false when the name is unknown.
bool apply_scenario(std::string_view name, Options& options);

// Cross-field checks; returns the one-line error or an empty string.
std::string validate(Options const& options);

} // namespace huddle::load
