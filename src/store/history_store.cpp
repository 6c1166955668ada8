#include "store/history_store.hpp"

#include "core/log.hpp"
#include "store/continuity.hpp"
#include "store/file_lock.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#if defined(__linux__)
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace huddle::store {

namespace asio = boost::asio;

namespace {

constexpr std::size_t k_reader_threads = 2;
constexpr std::chrono::milliseconds k_max_retry_interval{30'000};

MessagePtr row_message(GroupId group, const Statement& row) {
  MessageDraft draft{row.text(1), row.text(2), row.integer(3)};
  return Message::make(group, row.integer(0), std::move(draft));
}

// Names the writer thread (as `top -H` and /proc show it) and lowers its CPU priority (on
// Linux, nice is per thread).
void set_up_writer_thread(int nice, Logger& logger) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), k_writer_thread_name);
  if (nice > 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0)
    HUDDLE_LOG(logger, warning, "history.nice_failed", {{"nice", nice}});
#else
  (void)nice;
#endif
}

void sort_unique(std::vector<MessagePtr>& messages) {
  std::sort(messages.begin(), messages.end(),
            [](const MessagePtr& a, const MessagePtr& b) { return a->id() < b->id(); });
  messages.erase(
      std::unique(messages.begin(), messages.end(),
                  [](const MessagePtr& a, const MessagePtr& b) { return a->id() == b->id(); }),
      messages.end());
}

} // namespace

struct HistoryStore::Core {
  struct Entry {
    MessagePtr message;
    std::function<void()> on_durable;
  };

  explicit Core(HistoryConfig cfg) : config(core::log::with_logger(std::move(cfg))) {
    if (!config.path.empty()) file_lock.emplace(config.path + ".lock");
    const auto busy_ms = static_cast<int>(config.busy_timeout.count());
    write_connection = open_database(config.path, busy_ms); // WAL; closed by close()
    write_db = write_connection.get();
    try {
      switch (config.durability) {
      case Durability::none:
        exec(write_db, "PRAGMA synchronous=OFF");
        break;
      case Durability::batch:
        exec(write_db, "PRAGMA synchronous=NORMAL");
        break;
      case Durability::sync:
        exec(write_db, "PRAGMA synchronous=FULL");
        break;
      }
      migrate(write_db, config.path, *config.logger);
      continuity = begin_run(write_db, file_lock ? &*file_lock : nullptr,
                             static_cast<std::int64_t>(config.max_queued));
      if (!continuity.broken_because.empty())
        HUDDLE_LOG(*config.logger, warning, "history.new_epoch",
                   {{"path", config.path},
                    {"epoch", continuity.epoch},
                    {"reason", continuity.broken_because}});
      // An in-memory database exists only for its one connection: readers share it.
      if (!config.path.empty()) read_connection = open_database(config.path, busy_ms);
      read_db = read_connection ? read_connection.get() : write_db;
      insert = Statement(write_db,
                         "INSERT INTO messages(group_id, id, sender, text, ts) VALUES(?,?,?,?,?)");
      upsert_group = Statement(write_db, "INSERT INTO groups(group_id, last_id) VALUES(?, ?)"
                                         " ON CONFLICT(group_id) DO UPDATE SET"
                                         " last_id = max(last_id, excluded.last_id)");
    } catch (...) {
      close();
      throw;
    }
    // Retention looks at every group once after start-up, then at those written to.
    Statement groups(read_db, "SELECT group_id FROM groups");
    while (groups.next())
      touched.insert(groups.integer(0));
  }

  ~Core() {
    readers.join();
    close();
  }

  void close() {
    insert = Statement();
    upsert_group = Statement();
    read_db = write_db = nullptr;
    read_connection.reset();
    write_connection.reset();
  }

