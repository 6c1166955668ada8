// AccessControl: who may log in and who may enter which group, for one server. It joins
// the account store (users, memberships), the token service (JWTs) and the login throttle
// behind the questions the HTTP and WebSocket layers ask. The slow parts (Argon2id, SQLite)
// run on its own small thread pool, never on the caller's I/O thread: the async_* calls
// resume the caller on its own executor. verify() is a cheap HMAC/RSA check, done inline.
// Thread-safe.
#pragma once

#include "auth/login_throttle.hpp"
#include "auth/token.hpp"
#include "store/account_store.hpp"

#include <huddle/message.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace huddle::auth {

// A group as GET /api/groups lists it.
struct GroupAccess {
  GroupId id = 0;
  std::string title;
  store::Role role = store::Role::member;
};

// What a caller may do in one group beyond entering it (docs/protocol.md, "Admin rights").
struct GroupRights {
  bool known = true;    // the group exists (with AuthMode::builtin, in the database)
  bool publish = false; // POST /api/groups/{id}/messages
  bool admin = false;   // list the group's connections, close a user's
};

class AccessControl {
public:
  // Reads or creates the signing secret, reads the public key, opens the accounts in
  // config.db_path. Throws std::invalid_argument for a setting that cannot work (naming
  // it), std::runtime_error when a file cannot be read or the database opened.
  explicit AccessControl(const ServerConfig& config);
  ~AccessControl();

  AuthMode mode() const noexcept { return mode_; }
  bool can_log_in() const noexcept { return mode_ == AuthMode::builtin; }

  std::variant<Identity, TokenError> verify(std::string_view token) const;

  enum class LoginRefusal {
    wrong_credentials, // after the same work whether or not the user exists
    busy,              // max_pending_logins were already waiting: nothing was checked
  };
  // The user's token when `password` is right.
  boost::asio::awaitable<std::variant<IssuedToken, LoginRefusal>> async_login(std::string user,
                                                                              std::string password);
  // Whether `who` may read and write `group`: the token's own groups claim when it has
  // one, else a membership in the database.
  boost::asio::awaitable<bool> async_may_enter(Identity who, GroupId group);
  // What `who` (nullopt with AuthMode::none: anyone, who may do anything) may do in `group`:
  // an admin of the group (a stored role, unless the token's groups claim replaces the
  // database's memberships) publishes and administers; a token with the publish right
  // publishes to its groups (every group without a groups claim).
  boost::asio::awaitable<GroupRights> async_rights(std::optional<Identity> who, GroupId group);
  // The groups `who` may enter (every group in the database with AuthMode::none).
  boost::asio::awaitable<std::vector<GroupAccess>> async_groups_of(std::optional<Identity> who);

  // Revocations: the store's access revision, and every (group, user) membership.
  boost::asio::awaitable<std::int64_t> async_access_revision();
  boost::asio::awaitable<std::set<std::pair<GroupId, std::string>>> async_memberships();

  LoginThrottle& throttle() noexcept { return throttle_; }

private:
  // Runs the blocking `job` on the pool and resumes the caller on its own executor.
  template <typename Job> boost::asio::awaitable<std::invoke_result_t<Job>> offload(Job job);

  const AuthMode mode_;
  std::unique_ptr<TokenService> tokens_; // absent with AuthMode::none
  std::unique_ptr<store::AccountStore> accounts_;
  LoginThrottle throttle_;
  const unsigned max_pending_logins_;
  std::atomic<unsigned> pending_logins_{0};
  boost::asio::thread_pool pool_;
};

} // namespace huddle::auth
