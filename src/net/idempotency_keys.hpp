// IdempotencyKeys: what POST /api/groups/{id}/messages remembers of the requests that came
// with an `Idempotency-Key` header, so that a backend retrying a publish (its answer was
// lost, its connection broke) gets the first publish's id instead of sending the message
// twice (docs/protocol.md, "Publishing from a backend").
//
// A key is claimed when its request starts. Until the message is stored (complete()) a
// retry is told the first one is still in progress; once stored, a retry gets its id; if
// nothing was sent (abandon(): refused, broker away) the key is forgotten and a retry
// publishes anew. A retry whose content differs from the first request's is refused (a key
// reused by mistake must not answer for another message).
//
// Bounded: a key is remembered for `window` after its claim (ServerConfig::
// idempotency_window), and at most `max_keys` at once (ServerConfig::idempotency_keys): past
// it the oldest are forgotten first, so under a flood the window shrinks rather than memory
// growing. Thread-safe (one mutex, taken once per call).
#pragma once

#include <huddle/message.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace huddle::net {

class IdempotencyKeys {
public:
  using Clock = std::chrono::steady_clock;

  struct Config {
    std::chrono::milliseconds window{0}; // 0: keys are not remembered
    std::size_t max_keys = 0;            // 0: keys are not remembered
  };

  struct Claim {
    enum class Outcome {
      fresh,       // the caller publishes, then calls complete() or abandon() with `serial`
      in_progress, // the first request with this key has not been stored yet
      done,        // stored as `id`: answer with it
      mismatch,    // the key was used for another content
    } outcome = Outcome::fresh;
    MessageId id = 0;
    std::uint64_t serial = 0; // with fresh
  };

  explicit IdempotencyKeys(Config config) : config_(config) {}

  bool enabled() const noexcept { return config_.window.count() > 0 && config_.max_keys > 0; }

  // `key` names the caller, the group and the header's value together; `fingerprint`, the
  // request's content. Always `fresh` when !enabled().
  Claim claim(const std::string& key, std::uint64_t fingerprint,
              Clock::time_point now = Clock::now());
  // The fresh claim `serial` of `key` was stored as `id` / sent nothing. No-ops when the key
  // was forgotten meanwhile.
  void complete(const std::string& key, std::uint64_t serial, MessageId id) noexcept;
  void abandon(const std::string& key, std::uint64_t serial) noexcept;

  // Keys remembered now (tests: the table stays bounded).
  std::size_t size() const;

private:
  struct Entry {
    std::uint64_t fingerprint = 0;
    std::uint64_t serial = 0;
    MessageId id = 0; // 0 until complete()
  };
  struct Claimed {
    Clock::time_point at;
    std::uint64_t serial;
    std::string key;
  };
  // With the mutex held: forgets what is older than the window, then the oldest past max_keys.
  void expire(Clock::time_point now);

  const Config config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<Claimed> order_; // claims in time order; some may be forgotten already
  std::uint64_t serials_ = 0;
};

} // namespace huddle::net
