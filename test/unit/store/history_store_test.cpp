// HistoryStore against real SQLite files: group commit and callbacks, reads (including
// messages not committed yet), ids across reopen, retention, schema migration, and commits
// that fail because another connection holds the file's write lock.
#include "store/history_store.hpp"
#include "store/schema.hpp"
#include "temp_dir.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace huddle;
using namespace huddle::store;
using huddle::test::TempDir;
using namespace std::chrono_literals;

namespace {

MessagePtr message(GroupId group, MessageId id, std::string text = "hi",
                   std::int64_t ts = now_ms()) {
  MessageDraft draft{"alice", std::move(text), ts};
  return Message::make(group, id, std::move(draft));
}

std::vector<MessageId> ids(const std::vector<MessagePtr>& messages) {
  std::vector<MessageId> out;
  for (const auto& m : messages)
    out.push_back(m->id());
  return out;
}

std::vector<MessageId> range(MessageId first, MessageId last) {
  std::vector<MessageId> out;
  for (MessageId id = first; id <= last; ++id)
    out.push_back(id);
  return out;
}

HistoryConfig file_config(const TempDir& dir, Durability durability = Durability::batch) {
  HistoryConfig config;
  config.path = dir.file("history.db");
  config.durability = durability;
  return config;
}

// A store whose commits fail fast: another connection will hold the write lock.
HistoryConfig failing_config(const TempDir& dir) {
  HistoryConfig config = file_config(dir);
  config.busy_timeout = 20ms;
  config.commit_retry_interval = 10ms;
  return config;
}

// What a ChatManager does for each message: reserve room, then append.
void append(HistoryStore& store, const MessagePtr& m, std::function<void()> on_durable) {
  REQUIRE(store.try_reserve());
  store.append(m, std::move(on_durable));
}

// Waits (generously: this is about an event, not speed) until `condition` holds.
bool eventually(const std::function<bool()>& condition) {
  for (auto until = std::chrono::steady_clock::now() + 20s; !condition();) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

} // namespace

TEST_CASE("appended messages are durable, then readable in id order, with all their fields") {
  TempDir dir;
  HistoryStore store(file_config(dir));
  std::atomic<int> durable{0};
  for (MessageId id = 1; id <= 50; ++id)
    append(store, message(7, id, "m" + std::to_string(id), 1000 + id), [&] { ++durable; });
  append(store, message(8, 1), nullptr);
  store.flush();
  CHECK(durable == 50);

  const auto all = store.read(7, 0, INT64_MAX, 1000);
  CHECK(ids(all) == range(1, 50));
  CHECK(all[4]->from() == "alice");
  CHECK(all[4]->text() == "m5");
  CHECK(all[4]->ts_ms() == 1005);
  CHECK(all[4]->group() == 7);
  CHECK(*all[4]->frame() == *message(7, 5, "m5", 1005)->frame());

  CHECK(ids(store.read(7, 10, INT64_MAX, 5)) == range(11, 15));
  CHECK(ids(store.read(7, 10, 12, 100)) == range(11, 12));
  CHECK(store.read(7, 50, INT64_MAX, 100).empty());
  CHECK(store.read(7, 0, INT64_MAX, 0).empty());
  CHECK(ids(store.read_latest(7, 3)) == range(48, 50));
  CHECK(ids(store.read_latest(8, 3)) == range(1, 1));
  CHECK(store.read_latest(9, 3).empty());
  CHECK(store.read_last_id(7) == 50);
  CHECK(store.read_last_id(8) == 1);
  CHECK(store.read_last_id(9) == 0);
}

TEST_CASE("a message is readable as soon as append() returns, committed or not") {
  TempDir dir;
  HistoryStore store(file_config(dir, Durability::sync));
  for (MessageId id = 1; id <= 200; ++id) {
    append(store, message(1, id), nullptr);
    // Whatever the writer is doing (pending, in flight, committed), nothing is missing.
    const auto read = store.read(1, id - 1, id, 10);
    REQUIRE(ids(read) == std::vector<MessageId>{id});
  }
  CHECK(ids(store.read(1, 0, INT64_MAX, 1000)) == range(1, 200));
  CHECK(ids(store.read_latest(1, 1000)) == range(1, 200));
}

TEST_CASE("durability none calls back at once; batch and sync after the commit") {
  TempDir dir;
  {
    HistoryStore store(file_config(dir, Durability::none));
    bool called = false;
    append(store, message(1, 1), [&] { called = true; });
    CHECK(called); // inside append(), before any commit
    store.flush();
    CHECK(store.read(1, 0, 10, 10).size() == 1);
  }
  for (auto durability : {Durability::batch, Durability::sync}) {
    TempDir other;
    HistoryStore store(file_config(other, durability));
    std::atomic<bool> called{false};
    append(store, message(1, 1), [&] { called = true; });
    store.flush();
    CHECK(called);
  }
}

TEST_CASE("with a commit delay a message waits for company; flush and shutdown do not wait") {
  TempDir dir;
  HistoryConfig config = file_config(dir);
  config.commit_delay = 1h;
  std::atomic<int> durable{0};
  {
    HistoryStore store(config);
    append(store, message(1, 1), [&] { ++durable; });
    append(store, message(1, 2), [&] { ++durable; });
    std::this_thread::sleep_for(50ms);
    CHECK(durable == 0); // without the delay the writer commits at once
    CHECK(ids(store.read(1, 0, 10, 10)) == range(1, 2)); // readable while they wait
    store.flush();                                       // commits now, not an hour later
    CHECK(durable == 2);
    append(store, message(1, 3), [&] { ++durable; });
  } // so does the destructor
  CHECK(durable == 3);
  HistoryStore reopened(file_config(dir));
  CHECK(ids(reopened.read(1, 0, 10, 10)) == range(1, 3));
}

TEST_CASE("ids continue after reopening the file, even when retention emptied a group") {
  TempDir dir;
  HistoryConfig config = file_config(dir);
  config.max_age = std::chrono::hours(1);
  {
    HistoryStore store(config);
    for (MessageId id = 1; id <= 5; ++id)
      append(store, message(3, id), nullptr);
    append(store, message(4, 1, "old", now_ms() - 2 * 3600 * 1000), nullptr);
  } // the destructor commits what is pending
  HistoryStore store(config);
  store.enforce_retention();
  CHECK(store.read(4, 0, INT64_MAX, 10).empty()); // expired
  CHECK(store.read_last_id(3) == 5);
  CHECK(store.read_last_id(4) == 1);
  CHECK(ids(store.read(3, 0, INT64_MAX, 10)) == range(1, 5));
}

TEST_CASE("one store per file: a second one is refused until the first is gone") {
  TempDir dir;
  {
    HistoryStore first(file_config(dir));
    try {
      HistoryStore second(file_config(dir));
      FAIL("a second store opened the same file");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("another huddle server") != std::string::npos);
    }
  }
  CHECK_NOTHROW(HistoryStore(file_config(dir)));
  // Memory-only stores share nothing and lock nothing.
  HistoryStore a(HistoryConfig{});
  CHECK_NOTHROW(HistoryStore(HistoryConfig{}));
}

