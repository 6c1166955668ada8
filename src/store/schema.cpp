#include "store/schema.hpp"

#include "core/log.hpp"
#include "store/sqlite.hpp"

#include <iterator>
#include <stdexcept>

namespace huddle::store {

namespace {

// k_migrations[v] takes a file from version v to v + 1. Append only: a released step is
// never edited, since files out there have run it.
constexpr const char* k_migrations[] = {
    // 0 -> 1: messages, and each group's newest id (kept when retention empties a group,
    // so ids never restart).
    "CREATE TABLE messages(group_id INTEGER NOT NULL, id INTEGER NOT NULL,"
    " sender TEXT NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL,"
    " PRIMARY KEY(group_id, id)) WITHOUT ROWID;"
    "CREATE INDEX messages_by_ts ON messages(ts);"
    "CREATE TABLE groups(group_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL);",

    // 1 -> 2: accounts. chat_groups is not the history's `groups` (a group may have history
    // and no accounts, on a server without authentication). The foreign keys hold where a
    // connection enables them (AccountStore does); the BEFORE DELETE triggers remove the
    // memberships of a removed user or group on every connection, enabled or not.
    // access_revision is one row that grows on every loss of access, whoever made it, so a
    // server can notice a `huddle group revoke` run by another process by polling it. A role
    // change (an UPDATE) loses no group, so it does not count.
    "CREATE TABLE users(name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE chat_groups(group_id INTEGER PRIMARY KEY, title TEXT NOT NULL);"
    "CREATE TABLE memberships("
    " group_id INTEGER NOT NULL REFERENCES chat_groups(group_id),"
    " user_name TEXT NOT NULL REFERENCES users(name),"
    " role TEXT NOT NULL CHECK(role IN ('member','admin')),"
    " PRIMARY KEY(group_id, user_name)) WITHOUT ROWID;"
    "CREATE INDEX memberships_by_user ON memberships(user_name);"
    "CREATE TABLE access_revision(id INTEGER PRIMARY KEY CHECK(id = 1),"
    " revision INTEGER NOT NULL);"
    "INSERT INTO access_revision(id, revision) VALUES(1, 0);"
    "CREATE TRIGGER users_remove_memberships BEFORE DELETE ON users BEGIN"
    " DELETE FROM memberships WHERE user_name = old.name; END;"
    "CREATE TRIGGER chat_groups_remove_memberships BEFORE DELETE ON chat_groups BEGIN"
    " DELETE FROM memberships WHERE group_id = old.group_id; END;"
    "CREATE TRIGGER memberships_access_lost AFTER DELETE ON memberships BEGIN"
    " UPDATE access_revision SET revision = revision + 1; END;"
    "CREATE TRIGGER users_access_lost AFTER DELETE ON users BEGIN"
    " UPDATE access_revision SET revision = revision + 1; END;",

    // 2 -> 3: what the history can vouch for (store/continuity.hpp): its epoch, whether a
    // server was running on it, and how far ids jump after an unclean stop. A file written
    // by an earlier huddle may have lost delivered, uncommitted messages to a crash while
    // their ids were reused, so one with history starts as if its last run had crashed,
    // with that huddle's default bound (history_queue_limit 100,000 messages, plus one).
    "CREATE TABLE history_state(id INTEGER PRIMARY KEY CHECK(id = 1), epoch TEXT NOT NULL,"
    " boot INTEGER NOT NULL, running INTEGER NOT NULL, id_floor INTEGER NOT NULL,"
    " unsettled_bound INTEGER NOT NULL);"
    "INSERT INTO history_state(id, epoch, boot, running, id_floor, unsettled_bound)"
    " SELECT 1, lower(hex(randomblob(8))), 0, count(*) > 0, 0, 100001 FROM groups;"
    // The newest id retention deleted per group: a replay's "truncated" (history_store.hpp).
    // Earlier files kept no record: their first kept message stands for it.
    "ALTER TABLE groups ADD COLUMN trimmed_through INTEGER NOT NULL DEFAULT 0;"
    "UPDATE groups SET trimmed_through = coalesce((SELECT min(id) - 1 FROM messages m"
    " WHERE m.group_id = groups.group_id), last_id);",
};
static_assert(std::size(k_migrations) == k_schema_version);

// The file's version, read inside the caller's transaction.
int current_version(sqlite3* db) {
  exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
  Statement select(db, "SELECT max(version) FROM schema_version");
  return select.next() ? static_cast<int>(select.integer(0)) : 0;
}

} // namespace

void migrate(sqlite3* db, const std::string& path, Logger& logger) {
  int from = -1; // the version found the first time round
  int version = 0;
  for (;;) {
    try {
      // The version is read under the write lock: another process migrating the same file
      // finishes its step first, and this one then sees it done.
      Transaction transaction(db);
      version = current_version(db);
      if (from < 0) from = version;
      if (version > k_schema_version)
        throw std::runtime_error("has schema version " + std::to_string(version) +
                                 ", newer than this huddle's " + std::to_string(k_schema_version));
      if (version == k_schema_version) {
        transaction.commit();
        break;
      }
      exec(db, k_migrations[version]);
      exec(db, "DELETE FROM schema_version");
      Statement insert(db, "INSERT INTO schema_version(version) VALUES(?)");
      insert.bind(1, version + 1).run();
      transaction.commit();
    } catch (const std::exception& e) {
      throw std::runtime_error("database \"" + path + "\": " + e.what());
    }
  }
  // A new file is no news; upgrading an existing one is worth a line at info.
  if (from == 0) {
    HUDDLE_LOG(logger, debug, "db.created", {{"path", path}, {"schema_version", version}});
  } else if (from < version) {
    HUDDLE_LOG(logger, info, "db.migrated",
               {{"path", path}, {"from_version", from}, {"schema_version", version}});
  }
}

} // namespace huddle::store
