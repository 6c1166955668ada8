// ServerConfig: every setting of huddle's server, with the defaults `huddle serve` uses,
// except two: `huddle serve` stores history and accounts in ./huddle.db and uses
// AuthMode::builtin, while an embedding app keeps them in memory and uses AuthMode::none
// unless it says otherwise. A plain struct: the command line (src/app/) fills it, an
// embedding app sets fields.
#pragma once

#include <huddle/logger.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace huddle {

// When the sender's ack is sent, and what a crash may lose (docs/operations.md).
enum class Durability {
  none,  // ack at once; messages are written in the background (a crash loses the last ones)
  batch, // ack after the group commit (survives a killed process, not a power cut)
  sync,  // ack after the group commit is fsync'ed
};

// Who may open a group (docs/operations.md, "Access").
enum class AuthMode {
  none,    // anyone, under any name (?name=): development and load tests, loopback only
  builtin, // huddle's own accounts (POST /api/login) and HS256 tokens it signs itself
  jwt,     // tokens minted by another service: HS256 with a shared secret, or RS256
};

struct ServerConfig {
  // Where the server's log events go (include/huddle/logger.hpp); shared by everything the
  // server runs. Null: warnings and errors to stderr (make_stderr_logger()).
  std::shared_ptr<Logger> logger;

  std::string address = "127.0.0.1";
  std::uint16_t port = 8080; // 0: an ephemeral port, see Server::port()
  // TLS (docs/operations.md, "TLS"): with both files (PEM; the certificate file may hold the
  // chain after it), the port speaks HTTPS and wss only, and Server::reload_tls() reads them
  // again. Both "": plain HTTP and ws.
  std::string tls_certificate_file;
  std::string tls_key_file;

