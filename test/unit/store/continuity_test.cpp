// What a history file vouches for across restarts (src/store/continuity.cpp, through the
// HistoryStore that uses it): epochs, the ids an unclean stop burns, and the reads and
// retention that must cope with the gap it leaves. Real SQLite files; a crash is made by
// editing the file's state as a killed process leaves it (the CLI crash-loop test kills real
// processes).
#include "store/history_store.hpp"
#include "store/sqlite.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace huddle;
using namespace huddle::store;
using huddle::test::TempDir;

namespace {

MessagePtr message(GroupId group, MessageId id, std::string text = "hi") {
  return Message::make(group, id, MessageDraft{"alice", std::move(text), now_ms()});
}

void append(HistoryStore& store, const MessagePtr& m) {
  REQUIRE(store.try_reserve());
  store.append(m, nullptr);
}

std::vector<MessageId> ids(const std::vector<MessagePtr>& messages) {
  std::vector<MessageId> out;
  for (const auto& m : messages)
    out.push_back(m->id());
  return out;
}

HistoryConfig config_for(const TempDir& dir, std::size_t max_queued = 50) {
  HistoryConfig config;
  config.path = dir.file("history.db");
  config.max_queued = max_queued;
  return config;
}

// What SIGKILL leaves: the run never recorded its clean stop.
void mark_running(const std::string& path) {
  Database db = open_database(path);
  exec(db.get(), "UPDATE history_state SET running = 1");
}

} // namespace

TEST_CASE("a clean restart keeps the epoch, and ids continue exactly") {
  TempDir dir;
  std::string epoch;
  {
    HistoryStore store(config_for(dir));
    epoch = store.epoch();
    CHECK(epoch.size() == 16);
    for (MessageId id = 1; id <= 5; ++id)
      append(store, message(3, id));
  }
  HistoryStore store(config_for(dir));
  CHECK(store.epoch() == epoch);
  CHECK(store.read_last_id(3) == 5);
  CHECK(store.read_last_id(4) == 0);
}

TEST_CASE("after an unclean stop ids move past what the crashed run may have handed out") {
  TempDir dir;
  std::string epoch;
  {
    HistoryStore store(config_for(dir, 50)); // the run that "crashes" bounds its queue at 50
    epoch = store.epoch();
    for (MessageId id = 1; id <= 5; ++id)
      append(store, message(3, id));
  }
  mark_running(dir.file("history.db"));
  std::string second_epoch;
  {
    HistoryStore store(config_for(dir, 7));
    second_epoch = store.epoch();
    CHECK(second_epoch != epoch);
    CHECK(store.read_last_id(3) == 5 + 50);
    CHECK(store.read_last_id(4) == 50); // a group the file never saw may have had 50 ids too
    append(store, message(3, 56));
    // Ids keep their messages across the gap; a read spans it.
    CHECK(ids(store.read(3, 0, INT64_MAX, 100)) == std::vector<MessageId>{1, 2, 3, 4, 5, 56});
  }
  // The next crash moves ids by the bound of the run that crashed (7), from the floor too.
  mark_running(dir.file("history.db"));
  {
    HistoryStore store(config_for(dir, 1000));
    CHECK(store.epoch() != second_epoch);
    CHECK(store.read_last_id(3) == 56 + 7);
    CHECK(store.read_last_id(4) == 50 + 7);
  }
  HistoryStore store(config_for(dir));
  CHECK(store.read_last_id(3) == 63); // stopped cleanly: no move
}

TEST_CASE("messages dropped at shutdown make the stop unclean") {
  TempDir dir;
  HistoryConfig config = config_for(dir, 20);
  config.busy_timeout = std::chrono::milliseconds(20);
  config.commit_retry_interval = std::chrono::milliseconds(10);
  std::string epoch;
  {
    HistoryStore store(config);
    epoch = store.epoch();
    append(store, message(1, 1));
    REQUIRE(store.flush());
    Database other = open_database(config.path);
    exec(other.get(), "BEGIN IMMEDIATE"); // every commit fails from now on
    append(store, message(1, 2));         // delivered, never stored
    CHECK_FALSE(store.flush(std::chrono::milliseconds(50)));
    exec(other.get(), "ROLLBACK");
  }
  HistoryStore store(config);
  CHECK(store.epoch() != epoch);
  CHECK(store.read_last_id(1) == 1 + 20); // id 2 was handed out: it is never used again
}

