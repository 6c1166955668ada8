// AccountStore against real SQLite files: every method and every AccountError kind, the
// access revision (up on revoke and user removal, not on grant or a role change), two
// stores on one file (a CLI command next to a running server), thread safety, and the
// migration of a history-only (version 1) file.
#include "store/account_store.hpp"
#include "store/history_store.hpp"
#include "store/schema.hpp"
#include "temp_dir.hpp"

#include <sqlite3.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using namespace huddle;
using namespace huddle::store;
using huddle::test::TempDir;

namespace {

// The kind of AccountError `change` throws; fails the test if it throws nothing else.
template <typename Change> AccountError::Kind error_kind(Change change) {
  try {
    change();
  } catch (const AccountError& e) {
    return e.kind();
  }
  FAIL("no AccountError thrown");
  return AccountError::Kind::invalid_name; // not reached
}

// The message of the AccountError `change` throws ("" if none).
template <typename Change> std::string error_message(Change change) {
  try {
    change();
  } catch (const AccountError& e) {
    return e.what();
  }
  return {};
}

// A plain connection, as an operator's sqlite3 shell would be (no foreign_keys pragma).
struct RawDb {
  explicit RawDb(const std::string& path) { REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const char* sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    INFO(sql << ": " << (error ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  std::int64_t integer(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const auto value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  sqlite3* db = nullptr;
};

std::vector<std::string> names(const std::vector<UserInfo>& users) {
  std::vector<std::string> out;
  for (const auto& user : users)
    out.push_back(user.name);
  return out;
}

std::vector<GroupId> ids(const std::vector<GroupInfo>& groups) {
  std::vector<GroupId> out;
  for (const auto& group : groups)
    out.push_back(group.id);
  return out;
}

using Pairs = std::vector<std::pair<GroupId, std::string>>;

} // namespace

TEST_CASE("roles read and print as member and admin") {
  CHECK(to_string(Role::member) == "member");
  CHECK(to_string(Role::admin) == "admin");
  CHECK(parse_role("member") == Role::member);
  CHECK(parse_role("admin") == Role::admin);
  CHECK_FALSE(parse_role("owner").has_value());
  CHECK_FALSE(parse_role("").has_value());
  CHECK_FALSE(parse_role("Admin").has_value());
}

TEST_CASE("users: add, list by name, password hash, change it, remove") {
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  CHECK(store.users().empty());

  const std::int64_t before = now_ms();
  store.add_user("carol", "hash-c");
  store.add_user("alice", "hash-a");
  store.add_user("bob.b-2_X", "hash-b");
  const std::int64_t after = now_ms();

  const auto users = store.users();
  CHECK(names(users) == std::vector<std::string>{"alice", "bob.b-2_X", "carol"});
  CHECK(users[0].created_ms >= before);
  CHECK(users[0].created_ms <= after);

  CHECK(store.password_hash("alice") == "hash-a");
  CHECK_FALSE(store.password_hash("dave").has_value());
  CHECK_FALSE(store.password_hash("ALICE").has_value()); // names are case-sensitive

  store.set_password("alice", "hash-a2");
  CHECK(store.password_hash("alice") == "hash-a2");
  CHECK(store.password_hash("carol") == "hash-c");

  store.remove_user("carol");
  CHECK(names(store.users()) == std::vector<std::string>{"alice", "bob.b-2_X"});
  CHECK_FALSE(store.password_hash("carol").has_value());
}

TEST_CASE("user errors: duplicate, unknown, invalid names") {
  using Kind = AccountError::Kind;
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  store.add_user("alice", "h");

  CHECK(error_kind([&] { store.add_user("alice", "other"); }) == Kind::duplicate_user);
  CHECK(error_message([&] { store.add_user("alice", "other"); }) ==
        "user \"alice\" exists already");
  CHECK(store.password_hash("alice") == "h"); // the refused add changed nothing

  CHECK(error_kind([&] { store.remove_user("bob"); }) == Kind::unknown_user);
  CHECK(error_message([&] { store.remove_user("bob"); }) == "no user \"bob\"");
  CHECK(error_kind([&] { store.set_password("bob", "h"); }) == Kind::unknown_user);

  const std::string too_long(33, 'a');
  for (const std::string& bad : {std::string(), std::string("a b"), std::string("al/ice"),
                                 std::string("é"), std::string("x\ny"), too_long}) {
    CAPTURE(bad);
    CHECK(error_kind([&] { store.add_user(bad, "h"); }) == Kind::invalid_name);
    CHECK(error_kind([&] { store.remove_user(bad); }) == Kind::invalid_name);
    CHECK(error_kind([&] { store.set_password(bad, "h"); }) == Kind::invalid_name);
    // Queries answer "none": no such user can exist.
    CHECK_FALSE(store.password_hash(bad).has_value());
    CHECK(store.groups_of(bad).empty());
    CHECK_FALSE(store.role(1, bad).has_value());
  }
  store.add_user(std::string(32, 'a'), "h"); // the longest name allowed
  CHECK(store.users().size() == 2);
}

TEST_CASE("groups: add, list by id, look up; duplicate and invalid ids") {
  using Kind = AccountError::Kind;
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  CHECK(store.groups().empty());

  store.add_group(20, "later");
  store.add_group(3, "general");
  store.add_group(std::numeric_limits<GroupId>::max(), "");
  CHECK(ids(store.groups()) == std::vector<GroupId>{3, 20, std::numeric_limits<GroupId>::max()});
  CHECK(store.groups()[0].title == "general");

  const auto general = store.group(3);
  REQUIRE(general.has_value());
  CHECK(general->id == 3);
  CHECK(general->title == "general");
  CHECK_FALSE(store.group(4).has_value());
  CHECK_FALSE(store.group(0).has_value());

  CHECK(error_kind([&] { store.add_group(3, "again"); }) == Kind::duplicate_group);
  CHECK(error_message([&] { store.add_group(3, "again"); }) == "group 3 exists already");
  CHECK(store.group(3)->title == "general");
  CHECK(error_kind([&] { store.add_group(0, "zero"); }) == Kind::invalid_group);
  CHECK(error_kind([&] { store.add_group(-5, "negative"); }) == Kind::invalid_group);
  CHECK(store.groups().size() == 3);
}

TEST_CASE("memberships: grant, change the role, list both ways, revoke") {
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  store.add_user("alice", "h");
  store.add_user("bob", "h");
  store.add_group(1, "one");
  store.add_group(2, "two");

  store.grant(2, "alice", Role::member);
  store.grant(1, "alice", Role::admin);
  store.grant(1, "bob", Role::member);

  CHECK(store.role(1, "alice") == Role::admin);
  CHECK(store.role(2, "alice") == Role::member);
  CHECK(store.role(1, "bob") == Role::member);
  CHECK_FALSE(store.role(2, "bob").has_value());
  CHECK_FALSE(store.role(3, "alice").has_value());
  CHECK_FALSE(store.role(0, "alice").has_value());

  const auto of_alice = store.groups_of("alice");
  REQUIRE(of_alice.size() == 2);
  CHECK(of_alice[0].group == 1);
  CHECK(of_alice[0].title == "one");
  CHECK(of_alice[0].role == Role::admin);
  CHECK(of_alice[1].group == 2);
  CHECK(of_alice[1].title == "two");
  CHECK(of_alice[1].role == Role::member);
  CHECK(store.groups_of("nobody").empty());
  CHECK(store.memberships() == Pairs{{1, "alice"}, {1, "bob"}, {2, "alice"}});

  store.grant(1, "alice", Role::member); // a change of role, still one membership
  CHECK(store.role(1, "alice") == Role::member);
  CHECK(store.memberships().size() == 3);

  store.revoke(1, "bob");
  CHECK_FALSE(store.role(1, "bob").has_value());
  CHECK(store.memberships() == Pairs{{1, "alice"}, {2, "alice"}});
}

TEST_CASE("membership errors name the missing group, user or membership") {
  using Kind = AccountError::Kind;
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  store.add_user("alice", "h");
  store.add_group(1, "one");

  CHECK(error_kind([&] { store.grant(9, "alice", Role::member); }) == Kind::unknown_group);
  CHECK(error_message([&] { store.grant(9, "alice", Role::member); }) == "no group 9");
  CHECK(error_kind([&] { store.grant(1, "bob", Role::member); }) == Kind::unknown_user);
  CHECK(error_kind([&] { store.grant(9, "bob", Role::member); }) == Kind::unknown_group);
  CHECK(error_kind([&] { store.grant(0, "alice", Role::member); }) == Kind::invalid_group);
  CHECK(error_kind([&] { store.grant(1, "a b", Role::member); }) == Kind::invalid_name);

  CHECK(error_kind([&] { store.revoke(1, "alice"); }) == Kind::not_a_member);
  CHECK(error_message([&] { store.revoke(1, "alice"); }) ==
        "user \"alice\" is not a member of group 1");
  CHECK(error_kind([&] { store.revoke(9, "alice"); }) == Kind::unknown_group);
  CHECK(error_kind([&] { store.revoke(1, "bob"); }) == Kind::unknown_user);
  CHECK(error_kind([&] { store.revoke(-1, "alice"); }) == Kind::invalid_group);
  CHECK(error_kind([&] { store.revoke(1, ""); }) == Kind::invalid_name);
  CHECK(store.memberships().empty());
}

TEST_CASE("the access revision grows on revoke and user removal, not on grant or role change") {
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  const std::int64_t start = store.access_revision();
  store.add_user("alice", "h");
  store.add_user("bob", "h");
  store.add_user("carol", "h");
  store.add_group(1, "one");
  store.add_group(2, "two");
  store.grant(1, "alice", Role::member);
  store.grant(2, "alice", Role::member);
  store.grant(1, "bob", Role::admin);
  store.set_password("bob", "h2");
  CHECK(store.access_revision() == start);

  store.grant(1, "bob", Role::member); // a downgrade keeps the group: not a loss of access
  CHECK(store.access_revision() == start);

  store.revoke(1, "bob");
  const std::int64_t after_revoke = store.access_revision();
  CHECK(after_revoke > start);

  CHECK_THROWS_AS(store.revoke(1, "bob"), AccountError); // refused: nothing lost
  CHECK(store.access_revision() == after_revoke);

  store.remove_user("alice"); // and with her, both memberships
  const std::int64_t after_removal = store.access_revision();
  CHECK(after_removal > after_revoke);
  CHECK(store.memberships().empty());
  CHECK(store.groups_of("alice").empty());

  store.remove_user("carol"); // no memberships: still counted, a login is gone
  CHECK(store.access_revision() > after_removal);
}

TEST_CASE("two stores on one file see each other's changes (a CLI next to a server)") {
  TempDir dir;
  const std::string path = dir.file("huddle.db");
  AccountStore server(path);
  AccountStore cli(path);

  cli.add_user("alice", "h");
  cli.add_group(7, "seven");
  cli.grant(7, "alice", Role::member);
  CHECK(server.password_hash("alice") == "h");
  CHECK(server.role(7, "alice") == Role::member);
  CHECK(ids(server.groups()) == std::vector<GroupId>{7});

  const std::int64_t seen = server.access_revision();
  cli.revoke(7, "alice");
  CHECK(server.access_revision() > seen);
  CHECK_FALSE(server.role(7, "alice").has_value());

  server.set_password("alice", "h2");
  CHECK(cli.password_hash("alice") == "h2");
  CHECK(error_kind([&] { server.add_user("alice", "x"); }) == AccountError::Kind::duplicate_user);

  // And after both are gone, a third one finds it all in the file.
  AccountStore later(path);
  CHECK(names(later.users()) == std::vector<std::string>{"alice"});
}

TEST_CASE("a connection without foreign keys removing a user still removes the memberships") {
  TempDir dir;
  const std::string path = dir.file("huddle.db");
  AccountStore store(path);
  store.add_user("alice", "h");
  store.add_group(1, "one");
  store.add_group(2, "two");
  store.grant(1, "alice", Role::member);
  store.grant(2, "alice", Role::admin);
  const std::int64_t before = store.access_revision();

  RawDb raw(path);
  raw.exec("DELETE FROM users WHERE name = 'alice'");
  CHECK(raw.integer("SELECT count(*) FROM memberships") == 0);
  CHECK(store.memberships().empty());
  CHECK(store.access_revision() > before);

  // The schema refuses a role outside the two.
  CHECK(sqlite3_exec(raw.db, "INSERT INTO memberships VALUES(1, 'x', 'owner')", nullptr, nullptr,
                     nullptr) == SQLITE_CONSTRAINT);
}

TEST_CASE("in memory: the same calls, private to the object") {
  AccountStore store("");
  store.add_user("alice", "h");
  store.add_group(1, "one");
  store.grant(1, "alice", Role::admin);
  CHECK(store.role(1, "alice") == Role::admin);
  store.revoke(1, "alice");
  CHECK(store.access_revision() > 0);

  AccountStore other("");
  CHECK(other.users().empty());
}

TEST_CASE("threads share one store") {
  TempDir dir;
  AccountStore store(dir.file("huddle.db"));
  store.add_group(1, "one");
  constexpr int k_threads = 4;
  constexpr int k_users = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([&store, t] {
      for (int i = 0; i < k_users; ++i) {
        const std::string name = "u" + std::to_string(t) + "_" + std::to_string(i);
        store.add_user(name, "h");
        store.grant(1, name, Role::member);
        (void)store.role(1, name);
        if (i % 2 == 0) store.revoke(1, name);
      }
    });
  for (auto& thread : threads)
    thread.join();
  CHECK(store.users().size() == k_threads * k_users);
  // Each thread revoked the even-numbered ones of its 25 (13) and kept 12.
  CHECK(store.memberships().size() == k_threads * (k_users / 2));
}

TEST_CASE("a history-only file (schema version 1) is migrated, its history kept") {
  TempDir dir;
  const std::string path = dir.file("huddle.db");
  {
    // Version 1 exactly as huddle before the accounts created it.
    RawDb raw(path);
    raw.exec("PRAGMA journal_mode=WAL");
    raw.exec(
        "CREATE TABLE schema_version(version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES(1);"
        "CREATE TABLE messages(group_id INTEGER NOT NULL, id INTEGER NOT NULL,"
        " sender TEXT NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL,"
        " PRIMARY KEY(group_id, id)) WITHOUT ROWID;"
        "CREATE INDEX messages_by_ts ON messages(ts);"
        "CREATE TABLE groups(group_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL);"
        "INSERT INTO messages VALUES(4, 1, 'alice', 'old', 1000), (4, 2, 'bob', 'older', 1001);"
        "INSERT INTO groups VALUES(4, 2);");
  }
  {
    AccountStore store(path);
    store.add_user("alice", "h");
    store.add_group(4, "four");
    store.grant(4, "alice", Role::member);
    CHECK(store.access_revision() == 0);
  }
  RawDb raw(path);
  CHECK(raw.integer("SELECT version FROM schema_version") == k_schema_version);
  CHECK(raw.integer("SELECT count(*) FROM schema_version") == 1);
  CHECK(raw.integer("SELECT count(*) FROM messages") == 2);
  CHECK(raw.integer("SELECT last_id FROM groups WHERE group_id = 4") == 2);

  // The history opens the migrated file as its own.
  HistoryConfig config;
  config.path = path;
  HistoryStore history(config);
  // A file from before schema 3 cannot tell whether its last run crashed: its ids move past
  // that huddle's bound (store/continuity.hpp).
  CHECK(history.read_last_id(4) == 2 + 100'001);
  CHECK(history.read(4, 0, INT64_MAX, 10).size() == 2);
}

TEST_CASE("a file the history created first gets the accounts too; a newer file is refused") {
  TempDir dir;
  const std::string path = dir.file("huddle.db");
  {
    HistoryConfig config;
    config.path = path;
    HistoryStore history(config);
  }
  {
    AccountStore store(path);
    store.add_user("alice", "h");
  }
  {
    RawDb raw(path);
    raw.exec("UPDATE schema_version SET version = 99");
  }
  try {
    AccountStore store(path);
    FAIL("opened a file of a newer schema");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    CHECK(std::string(e.what()).find("99") != std::string::npos);
  }
}

TEST_CASE("an unusable path is an error naming the file") {
  try {
    AccountStore store("/nonexistent-dir/huddle.db");
    FAIL("opened");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/huddle.db") != std::string::npos);
  }
}
