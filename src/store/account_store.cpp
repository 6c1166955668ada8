#include "store/account_store.hpp"

#include "core/log.hpp"
#include "core/user_name.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

#include <limits>
#include <mutex>

namespace huddle::store {

namespace {

using Kind = AccountError::Kind;

std::string quoted(const std::string& name) {
  return '"' + name + '"';
}

void check_name(const std::string& name) {
  if (!core::is_valid_user_name(name))
    throw AccountError(Kind::invalid_name, "invalid user name " + quoted(name) + ": 1 to " +
                                               std::to_string(core::k_max_user_name) +
                                               " characters of A-Z a-z 0-9 _ . -");
}

void check_group(GroupId id) {
  if (id < 1)
    throw AccountError(Kind::invalid_group,
                       "invalid group id " + std::to_string(id) + ": must be from 1 to " +
                           std::to_string(std::numeric_limits<GroupId>::max()));
}

AccountError unknown_user(const std::string& name) {
  return AccountError(Kind::unknown_user, "no user " + quoted(name));
}

AccountError unknown_group(GroupId id) {
  return AccountError(Kind::unknown_group, "no group " + std::to_string(id));
}

Role row_role(const Statement& row, int column) {
  // The CHECK constraint allows nothing else; an unknown word reads as the lesser role.
  return parse_role(row.text(column)).value_or(Role::member);
}

} // namespace

std::string_view to_string(Role role) noexcept {
  return role == Role::admin ? "admin" : "member";
}

std::optional<Role> parse_role(std::string_view text) noexcept {
  if (text == "member") return Role::member;
  if (text == "admin") return Role::admin;
  return std::nullopt;
}

// One connection, one mutex: account changes are rare and small, and a CLI command and a
// server on one file are serialized by SQLite's own lock (busy timeout) anyway.
struct AccountStore::Impl {
  Impl(const std::string& path, Logger& logger) : db(open_database(path)) {
    // Memberships must name an existing user and group; SQLite checks it only when asked,
    // per connection. The checks below come first, so a violation here is a race lost to
    // another process (the user was removed in between) and reported as such.
    exec(db.get(), "PRAGMA foreign_keys=ON");
    migrate(db.get(), path, logger);
  }

  bool user_exists(const std::string& name) {
    Statement select(db.get(), "SELECT 1 FROM users WHERE name = ?");
    select.bind(1, name);
    return select.next();
  }

  bool group_exists(GroupId id) {
    Statement select(db.get(), "SELECT 1 FROM chat_groups WHERE group_id = ?");
    select.bind(1, id);
    return select.next();
  }

  // Runs a statement that changes one user's row; unknown_user when there is none.
  void change_user(Statement& statement, const std::string& name) {
    statement.run();
    if (sqlite3_changes(db.get()) == 0) throw unknown_user(name);
  }