  // Largest client frame accepted; bigger ones close the connection with 1009. A compressed
  // message counts inflated.
  std::size_t max_message_bytes = 64 * 1024;
  // Negotiate permessage-deflate (RFC 7692) with clients that offer it: the server
  // compresses each frame once for all its recipients, and inflates what clients compress
  // (docs/protocol.md, "Compression"). Off: no extension is ever negotiated.
  bool deflate = false;
  // Bytes queued for one connection and not yet written; over it the connection is
  // closed with 1008 "slow consumer" and nobody else waits for it.
  std::size_t send_queue_bytes = 1024 * 1024;
  // From TCP accept to the end of the WebSocket upgrade (including the HTTP request).
  std::chrono::milliseconds handshake_timeout{10'000};
  // A ping is sent after this long without hearing from the peer...
  std::chrono::milliseconds ping_interval{20'000};
  // ...and the connection is dropped after this long without hearing anything.
  std::chrono::milliseconds idle_timeout{60'000};
  // Open WebSocket connections; upgrade requests over it get HTTP 503.
  std::size_t max_connections = 100'000;
  // Per client address (see trusted_proxies): open WebSocket connections, and upgrade
  // requests (`upgrade_burst_per_address` back to back, then `upgrade_rate_per_address` per
  // second). Over either, the upgrade is refused with HTTP 429 and Retry-After before any
  // token is checked. 0: no limit.
  std::size_t max_connections_per_address = 1000;
  unsigned upgrade_rate_per_address = 20;
  unsigned upgrade_burst_per_address = 100;
  // Data frames one connection may send: `message_burst` back to back, then `message_rate`
  // per second (0: no limit). Over it a frame is dropped and its sender gets the error
  // "rate_limited" with a retry hint; the `rate_limit_close_after`-th such refusal in a row
  // (no accepted frame in between; 0: never) closes the connection with 1008 "rate limit".
  unsigned message_rate = 20;
  unsigned message_burst = 40;
  unsigned rate_limit_close_after = 20;
  // POST /api/groups/{id}/messages per caller (the token's subject; the client's address with
  // AuthMode::none): `publish_burst` back to back, then `publish_rate` per second (0: no
  // limit). Over it the request gets HTTP 429 with Retry-After.
  unsigned publish_rate = 100;
  unsigned publish_burst = 200;
  // How long a publish's Idempotency-Key is remembered (a retry within it gets the first
  // publish's id instead of sending the message again; 0: keys are ignored), and how many
  // keys at most (past it the oldest are forgotten first).
  std::chrono::milliseconds idempotency_window{10 * 60 * 1000};
  std::size_t idempotency_keys = 100'000;
  // Reverse proxies (IPv4 and IPv6 CIDR ranges, or single addresses): only from a peer in
  // one of them is X-Forwarded-For believed, for the per-address limits, the login throttle
  // and the logs. Empty: the TCP peer is the client, whatever the headers say.
  std::vector<std::string> trusted_proxies;
  // A connection receiving 4 or more frames per this interval writes at most once per
  // interval: up to this much latency buys several times fewer syscalls per delivery in a
  // busy group (net/write_coalescing.hpp, docs/performance-journal.md step 8). Quieter
  // connections write at once. 0: never hold a write.
  std::chrono::milliseconds write_coalesce{4};
  // How long stop() lets sessions flush before their sockets are closed hard.
  std::chrono::milliseconds shutdown_timeout{5'000};

  // History: the SQLite file ("" keeps it in memory, lost at exit).
  std::string db_path;
  Durability durability = Durability::batch;
  // Messages kept per group (0: no limit), and for how long (0: forever).
  std::size_t history_per_group = 10'000;
  std::chrono::milliseconds history_max_age{30LL * 24 * 3600 * 1000};
  // Messages sent and not yet written to the history. While the database is that far
  // behind (a slow or failing disk; failed commits are retried), new messages are refused
  // with the error "history_unavailable" instead of using memory without bound.
  std::size_t history_queue_limit = 100'000;
  // A reconnect with ?since= replays at most this many of the newest messages it missed;
  // beyond it the welcome says "truncated" and the client pages through the history API.
  // Replay streams page by page at the socket's pace (a page is at most a quarter of
  // send_queue_bytes), so it costs a connection no more memory than live traffic does.
  std::size_t replay_limit = 1'000;
  // The history writer thread's nice value (Linux): above 0 it yields the CPU to the I/O
  // threads when CPU is short, so delivering messages goes before committing them (acks
  // wait a little). Measured in docs/performance-journal.md, step 7 (rooms p99). 0: the
  // process's own.
  int history_writer_nice = 10;
  // Group commit: the first message of a batch waits up to this long for others before the
  // history commits, so a steady trickle of messages costs a commit per batch, not one per
  // message (docs/performance-journal.md, issue 13 step 6). Acks (with batch or sync
  // durability) wait as long; deliveries to the group do not. 0: commit at once.
  std::chrono::milliseconds history_commit_delay{2};

  // Scale-out (docs/operations.md, "Running several nodes"): several nodes share groups
  // through the Redis server at this URL, `redis://HOST[:PORT][/DB]`. Redis then assigns ids
  // and keeps the history (streams, with history_per_group and history_max_age), and acks
  // mean Redis accepted the message; db_path keeps the accounts only, and durability and
  // history_queue_limit do not apply. "": one node, history in db_path.
  std::string broker_url;
  // Prefix of every Redis key and channel huddle uses (several services on one Redis).
  std::string broker_prefix = "huddle:";
  // Redis ACL user ("" : the default user) and password ("" : no AUTH). `huddle serve` reads
  // the password from a file or HUDDLE_BROKER_PASSWORD, never from its command line.
  std::string broker_user;
  std::string broker_password;
  // TCP connect and handshake, and the longest a command's reply may take before the
  // connection is taken for broken and made anew (messages sent meanwhile get the error
  // "broker_unavailable").
  std::chrono::milliseconds broker_connect_timeout{2'000};
  std::chrono::milliseconds broker_command_timeout{2'000};
  // A node refreshes its members' presence in Redis every third of this; a node that stops
  // doing so (it died) has its members shown offline (leave) within about this long.
  std::chrono::milliseconds presence_ttl{15'000};

  // Access. AuthMode::none on an address other than loopback is refused at start unless
  // allow_anonymous_on_network is set.
  AuthMode auth = AuthMode::none;
  bool allow_anonymous_on_network = false;
  // The HS256 secret's file. builtin: created when missing; "" means huddle.jwt-secret
  // beside db_path (or a secret in memory when db_path is ""). jwt: the shared secret.
  std::string jwt_secret_file;
  // jwt only: the issuer's RS256 public key (PEM), instead of jwt_secret_file.
  std::string jwt_public_key_file;
  // Checked (and, for builtin, set) when not empty.
  std::string jwt_issuer;
  std::string jwt_audience;
  // Lifetime of the tokens POST /api/login issues.
  std::chrono::seconds token_ttl{12 * 3600};
  // How often the server looks for revoked memberships (made by `huddle group revoke` in
  // another process): an open socket of a revoked user is closed within about this long.
  std::chrono::milliseconds access_check_interval{500};
  // Failed logins from one address: this many back to back, then one per this interval.
  unsigned login_burst = 5;
  std::chrono::milliseconds login_refill_interval{5'000};
  // Logins queued for or in password verification at once (each an Argon2id hash on one of
  // two threads: docs/benchmarks.md, "Password hashing"): beyond it POST /api/login answers
  // 503 at once, so a flood from many addresses cannot queue unbounded work or make every
  // login wait for seconds.
  unsigned max_pending_logins = 32;

  // GET /metrics (Prometheus): "" serves it to loopback clients only (no forwarded request);
  // otherwise to whoever sends this token as Authorization: Bearer, from anywhere.
  std::string metrics_token;
};

} // namespace huddle