TEST_CASE("retention keeps the newest messages of each group, and drops old ones") {
  TempDir dir;
  HistoryConfig config = file_config(dir);
  config.max_per_group = 10;
  config.max_age = std::chrono::hours(24);
  HistoryStore store(config);
  const auto old_ts = now_ms() - 48LL * 3600 * 1000;
  for (MessageId id = 1; id <= 25; ++id)
    append(store, message(1, id), nullptr);
  for (MessageId id = 1; id <= 4; ++id)
    append(store, message(2, id, "old", old_ts), nullptr);
  append(store, message(2, 5), nullptr);
  store.enforce_retention();
  CHECK(ids(store.read(1, 0, INT64_MAX, 100)) == range(16, 25));
  CHECK(ids(store.read(2, 0, INT64_MAX, 100)) == range(5, 5));

  HistoryConfig unlimited = file_config(dir);
  unlimited.max_per_group = 0;
  unlimited.max_age = std::chrono::milliseconds(0);
  TempDir other;
  unlimited.path = other.file("unlimited.db");
  HistoryStore keep_all(unlimited);
  for (MessageId id = 1; id <= 25; ++id)
    append(keep_all, message(1, id, "x", old_ts), nullptr);
  keep_all.enforce_retention();
  CHECK(keep_all.read(1, 0, INT64_MAX, 100).size() == 25);
}

