// The SQLite plumbing the stores share: opening a connection the way huddle's file needs it
// (WAL, a busy timeout, so `huddle serve` and the `huddle user|group` commands can use one
// file at once), a prepared statement that finalizes itself, exec(), and a transaction that
// rolls back unless committed. Errors are std::runtime_error carrying SQLite's message.
// None of this is thread-safe by itself: each store guards its connections.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace huddle::store {

// How long a connection waits for another one's write lock before SQLITE_BUSY: a CLI
// command waits out a server's group commit, and the reverse.
inline constexpr int k_busy_timeout_ms = 5'000;

struct CloseDatabase {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;

// Opens (creating) `path` read-write, with a busy timeout and, for a file, WAL mode;
// "" opens a private in-memory database. Throws std::runtime_error naming the file.
Database open_database(const std::string& path, int busy_timeout_ms = k_busy_timeout_ms);

// Runs one or more statements that return no rows. Throws with SQLite's message.
void exec(sqlite3* db, const char* sql);

// A prepared statement, finalized when it goes out of scope.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql); // throws when `sql` does not compile
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;

  Statement& bind(int index, std::int64_t value);
  // The text is not copied: it must outlive the step() calls that use it.
  Statement& bind(int index, std::string_view text);

  // SQLITE_ROW or SQLITE_DONE; anything else is returned too, for the caller to judge
  // (extended_error() then says which constraint failed, error() what SQLite said).
  int step();
  // Steps once and throws std::runtime_error unless the statement is done.
  void run();
  // For a query: true with a row to read, false when done, throws on anything else (a
  // busy file after the timeout must not read as "no such row").
  bool next();
  void reset();

  std::int64_t integer(int column) const;
  std::string text(int column) const;
  bool is_null(int column) const;

  int extended_error() const; // sqlite3_extended_errcode of the connection
  std::string error() const;  // sqlite3_errmsg of the connection

private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE (the write lock is taken now, so a busy file shows at the start and not
// half-way); rolled back by the destructor unless commit() ran.
class Transaction {
public:
  explicit Transaction(sqlite3* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

private:
  sqlite3* db_;
  bool open_ = true;
};

} // namespace huddle::store
