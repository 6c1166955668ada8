// AccountStore: users, groups and memberships in huddle's SQLite file (the same file and
// schema_version as the history; tables users, chat_groups, memberships). Blocking calls,
// thread-safe: the server runs them on a small thread pool, never on its I/O threads; the
// `huddle user|group` commands call them directly, on the same file while a server runs
// (WAL mode, busy timeout).
// Password hashes are opaque strings here (src/auth/password.hpp makes them).
// Changes refuse a bad name or group id with AccountError (invalid_name, invalid_group);
// queries (password_hash, group, role, groups_of) answer "none" instead, since no such
// account can exist: a login path can pass what a client sent without validating it first.
// Other failures (I/O, a file busy past the timeout) are std::runtime_error.
#pragma once

#include <huddle/logger.hpp>
#include <huddle/message.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace huddle::store {

enum class Role { member, admin };
std::string_view to_string(Role role) noexcept; // "member", "admin"
std::optional<Role> parse_role(std::string_view text) noexcept;

struct UserInfo {
  std::string name;
  std::int64_t created_ms = 0; // Unix time
};

struct GroupInfo {
  GroupId id = 0;
  std::string title;
};

struct Membership {
  GroupId group = 0;
  std::string title;
  Role role = Role::member;
};

// A refused change, with what a command line or an API should say about it: what() is one
// sentence naming the thing, e.g. `no user "bob"`, `group 5 exists already`.
class AccountError : public std::runtime_error {
public:
  enum class Kind {
    invalid_name,
    invalid_group,
    duplicate_user,
    duplicate_group,
    unknown_user,
    unknown_group,
    not_a_member
  };
  AccountError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

private:
  Kind kind_;
};

class AccountStore {
public:
  // Opens (creating and migrating) the database; "" keeps the accounts in memory for this
  // object's life. Throws std::runtime_error naming the file when it cannot. A migration is
  // logged to `logger` (null: core::log::or_default()).
  explicit AccountStore(const std::string& path, std::shared_ptr<Logger> logger = nullptr);
  ~AccountStore();
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;

  // Users. Names follow core::is_valid_user_name (invalid_name otherwise).
  void add_user(const std::string& name, const std::string& password_hash);
  void remove_user(const std::string& name); // and their memberships
  void set_password(const std::string& name, const std::string& password_hash);
  std::optional<std::string> password_hash(const std::string& name);
  std::vector<UserInfo> users(); // by name

  // Groups: ids 1..2^63-1 (invalid_group otherwise).
  void add_group(GroupId id, const std::string& title);
  std::vector<GroupInfo> groups(); // by id
  std::optional<GroupInfo> group(GroupId id);

  // Memberships. grant() adds or changes the role; revoke() throws not_a_member if none.
  void grant(GroupId group, const std::string& user, Role role);
  void revoke(GroupId group, const std::string& user);
  std::optional<Role> role(GroupId group, const std::string& user);
  std::vector<Membership> groups_of(const std::string& user); // by group id
  std::vector<std::pair<GroupId, std::string>> memberships(); // every (group, user)

  // A counter stored in the file that every change taking access away (revoke, user
  // removal) increases, whichever process made it: the server polls it to close the
  // sockets of users who lost a group.
  std::int64_t access_revision();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace huddle::store
