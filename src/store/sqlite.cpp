#include "store/sqlite.hpp"

#include <cstddef>
#include <stdexcept>
#include <utility>

namespace huddle::store {

Database open_database(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  const char* name = path.empty() ? ":memory:" : path.c_str();
  const int rc = sqlite3_open_v2(name, &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Database db(raw); // closed on every path out, even when the open failed
  if (rc != SQLITE_OK)
    throw std::runtime_error("cannot open database \"" + path +
                             "\": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  try {
    // WAL: readers do not block the writer, and another process may write between two
    // of our transactions. In memory there is nobody else.
    if (!path.empty()) exec(raw, "PRAGMA journal_mode=WAL");
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot open database \"" + path + "\": " + e.what());
  }
  return db;
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    throw std::runtime_error("SQLite: " + message + " in: " + sql);
  }
}

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("SQLite prepare failed: ") + sqlite3_errmsg(db) +
                             " in: " + sql);
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  std::swap(db_, other.db_);
  std::swap(stmt_, other.stmt_);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

int Statement::step() {
  return sqlite3_step(stmt_);
}

void Statement::run() {
  if (step() != SQLITE_DONE)
    throw std::runtime_error("SQLite: " + error() + " in: " + sqlite3_sql(stmt_));
}

bool Statement::next() {
  const int rc = step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw std::runtime_error("SQLite: " + error() + " in: " + sqlite3_sql(stmt_));
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int Statement::extended_error() const {
  return sqlite3_extended_errcode(db_);
}

std::string Statement::error() const {
  return sqlite3_errmsg(db_);
}

Transaction::Transaction(sqlite3* db) : db_(db) {
  exec(db_, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  exec(db_, "COMMIT");
  open_ = false;
}

} // namespace huddle::store
