#include "auth/access_control.hpp"

#include "auth/password.hpp"
#include "auth/secret_file.hpp"
#include "core/user_name.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace huddle::auth {

namespace asio = boost::asio;

namespace {

// Argon2id takes tens of milliseconds and a lot of memory per call: two at a time bounds
// both, while SQLite reads queue behind them for at most that long.
constexpr std::size_t k_pool_threads = 2;

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + what + " \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string builtin_secret(const ServerConfig& config) {
  if (!config.jwt_secret_file.empty()) return load_or_create_secret(config.jwt_secret_file);
  if (config.db_path.empty()) return random_secret(); // tokens die with the process, as the data
  const std::filesystem::path db(config.db_path);
  return load_or_create_secret(db.parent_path() / "huddle.jwt-secret");
}

std::unique_ptr<TokenService> make_tokens(const ServerConfig& config) {
  TokenConfig tokens;
  tokens.issuer = config.jwt_issuer;
  tokens.audience = config.jwt_audience;
  tokens.ttl = config.token_ttl;
  switch (config.auth) {
  case AuthMode::none:
    return nullptr;
  case AuthMode::builtin:
    if (!config.jwt_public_key_file.empty())
      throw std::invalid_argument("a JWT public key is for AuthMode::jwt; builtin signs its own");
    tokens.hs256_secret = builtin_secret(config);
    break;
  case AuthMode::jwt:
    if (config.jwt_secret_file.empty() == config.jwt_public_key_file.empty())
      throw std::invalid_argument(
          "AuthMode::jwt needs exactly one of jwt_secret_file and jwt_public_key_file");
    if (!config.jwt_secret_file.empty()) {
      // An external secret is never created here: a fresh one would match no issuer.
      if (!std::filesystem::exists(config.jwt_secret_file))
        throw std::runtime_error("cannot read JWT secret file \"" + config.jwt_secret_file + "\"");
      tokens.hs256_secret = load_or_create_secret(config.jwt_secret_file);
    } else {
      tokens.rs256_public_key_pem = read_file(config.jwt_public_key_file, "JWT public key");
    }
    break;
  }
  return std::make_unique<TokenService>(std::move(tokens));
}

LoginThrottle::Config throttle_config(const ServerConfig& config) {
  LoginThrottle::Config throttle;
  throttle.burst = config.login_burst;
  const double interval_s = std::chrono::duration<double>(config.login_refill_interval).count();
  throttle.refill_per_second = interval_s > 0 ? 1.0 / interval_s : 1e9;
  return throttle;
}

} // namespace

AccessControl::AccessControl(const ServerConfig& config)
    : mode_(config.auth), tokens_(make_tokens(config)),
      accounts_(std::make_unique<store::AccountStore>(config.db_path, config.logger)),
      throttle_(throttle_config(config)), max_pending_logins_(config.max_pending_logins),
      pool_(k_pool_threads) {}

AccessControl::~AccessControl() {
  pool_.join();
}

template <typename Job> asio::awaitable<std::invoke_result_t<Job>> AccessControl::offload(Job job) {
  using Result = std::invoke_result_t<Job>;
  auto task = [job = std::move(job)]() mutable -> asio::awaitable<Result> { co_return job(); };
  co_return co_await asio::co_spawn(pool_, std::move(task), asio::use_awaitable);
}

std::variant<Identity, TokenError> AccessControl::verify(std::string_view token) const {
  if (!tokens_) return TokenError::malformed;
  return tokens_->verify(token);
}

asio::awaitable<std::variant<IssuedToken, AccessControl::LoginRefusal>>
AccessControl::async_login(std::string user, std::string password) {
  if (!can_log_in()) co_return LoginRefusal::wrong_credentials;
  if (pending_logins_.fetch_add(1) >= max_pending_logins_) {
    --pending_logins_;
    co_return LoginRefusal::busy;
  }
  struct Pending {
    std::atomic<unsigned>& count;
    ~Pending() { --count; }
  } pending{pending_logins_};
  using Result = std::variant<IssuedToken, LoginRefusal>;
  auto job = [this, user = std::move(user), password = std::move(password)]() -> Result {
    std::optional<std::string> hash;
    if (core::is_valid_user_name(user)) hash = accounts_->password_hash(user);
    if (!hash) {
      burn_verify_time(password); // an unknown name costs what a wrong password costs
      return LoginRefusal::wrong_credentials;
    }
    if (!verify_password(*hash, password)) return LoginRefusal::wrong_credentials;
    return tokens_->issue(user);
  };
  co_return co_await offload(std::move(job));
}

asio::awaitable<bool> AccessControl::async_may_enter(Identity who, GroupId group) {
  if (mode_ == AuthMode::none) co_return true;
  if (who.groups)
    co_return std::find(who.groups->begin(), who.groups->end(), group) != who.groups->end();
  auto job = [this, user = std::move(who.user), group] {
    return accounts_->role(group, user).has_value();
  };
  co_return co_await offload(std::move(job));
}

asio::awaitable<GroupRights> AccessControl::async_rights(std::optional<Identity> who,
                                                         GroupId group) {
  if (mode_ == AuthMode::none || !who) co_return GroupRights{true, true, true};
  auto job = [this, who = std::move(*who), group, builtin = mode_ == AuthMode::builtin] {
    GroupRights rights;
    // Tokens minted elsewhere name groups this database may not hold.
    rights.known = !builtin || accounts_->group(group).has_value();
    if (who.groups) {
      rights.publish = who.publish && std::find(who.groups->begin(), who.groups->end(), group) !=
                                          who.groups->end();
    } else {
      rights.admin = accounts_->role(group, who.user) == store::Role::admin;
      rights.publish = who.publish || rights.admin;
    }
    return rights;
  };
  co_return co_await offload(std::move(job));
}

asio::awaitable<std::vector<GroupAccess>>
AccessControl::async_groups_of(std::optional<Identity> who) {
  auto job = [this, who = std::move(who)] {
    std::vector<GroupAccess> result;
    if (!who) {
      for (store::GroupInfo& group : accounts_->groups())
        result.push_back({group.id, std::move(group.title), store::Role::member});
    } else if (who->groups) {
      for (GroupId id : *who->groups) {
        auto group = accounts_->group(id);
        result.push_back(
            {id, group ? std::move(group->title) : std::string(), store::Role::member});
      }
    } else {
      for (store::Membership& membership : accounts_->groups_of(who->user))
        result.push_back({membership.group, std::move(membership.title), membership.role});
    }
    return result;
  };
  co_return co_await offload(std::move(job));
}

asio::awaitable<std::int64_t> AccessControl::async_access_revision() {
  co_return co_await offload([this] { return accounts_->access_revision(); });
}

asio::awaitable<std::set<std::pair<GroupId, std::string>>> AccessControl::async_memberships() {
  auto job = [this] {
    std::set<std::pair<GroupId, std::string>> result;
    for (auto& membership : accounts_->memberships())
      result.insert(std::move(membership));
    return result;
  };
  co_return co_await offload(std::move(job));
}

} // namespace huddle::auth