TEST_CASE("a file that is not the one the last server left gets a new epoch") {
  TempDir dir;
  const std::string path = dir.file("history.db");
  std::string epoch;
  {
    HistoryStore store(config_for(dir));
    append(store, message(1, 1));
  }
  std::filesystem::copy_file(path, dir.file("backup.db"));
  {
    HistoryStore store(config_for(dir));
    epoch = store.epoch();
    append(store, message(1, 2));
  }
  SUBCASE("restored from an older copy") {
    std::filesystem::copy_file(dir.file("backup.db"), path,
                               std::filesystem::copy_options::overwrite_existing);
    HistoryStore store(config_for(dir));
    CHECK(store.epoch() != epoch);
  }
  SUBCASE("the record beside it is gone (moved here from elsewhere)") {
    std::filesystem::remove(path + ".lock");
    HistoryStore store(config_for(dir));
    CHECK(store.epoch() != epoch);
  }
  SUBCASE("a new file") {
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path + suffix);
    HistoryStore store(config_for(dir));
    CHECK(store.epoch() != epoch);
    CHECK(store.read_last_id(1) == 0);
  }
  SUBCASE("the same file: the same epoch") {
    HistoryStore store(config_for(dir));
    CHECK(store.epoch() == epoch);
  }
}

TEST_CASE("memory-only stores have an epoch each") {
  HistoryStore a(HistoryConfig{});
  HistoryStore b(HistoryConfig{});
  CHECK(a.epoch().size() == 16);
  CHECK(a.epoch() != b.epoch());
}

TEST_CASE("retention keeps the newest messages by count, across a gap in the ids") {
  TempDir dir;
  HistoryConfig config = config_for(dir);
  config.max_per_group = 3;
  HistoryStore store(config);
  for (MessageId id : {1, 2, 3, 100, 101})
    append(store, message(1, id));
  store.enforce_retention();
  CHECK(ids(store.read(1, 0, INT64_MAX, 100)) == std::vector<MessageId>{3, 100, 101});
}

TEST_CASE("a read stops at its byte budget, without a gap, committed or queued") {
  TempDir dir;
  HistoryStore store(config_for(dir, 1000));
  const std::string text(1000, 'x');
  // Ids of two digits, so every frame has the same size.
  for (MessageId id = 11; id <= 20; ++id)
    append(store, message(1, id, text));
  store.flush();
  for (MessageId id = 21; id <= 30; ++id) // some may still be queued when read
    append(store, message(1, id, text));
  const std::size_t frame = message(1, 11, text)->frame()->size();
  // Each page holds the messages up to the first that reaches the budget.
  CHECK(ids(store.read(1, 0, INT64_MAX, 100, 3 * frame)) == std::vector<MessageId>{11, 12, 13});
  CHECK(ids(store.read(1, 19, INT64_MAX, 100, 2 * frame + 1)) ==
        std::vector<MessageId>{20, 21, 22});
  CHECK(ids(store.read(1, 0, INT64_MAX, 100, 1)) == std::vector<MessageId>{11});
  CHECK(ids(store.read(1, 0, INT64_MAX, 2, 100 * frame)) == std::vector<MessageId>{11, 12});
  MessageId after = 10;
  std::vector<MessageId> all;
  for (auto page = store.read(1, after, 30, 100, 4 * frame); !page.empty();
       page = store.read(1, after, 30, 100, 4 * frame)) {
    for (const auto& m : page)
      all.push_back(m->id());
    after = page.back()->id();
  }
  CHECK(all.size() == 20);
  CHECK(all.back() == 30);
}

TEST_CASE("skips: stored or deleted messages in a gap count, ids burnt by a crash do not") {
  TempDir dir;
  HistoryConfig config = config_for(dir);
  config.max_per_group = 3;
  HistoryStore store(config);
  for (MessageId id : {1, 2, 3, 4, 5, 100, 101})
    append(store, message(1, id));
  CHECK(store.skips(1, 0, 4));         // 1-3 are stored (queued or committed)
  CHECK_FALSE(store.skips(1, 3, 4));   // no gap
  CHECK_FALSE(store.skips(1, 5, 100)); // 6-99 never named a stored message
  CHECK(store.skips(1, 4, 101));       // 5 and 100
  store.enforce_retention();           // keeps 5, 100, 101: deleted through 4
  CHECK(store.skips(1, 2, 5));         // 3 and 4 were deleted
  CHECK_FALSE(store.skips(1, 5, 100));
  CHECK(store.skips(1, 0, 200));
  CHECK_FALSE(store.skips(2, 0, 50)); // a group without messages
}