  Database db;
  std::mutex mutex; // guards db: one statement or transaction at a time
};

AccountStore::AccountStore(const std::string& path, std::shared_ptr<Logger> logger)
    : impl_(std::make_unique<Impl>(path, *core::log::or_default(std::move(logger)))) {}

AccountStore::~AccountStore() = default;

void AccountStore::add_user(const std::string& name, const std::string& password_hash) {
  check_name(name);
  std::lock_guard lock(impl_->mutex);
  Statement insert(impl_->db.get(),
                   "INSERT INTO users(name, password_hash, created_ms) VALUES(?, ?, ?)");
  insert.bind(1, name).bind(2, password_hash).bind(3, now_ms());
  if (insert.step() != SQLITE_DONE) {
    if (insert.extended_error() == SQLITE_CONSTRAINT_PRIMARYKEY)
      throw AccountError(Kind::duplicate_user, "user " + quoted(name) + " exists already");
    throw std::runtime_error("cannot add user " + quoted(name) + ": " + insert.error());
  }
}

void AccountStore::remove_user(const std::string& name) {
  check_name(name);
  std::lock_guard lock(impl_->mutex);
  // The schema's triggers remove the memberships and count the loss of access.
  Statement remove(impl_->db.get(), "DELETE FROM users WHERE name = ?");
  remove.bind(1, name);
  impl_->change_user(remove, name);
}

void AccountStore::set_password(const std::string& name, const std::string& password_hash) {
  check_name(name);
  std::lock_guard lock(impl_->mutex);
  Statement update(impl_->db.get(), "UPDATE users SET password_hash = ? WHERE name = ?");
  update.bind(1, password_hash).bind(2, name);
  impl_->change_user(update, name);
}

std::optional<std::string> AccountStore::password_hash(const std::string& name) {
  if (!core::is_valid_user_name(name)) return std::nullopt; // no such user can exist
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT password_hash FROM users WHERE name = ?");
  select.bind(1, name);
  if (!select.next()) return std::nullopt;
  return select.text(0);
}

std::vector<UserInfo> AccountStore::users() {
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT name, created_ms FROM users ORDER BY name");
  std::vector<UserInfo> found;
  while (select.next())
    found.push_back(UserInfo{select.text(0), select.integer(1)});
  return found;
}

void AccountStore::add_group(GroupId id, const std::string& title) {
  check_group(id);
  std::lock_guard lock(impl_->mutex);
  Statement insert(impl_->db.get(), "INSERT INTO chat_groups(group_id, title) VALUES(?, ?)");
  insert.bind(1, id).bind(2, title);
  if (insert.step() != SQLITE_DONE) {
    // An INTEGER PRIMARY KEY is the rowid: its duplicate is reported as such.
    const int error = insert.extended_error();
    if (error == SQLITE_CONSTRAINT_PRIMARYKEY || error == SQLITE_CONSTRAINT_ROWID)
      throw AccountError(Kind::duplicate_group, "group " + std::to_string(id) + " exists already");
    throw std::runtime_error("cannot add group " + std::to_string(id) + ": " + insert.error());
  }
}

std::vector<GroupInfo> AccountStore::groups() {
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT group_id, title FROM chat_groups ORDER BY group_id");
  std::vector<GroupInfo> found;
  while (select.next())
    found.push_back(GroupInfo{select.integer(0), select.text(1)});
  return found;
}

std::optional<GroupInfo> AccountStore::group(GroupId id) {
  if (id < 1) return std::nullopt;
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT title FROM chat_groups WHERE group_id = ?");
  select.bind(1, id);
  if (!select.next()) return std::nullopt;
  return GroupInfo{id, select.text(0)};
}

void AccountStore::grant(GroupId group, const std::string& user, Role role) {
  check_group(group);
  check_name(user);
  std::lock_guard lock(impl_->mutex);
  // One transaction: the checks and the write see the same file, whatever another process
  // does meanwhile.
  Transaction transaction(impl_->db.get());
  if (!impl_->group_exists(group)) throw unknown_group(group);
  if (!impl_->user_exists(user)) throw unknown_user(user);
  // An UPDATE, not a DELETE + INSERT: a role change must not count as a loss of access.
  Statement upsert(impl_->db.get(), "INSERT INTO memberships(group_id, user_name, role)"
                                    " VALUES(?, ?, ?) ON CONFLICT(group_id, user_name)"
                                    " DO UPDATE SET role = excluded.role");
  upsert.bind(1, group).bind(2, user).bind(3, to_string(role)).run();
  transaction.commit();
}

void AccountStore::revoke(GroupId group, const std::string& user) {
  check_group(group);
  check_name(user);
  std::lock_guard lock(impl_->mutex);
  Transaction transaction(impl_->db.get());
  Statement remove(impl_->db.get(), "DELETE FROM memberships WHERE group_id = ? AND user_name = ?");
  remove.bind(1, group).bind(2, user).run();
  if (sqlite3_changes(impl_->db.get()) == 0) {
    // Say why there was nothing to remove; the most basic reason first.
    if (!impl_->group_exists(group)) throw unknown_group(group);
    if (!impl_->user_exists(user)) throw unknown_user(user);
    throw AccountError(Kind::not_a_member, "user " + quoted(user) + " is not a member of group " +
                                               std::to_string(group));
  }
  transaction.commit();
}

std::optional<Role> AccountStore::role(GroupId group, const std::string& user) {
  if (group < 1 || !core::is_valid_user_name(user)) return std::nullopt;
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(),
                   "SELECT role FROM memberships WHERE group_id = ? AND user_name = ?");
  select.bind(1, group).bind(2, user);
  if (!select.next()) return std::nullopt;
  return row_role(select, 0);
}

std::vector<Membership> AccountStore::groups_of(const std::string& user) {
  if (!core::is_valid_user_name(user)) return {};
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT m.group_id, g.title, m.role FROM memberships m"
                                    " JOIN chat_groups g USING(group_id)"
                                    " WHERE m.user_name = ? ORDER BY m.group_id");
  select.bind(1, user);
  std::vector<Membership> found;
  while (select.next())
    found.push_back(Membership{select.integer(0), select.text(1), row_role(select, 2)});
  return found;
}

std::vector<std::pair<GroupId, std::string>> AccountStore::memberships() {
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(),
                   "SELECT group_id, user_name FROM memberships ORDER BY group_id, user_name");
  std::vector<std::pair<GroupId, std::string>> found;
  while (select.next())
    found.emplace_back(select.integer(0), select.text(1));
  return found;
}

std::int64_t AccountStore::access_revision() {
  std::lock_guard lock(impl_->mutex);
  Statement select(impl_->db.get(), "SELECT revision FROM access_revision WHERE id = 1");
  if (!select.next()) throw std::runtime_error("the access_revision row is missing");
  return select.integer(0);
}

} // namespace huddle::store
