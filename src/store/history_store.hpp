// HistoryStore: every message of every group in SQLite, the MessageLog of huddle's server.
//
// Writes: append() is a memory push (it runs inside a group's critical section). One
// dedicated writer thread drains everything pending into ONE transaction (group commit,
// the first message waiting up to `commit_delay` for company), then calls the messages'
// `on_durable` callbacks: with Durability::batch after COMMIT (WAL, synchronous=NORMAL:
// survives a killed process, not a power cut), with sync after COMMIT with
// synchronous=FULL (fsync), with none at once, inside append().
// A batch that fails to commit (disk full, the file locked by another program) is kept,
// still readable, and retried; its callbacks wait. The queue is bounded (max_queued):
// at the bound try_reserve() fails and the server refuses new messages, so a failing
// disk costs availability, never memory without bound or an ack for a lost message. The
// same bound limits the ids a crash can burn: at start-up after an unclean stop every
// group's ids move past it, and the epoch changes (store/continuity.hpp).
// Reads: blocking read() calls, or async_read() which runs them on the store's own small
// thread pool, never on the caller's (I/O) threads. Reads see messages still pending in
// the writer's queue too, so a message is readable from the moment append() returned.
// Retention (max messages per group, max age) is enforced by the writer thread in the
// background, at most every `retention_interval`.
//
// The file is in WAL mode, its schema versioned (table schema_version, shared with the
// accounts: store/schema.hpp) and migrated forward when opened. An empty path keeps the
// history in memory for this object's life.
// Thread-safe; the constructor blocks (call it at start-up).
#pragma once

#include <huddle/message_log.hpp>
#include <huddle/server_config.hpp>

#include "core/metrics.hpp"
#include "store/sqlite.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace huddle::store {

using huddle::Durability; // none, batch, sync: see server_config.hpp

// The writer thread's name, as `top -H` and /proc/PID/task/*/comm show it.
inline constexpr const char* k_writer_thread_name = "huddle-history";

// Upper bounds of the commit latency histogram, in microseconds: 100 us to 2.5 s. A batch
// commit (WAL, synchronous=NORMAL) takes well under a millisecond; fsync (sync) milliseconds.
inline constexpr std::uint64_t k_commit_latency_bounds[] = {
    100,    250,    500,     1'000,   2'500,   5'000,     10'000,
    25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000};

struct HistoryConfig {
  std::string path; // "" : in memory
  Durability durability = Durability::batch;
  std::size_t max_per_group = 10'000;                         // 0: no limit
  std::chrono::milliseconds max_age{30LL * 24 * 3600 * 1000}; // 0: no limit
  std::chrono::milliseconds retention_interval{5'000};
  // The writer thread's nice value (Linux; 0 keeps the process's): above 0, I/O threads
  // delivering messages go first when CPU is short, and commits (acks) wait.
  int writer_nice = 0;
  // Messages appended and not committed yet; at this many try_reserve() fails. Also how far
  // the next start moves ids on should this run not stop cleanly.
  std::size_t max_queued = 100'000;
  // Group commit: how long the first message of a batch may wait for more before the
  // writer commits (acks wait as long). 0: commit whatever is pending at once.
  std::chrono::milliseconds commit_delay{0};
  // After a failed commit the batch is retried this much later, doubling up to 30 s.
  std::chrono::milliseconds commit_retry_interval{1'000};
  // How long the writer waits for another connection's write lock before a commit fails.
  std::chrono::milliseconds busy_timeout{k_busy_timeout_ms};
  // Failed commits, retention errors, a new epoch (null: core::log::or_default()).
  std::shared_ptr<Logger> logger;
};

class HistoryStore : public MessageLog {
public:
  // Opens (creating and migrating) the database and starts the writer thread. Throws
  // std::runtime_error naming the file when it cannot be opened or migrated.
  explicit HistoryStore(HistoryConfig config);
  // Commits what is pending (calling its callbacks; trying once when commits are failing,
  // then dropping it, logged), then stops the threads.
  ~HistoryStore() override;

  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  // False while max_queued messages wait for the writer (or are reserved).
  bool try_reserve() noexcept override;
  // Requires a try_reserve() that returned true, one per append().
  void append(const MessagePtr& message, std::function<void()> on_durable) override;
  // Runs on the store's reader threads.
  boost::asio::awaitable<MessageId> last_id(GroupId group) override;
  std::string epoch() const override;
  // last_id(), blocking.
  MessageId read_last_id(GroupId group);
  // Commits that failed (and were retried or, at shutdown, given up) since start.
  std::uint64_t failed_commits() const;
  // Messages reserved and not yet committed or dropped (at most max_queued).
  std::size_t queued() const noexcept;
  // How long successful commits took, in microseconds (k_commit_latency_bounds).
  const core::Histogram& commit_latency() const noexcept;

  // Messages of `group` with after < id <= upto, in id order, at most `limit`, and no more
  // than the first to reach `max_bytes` of frames (a page: at least one message).
  std::vector<MessagePtr> read(GroupId group, MessageId after, MessageId upto, std::size_t limit,
                               std::size_t max_bytes = SIZE_MAX);
  // The newest `limit` messages of `group`, in id order.
  std::vector<MessagePtr> read_latest(GroupId group, std::size_t limit);

  // Whether someone who has seen `group` up to `since` misses a message by going on from
  // `first_kept`: one is stored (or queued) in between, or retention deleted one after
  // `since`. Ids that never named a stored message (burnt by a crash) are no loss.
  bool skips(GroupId group, MessageId since, MessageId first_kept);
  boost::asio::awaitable<bool> async_skips(GroupId group, MessageId since, MessageId first_kept);

  // The same, run on the store's reader threads; the caller resumes on its own executor.
  boost::asio::awaitable<std::vector<MessagePtr>> async_read(GroupId group, MessageId after,
                                                             MessageId upto, std::size_t limit,
                                                             std::size_t max_bytes = SIZE_MAX);
  boost::asio::awaitable<std::vector<MessagePtr>> async_read_latest(GroupId group,
                                                                    std::size_t limit);

  // Blocks until everything appended before the call is committed and its callbacks have
  // run (tests, shutdown), and returns true. While commits keep failing it waits at most
  // `patience`: then the writer tries once more, drops what it still cannot store (logged;
  // those senders never get an ack) and flush() returns false.
  bool flush(std::chrono::milliseconds patience = std::chrono::milliseconds::max());
  // Runs retention now, on the calling thread (tests); the writer does it on its own.
  void enforce_retention();

  const HistoryConfig& config() const noexcept;

private:
  struct Core;
  std::shared_ptr<Core> core_; // shared with the writer thread, which may outlive *this
  std::thread writer_;
};

} // namespace huddle::store