  // Locks the read connection; in memory it is the writer's too.
  std::unique_lock<std::mutex> lock_reads() { return std::unique_lock(read_mutex); }
  std::unique_lock<std::mutex> lock_writes() {
    return read_db == write_db ? std::unique_lock(read_mutex) : std::unique_lock<std::mutex>();
  }

  void run_writer() {
    set_up_writer_thread(config.writer_nice, *config.logger);
    using std::chrono::steady_clock;
    auto next_retention = steady_clock::now() + config.retention_interval;
    // While commits fail, the batch waits in in_flight (still readable) until retry_at.
    bool failing = false;
    auto retry_interval = config.commit_retry_interval;
    steady_clock::time_point retry_at;
    for (;;) {
      std::uint64_t taken_seq = 0;
      std::uint64_t retention_seq = 0;
      bool last_try = false; // stopping, or flush() ran out of patience: no retry after this
      {
        std::unique_lock lock(mutex);
        // While failing, only the retry time (or stopping, or a flush giving up) wakes it:
        // retention waits until the database takes writes again.
        wake.wait_until(lock, failing ? retry_at : next_retention, [&] {
          if (stopping || give_up) return true;
          return !failing && (!pending.empty() || retention_asked > retention_done);
        });
        // Group commit: the first message of a batch waits up to commit_delay for others
        // to join it, so a steady trickle costs a commit (and a wake-up of this thread and
        // of the I/O threads its acks go to) per batch instead of per message. What
        // arrived during the last commit has waited already and goes at once.
        if (!failing && !pending.empty() && config.commit_delay.count() > 0)
          wake.wait_until(lock, first_pending_at + config.commit_delay, [&] {
            return stopping || give_up || flush_asked > committed_seq ||
                   retention_asked > retention_done;
          });
        if (stopping && pending.empty() && in_flight.empty()) {
          // Every id handed out is stored (none was ever dropped): the next start may trust
          // the file's last ids as they are (store/continuity.hpp).
          if (dropped == 0) mark_stopped_cleanly();
          break;
        }
        if (in_flight.empty()) {
          in_flight.swap(pending);
        } else { // a failed batch: retried together with what came since
          std::move(pending.begin(), pending.end(), std::back_inserter(in_flight));
          pending.clear();
        }
        taken_seq = appended_seq;
        retention_seq = retention_asked;
        last_try = stopping || give_up;
        give_up = false;
      }
      if (!in_flight.empty()) {
        const auto commit_started = steady_clock::now();
        const bool committed = commit(in_flight);
        if (committed)
          commit_latency.observe(
              static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             steady_clock::now() - commit_started)
                                             .count()));
        if (!committed) {
          {
            std::lock_guard lock(mutex);
            ++failed;
            // Asked to stop while this try ran: no retry (it would wait out another busy
            // timeout).
            last_try = last_try || stopping || give_up;
            give_up = false;
            if (last_try) dropped += in_flight.size();
          }
          flushed.notify_all();
          if (!last_try) {
            failing = true;
            retry_at = steady_clock::now() + retry_interval;
            HUDDLE_LOG(*config.logger, error, "history.commit_retrying",
                       {{"messages", in_flight.size()}, {"retry_ms", retry_interval.count()}});
            retry_interval = std::min(retry_interval * 2, k_max_retry_interval);
            continue;
          }
          // Their senders got no ack.
          HUDDLE_LOG(*config.logger, error, "history.dropped", {{"messages", in_flight.size()}});
        } else if (failing) {
          HUDDLE_LOG(*config.logger, warning, "history.recovered",
                     {{"messages", in_flight.size()}});
        }
        failing = false;
        retry_interval = config.commit_retry_interval;
        std::vector<Entry> done;
        {
          std::lock_guard lock(mutex);
          done.swap(in_flight); // readers find them in the database from now on
        }
        queued -= done.size(); // before the acks: a sender that got one may send again
        if (committed)
          for (auto& entry : done)
            if (entry.on_durable) entry.on_durable();
        done.clear();
        {
          std::lock_guard lock(mutex); // flush() returns once the callbacks have run
          committed_seq = taken_seq;
        }
        flushed.notify_all();
      }
      if (steady_clock::now() >= next_retention || retention_seq > retention_done) {
        retain();
        next_retention = steady_clock::now() + config.retention_interval;
        {
          std::lock_guard lock(mutex);
          retention_done = retention_seq;
        }
        flushed.notify_all();
      }
    }
  }

  void mark_stopped_cleanly() {
    try {
      auto db_lock = lock_writes();
      end_run(write_db);
    } catch (const std::exception& e) {
      // The next start moves ids on as after a crash.
      HUDDLE_LOG(*config.logger, warning, "history.clean_stop_failed", {{"error", e.what()}});
    }
  }

  // One transaction for the whole batch (group commit). False when it could not commit:
  // then nothing of it is stored and the whole batch is tried again later.
  bool commit(const std::vector<Entry>& batch) {
    auto db_lock = lock_writes();
    try {
      Transaction transaction(write_db); // rolled back when anything below throws
      std::unordered_map<GroupId, MessageId> newest;
      for (const Entry& entry : batch) {
        const Message& m = *entry.message;
        insert.bind(1, m.group()).bind(2, m.id()).bind(3, m.from()).bind(4, m.text());
        insert.bind(5, m.ts_ms());
        const int rc = insert.step();
        // An id stored before (by a COMMIT that reported an error after all) is already
        // kept; any other failure (a full disk) fails the batch, to be tried again.
        if (rc != SQLITE_DONE && insert.extended_error() != SQLITE_CONSTRAINT_PRIMARYKEY)
          throw std::runtime_error("cannot store message group=" + std::to_string(m.group()) +
                                   " id=" + std::to_string(m.id()) + ": " + insert.error());
        insert.reset();
        auto& id = newest[m.group()];
        id = std::max(id, m.id());
      }
      for (const auto& [group, id] : newest) {
        upsert_group.bind(1, group).bind(2, id);
        upsert_group.run();
        upsert_group.reset();
        touched.insert(group);
      }
      transaction.commit();
      return true;
    } catch (const std::exception& e) {
      insert.reset();
      upsert_group.reset();
      HUDDLE_LOG(*config.logger, error, "history.commit_failed",
                 {{"messages", batch.size()}, {"error", e.what()}});
      return false;
    }
  }

  // Deletes the older messages: beyond the newest max_per_group of each group written to
  // (counted as rows: ids may have gaps, store/continuity.hpp), and older than max_age.
  // Each group records the newest id it deleted (groups.trimmed_through), so a replay can
  // tell messages that are gone from ids that never named a stored message.
  void retain() {
    try {
      auto db_lock = lock_writes();
      Transaction transaction(write_db);
      std::vector<std::pair<GroupId, MessageId>> cuts; // delete up to and including
      if (config.max_per_group > 0) {
        Statement newest_dropped(write_db, "SELECT id FROM messages WHERE group_id = ?"
                                           " ORDER BY id DESC LIMIT 1 OFFSET ?");
        for (GroupId group : touched) {
          newest_dropped.bind(1, group).bind(2, static_cast<std::int64_t>(config.max_per_group));
          if (newest_dropped.next()) cuts.emplace_back(group, newest_dropped.integer(0));
          newest_dropped.reset();
        }
      }
      if (config.max_age.count() > 0) {
        Statement expired(write_db, "SELECT group_id, max(id) FROM messages WHERE ts < ?"
                                    " GROUP BY group_id");
        expired.bind(1, now_ms() - config.max_age.count());
        while (expired.next())
          cuts.emplace_back(expired.integer(0), expired.integer(1));
      }
      Statement remove(write_db, "DELETE FROM messages WHERE group_id = ? AND id <= ?");
      Statement record(write_db, "UPDATE groups SET trimmed_through = max(trimmed_through, ?2)"
                                 " WHERE group_id = ?1");
      for (const auto& [group, through] : cuts) {
        remove.bind(1, group).bind(2, through).run();
        remove.reset();
        record.bind(1, group).bind(2, through).run();
        record.reset();
      }
      transaction.commit();
      touched.clear();
    } catch (const std::exception& e) {
      HUDDLE_LOG(*config.logger, error, "history.retention_failed", {{"error", e.what()}});
    }
  }

  // Whether a reader who saw everything up to `since` misses a message that is not in
  // (`first_kept`, ...]: one stored (or queued) in between, or one retention deleted.
  bool skips(GroupId group, MessageId since, MessageId first_kept) {
    if (first_kept <= since + 1) return false;
    if (!unwritten(group, [&](const Message& m) {
           return m.id() > since && m.id() < first_kept;
         }).empty())
      return true;
    auto db_lock = lock_reads();
    Statement query(read_db, "SELECT EXISTS(SELECT 1 FROM messages WHERE group_id = ?1"
                             " AND id > ?2 AND id < ?3)"
                             " OR coalesce((SELECT trimmed_through FROM groups"
                             " WHERE group_id = ?1), 0) > ?2");
    query.bind(1, group).bind(2, since).bind(3, first_kept);
    return query.next() && query.integer(0) != 0;
  }

  // Pending and in-flight messages of `group` that `keep` accepts; taken before the
  // database is read, so a message committed in between is found at least once.
  template <typename Keep> std::vector<MessagePtr> unwritten(GroupId group, Keep keep) {
    std::vector<MessagePtr> found;
    std::lock_guard lock(mutex);
    for (const auto* entries : {&in_flight, &pending})
      for (const Entry& entry : *entries)
        if (entry.message->group() == group && keep(*entry.message)) found.push_back(entry.message);
    return found;
  }

  std::vector<MessagePtr> read(GroupId group, MessageId after, MessageId upto, std::size_t limit,
                               std::size_t max_bytes) {
    if (limit == 0 || upto <= after) return {};
    auto found =
        unwritten(group, [&](const Message& m) { return m.id() > after && m.id() <= upto; });
    {
      auto db_lock = lock_reads();
      Statement select(read_db, "SELECT id, sender, text, ts FROM messages"
                                " WHERE group_id = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?");
      select.bind(1, group).bind(2, after).bind(3, upto);
      select.bind(4, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
      std::size_t bytes = 0;
      while (select.next()) {
        found.push_back(row_message(group, select));
        bytes += found.back()->frame()->size();
        if (bytes >= max_bytes) {
          // Later messages, queued ones included, wait for the next read, or this page
          // would have a gap.
          upto = found.back()->id();
          break;
        }
      }
    }
    sort_unique(found);
    std::size_t bytes = 0;
    std::size_t keep = 0;
    while (keep < found.size() && keep < limit && bytes < max_bytes && found[keep]->id() <= upto)
      bytes += found[keep++]->frame()->size();
    found.resize(keep);
    return found;
  }

  std::vector<MessagePtr> read_latest(GroupId group, std::size_t limit) {
    if (limit == 0) return {};
    auto found = unwritten(group, [](const Message&) { return true; });
    {
      auto db_lock = lock_reads();
      Statement select(read_db, "SELECT id, sender, text, ts FROM messages"
                                " WHERE group_id = ? ORDER BY id DESC LIMIT ?");
      select.bind(1, group);
      select.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
      while (select.next())
        found.push_back(row_message(group, select));
    }
    sort_unique(found);
    if (found.size() > limit)
      found.erase(found.begin(), found.end() - static_cast<std::ptrdiff_t>(limit));
    return found;
  }

  // The newest id of `group` ever appended, stored or queued (MessageLog::last_id()).
  MessageId last_id(GroupId group) {
    MessageId last = 0;
    for (const MessagePtr& message : unwritten(group, [](const Message&) { return true; }))
      last = std::max(last, message->id());
    auto db_lock = lock_reads();
    Statement select(read_db, "SELECT last_id FROM groups WHERE group_id = ?");
    select.bind(1, group);
    return std::max(last, select.next() ? select.integer(0) : continuity.id_floor);
  }

  const HistoryConfig config;
  // Before the database opens, released after it closes: one server per file (file_lock.hpp).
  std::optional<FileLock> file_lock;
  Database write_connection;
  Database read_connection;    // a second connection to the file; none in memory
  sqlite3* write_db = nullptr; // write_connection: the writer thread's (in memory, everybody's)
  Continuity continuity;       // set at start-up
  sqlite3* read_db = nullptr;  // read_connection, or in memory write_db
  std::mutex read_mutex;       // guards read_db
  Statement insert;            // writer thread only
  Statement upsert_group;
  std::unordered_set<GroupId> touched; // writer thread only: groups retention must look at

  std::mutex mutex; // guards what follows
  std::condition_variable wake;
  std::condition_variable flushed;
  std::vector<Entry> pending;
  std::vector<Entry> in_flight; // being committed; the writer reads it without the lock
  std::uint64_t appended_seq = 0;
  std::uint64_t committed_seq = 0;
  std::uint64_t flush_asked = 0;                          // the appended_seq a flush() waits for
  std::chrono::steady_clock::time_point first_pending_at; // when pending last became non-empty
  std::uint64_t retention_asked = 0; // enforce_retention() calls, and those the writer ran
  std::uint64_t retention_done = 0;
  std::uint64_t failed = 0;  // commits that failed
  std::uint64_t dropped = 0; // messages given up after a failed last try
  bool stopping = false;
  bool give_up = false; // flush() ran out of patience: the next failure drops the batch

  // Reserved (try_reserve()) and not yet committed or dropped: pending + in flight + about to
  // be appended. Never above config.max_queued, which is what bounds the ids a crash burns.
  std::atomic<std::size_t> queued{0};
  // Successful commits' durations in microseconds; written by the writer thread only.
  core::Histogram commit_latency{k_commit_latency_bounds};

  asio::thread_pool readers{k_reader_threads};
};