TEST_CASE("an empty file is migrated to the current schema; a newer one is refused") {
  TempDir dir;
  const std::string path = dir.file("empty.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_close(db);
  }
  HistoryConfig config = file_config(dir);
  config.path = path;
  {
    HistoryStore store(config);
    append(store, message(1, 1), nullptr);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  auto single_integer = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const auto value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  };
  CHECK(single_integer("SELECT version FROM schema_version") == k_schema_version);
  CHECK(single_integer("SELECT count(*) FROM messages") == 1);
  REQUIRE(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(db);
  CHECK_THROWS_AS(HistoryStore{config}, std::runtime_error);
}

TEST_CASE("an unusable path is a start-up error naming the file") {
  HistoryConfig config;
  config.path = "/nonexistent-dir/huddle.db";
  try {
    HistoryStore store(config);
    FAIL("opened");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/huddle.db") != std::string::npos);
  }
}

TEST_CASE("in memory: the same reads, nothing on disk") {
  HistoryConfig config; // path "": in memory
  HistoryStore store(config);
  for (MessageId id = 1; id <= 30; ++id)
    append(store, message(5, id), nullptr);
  store.flush();
  CHECK(ids(store.read(5, 20, INT64_MAX, 100)) == range(21, 30));
  CHECK(store.read_last_id(5) == 30);
}

TEST_CASE("a commit that fails is retried: its messages stay readable and unacked until stored") {
  TempDir dir;
  const HistoryConfig config = failing_config(dir);
  HistoryStore store(config);
  Database other = open_database(config.path);
  exec(other.get(), "BEGIN IMMEDIATE"); // another program holds the write lock

  std::atomic<int> acked{0};
  for (MessageId id = 1; id <= 3; ++id)
    append(store, message(1, id), [&] { ++acked; });
  REQUIRE(eventually([&] { return store.failed_commits() >= 2; })); // failed, and failed again
  CHECK(acked == 0);
  CHECK(ids(store.read(1, 0, 10, 10)) == range(1, 3));
  append(store, message(1, 4), [&] { ++acked; });

  exec(other.get(), "ROLLBACK");
  CHECK(store.flush());
  CHECK(acked == 4);
  Statement stored(other.get(), "SELECT count(*), max(id) FROM messages WHERE group_id = 1");
  REQUIRE(stored.next());
  CHECK(stored.integer(0) == 4);
  CHECK(stored.integer(1) == 4);
}

TEST_CASE("at max_queued reservations fail, and succeed again once the store has written") {
  TempDir dir;
  HistoryConfig config = failing_config(dir);
  config.max_queued = 2;
  HistoryStore store(config);
  Database other = open_database(config.path);
  exec(other.get(), "BEGIN IMMEDIATE");

  REQUIRE(store.try_reserve());
  store.append(message(1, 1), nullptr);
  REQUIRE(store.try_reserve()); // reserved, not appended yet: counts all the same
  CHECK_FALSE(store.try_reserve());
  store.append(message(1, 2), nullptr);
  CHECK_FALSE(store.try_reserve());

  exec(other.get(), "ROLLBACK");
  CHECK(store.flush());
  CHECK(store.try_reserve());
}

TEST_CASE("reservations from many threads never exceed max_queued") {
  // The bound is what limits the ids a crash can burn (store/continuity.hpp): a check and
  // an increment apart would let threads pass it together.
  HistoryConfig config; // in memory
  config.max_queued = 1000;
  HistoryStore store(config);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (store.try_reserve()) ++granted;
    });
  for (auto& thread : threads)
    thread.join();
  CHECK(granted == 1000);
}

TEST_CASE("shutdown while commits fail: flush gives up after its patience, nothing hangs") {
  TempDir dir;
  const HistoryConfig config = failing_config(dir);
  Database other = open_database(config.path);
  std::atomic<int> acked{0};
  {
    HistoryStore store(config);
    exec(other.get(), "BEGIN IMMEDIATE");
    append(store, message(1, 1), [&] { ++acked; });
    CHECK_FALSE(store.flush(50ms)); // dropped, and said so
    CHECK(store.read(1, 0, 10, 10).empty());
    append(store, message(1, 2), [&] { ++acked; });
  } // the destructor tries once more, then drops message 2 too
  CHECK(acked == 0);
  exec(other.get(), "ROLLBACK");
  Statement stored(other.get(), "SELECT count(*) FROM messages");
  REQUIRE(stored.next());
  CHECK(stored.integer(0) == 0);
}

TEST_CASE("the writer thread is named and runs at its nice value") {
  HistoryConfig config;
  config.writer_nice = 7;
  HistoryStore store(config);
  append(store, message(1, 1), nullptr);
  REQUIRE(store.flush()); // the writer thread has run
  int found = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != k_writer_thread_name) continue;
    ++found;
    // /proc/PID/task/TID/stat: "tid (comm) state ..." and nice is field 19.
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::vector<std::string> rest{std::istream_iterator<std::string>(fields), {}};
    REQUIRE(rest.size() > 16);
    CHECK(rest[16] == "7"); // field 19 is the 17th after "tid (comm)"
  }
  CHECK(found == 1);
}