HistoryStore::HistoryStore(HistoryConfig config)
    : core_(std::make_shared<Core>(std::move(config))) {
  writer_ = std::thread([core = core_] { core->run_writer(); });
}

HistoryStore::~HistoryStore() {
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = true;
  }
  core_->wake.notify_one();
  // The last owner may be an on_durable callback running on the writer thread itself.
  if (writer_.get_id() == std::this_thread::get_id())
    writer_.detach();
  else
    writer_.join();
}

bool HistoryStore::try_reserve() noexcept {
  std::atomic<std::size_t>& queued = core_->queued;
  std::size_t now = queued.load(std::memory_order_relaxed);
  do {
    if (now >= core_->config.max_queued) return false;
  } while (!queued.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

void HistoryStore::append(const MessagePtr& message, std::function<void()> on_durable) {
  Core& core = *core_;
  if (core.config.durability == Durability::none && on_durable) {
    on_durable();
    on_durable = nullptr;
  }
  bool first = false;
  {
    std::lock_guard lock(core.mutex);
    first = core.pending.empty();
    if (first) core.first_pending_at = std::chrono::steady_clock::now();
    core.pending.push_back(Core::Entry{message, std::move(on_durable)});
    ++core.appended_seq;
  }
  if (first) core.wake.notify_one();
}

bool HistoryStore::skips(GroupId group, MessageId since, MessageId first_kept) {
  return core_->skips(group, since, first_kept);
}

asio::awaitable<bool> HistoryStore::async_skips(GroupId group, MessageId since,
                                                MessageId first_kept) {
  auto job = [](Core* core, GroupId group, MessageId since,
                MessageId first_kept) -> asio::awaitable<bool> {
    co_return core->skips(group, since, first_kept);
  };
  co_return co_await asio::co_spawn(core_->readers, job(core_.get(), group, since, first_kept),
                                    asio::use_awaitable);
}

MessageId HistoryStore::read_last_id(GroupId group) {
  return core_->last_id(group);
}

asio::awaitable<MessageId> HistoryStore::last_id(GroupId group) {
  auto job = [](Core* core, GroupId group) -> asio::awaitable<MessageId> {
    co_return core->last_id(group);
  };
  co_return co_await asio::co_spawn(core_->readers, job(core_.get(), group), asio::use_awaitable);
}

std::string HistoryStore::epoch() const {
  return core_->continuity.epoch;
}

std::vector<MessagePtr> HistoryStore::read(GroupId group, MessageId after, MessageId upto,
                                           std::size_t limit, std::size_t max_bytes) {
  return core_->read(group, after, upto, limit, max_bytes);
}

std::vector<MessagePtr> HistoryStore::read_latest(GroupId group, std::size_t limit) {
  return core_->read_latest(group, limit);
}

asio::awaitable<std::vector<MessagePtr>> HistoryStore::async_read(GroupId group, MessageId after,
                                                                  MessageId upto, std::size_t limit,
                                                                  std::size_t max_bytes) {
  // A plain pointer: the caller keeps the store alive while it waits, and the job must not
  // be what destroys the store on a reader thread.
  auto job = [core = core_.get(), group, after, upto, limit,
              max_bytes]() -> asio::awaitable<std::vector<MessagePtr>> {
    co_return core->read(group, after, upto, limit, max_bytes);
  };
  co_return co_await asio::co_spawn(core_->readers, std::move(job), asio::use_awaitable);
}

asio::awaitable<std::vector<MessagePtr>> HistoryStore::async_read_latest(GroupId group,
                                                                         std::size_t limit) {
  auto job = [core = core_.get(), group, limit]() -> asio::awaitable<std::vector<MessagePtr>> {
    co_return core->read_latest(group, limit);
  };
  co_return co_await asio::co_spawn(core_->readers, std::move(job), asio::use_awaitable);
}

bool HistoryStore::flush(std::chrono::milliseconds patience) {
  Core& core = *core_;
  std::unique_lock lock(core.mutex);
  const std::uint64_t target = core.appended_seq;
  const std::uint64_t dropped_before = core.dropped;
  core.flush_asked = std::max(core.flush_asked, target); // no group-commit wait for it
  core.wake.notify_one();
  const auto done = [&] { return core.committed_seq >= target; };
  if (patience == std::chrono::milliseconds::max()) {
    core.flushed.wait(lock, done);
  } else if (!core.flushed.wait_for(lock, patience, done)) {
    core.give_up = true; // only a failing commit is given up: a healthy one still completes
    core.wake.notify_one();
    core.flushed.wait(lock, done);
  }
  return core.dropped == dropped_before;
}

void HistoryStore::enforce_retention() {
  // Retention runs on the writer thread, which owns the write connection; this asks it to
  // and waits (it commits what is pending first).
  Core& core = *core_;
  std::unique_lock lock(core.mutex);
  const std::uint64_t asked = ++core.retention_asked;
  const std::uint64_t target = core.appended_seq;
  core.wake.notify_one();
  core.flushed.wait(lock,
                    [&] { return core.retention_done >= asked && core.committed_seq >= target; });
}

std::size_t HistoryStore::queued() const noexcept {
  return core_->queued.load(std::memory_order_relaxed);
}

const core::Histogram& HistoryStore::commit_latency() const noexcept {
  return core_->commit_latency;
}

std::uint64_t HistoryStore::failed_commits() const {
  std::lock_guard lock(core_->mutex);
  return core_->failed;
}

const HistoryConfig& HistoryStore::config() const noexcept {
  return core_->config;
}

} // namespace huddle::store
