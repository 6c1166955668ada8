// `huddle user add|list|remove|passwd`: the accounts of huddle's SQLite file, changed while
// a server may be running on it (the server notices removals through the access revision).
// Passwords are hashed here (Argon2id) and never printed or stored in clear.
#include "app/account_options.hpp"
#include "app/commands.hpp"

#include "auth/password.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <string>

namespace huddle::app {

namespace po = boost::program_options;

namespace {

void add_password_stdin(po::options_description& options) {
  options.add_options()("password-stdin",
                        "read the password from the first line of stdin instead of asking for "
                        "it twice on the terminal");
}

std::string new_password_hash(const AccountCommand& command) {
  return auth::hash_password(read_new_password(command.options.count("password-stdin") > 0));
}

// "2026-11-26T13:08:34Z"
std::string utc_time(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

int add_user(const AccountCommand& command) {
  const std::string& name = check_user_name(command.arguments[0]);
  auto accounts = open_accounts(command, true);
  // Refused before the password is asked for; add_user() still refuses a name taken since.
  if (accounts.password_hash(name))
    throw store::AccountError(store::AccountError::Kind::duplicate_user,
                              "user \"" + name + "\" exists already");
  accounts.add_user(name, new_password_hash(command));
  std::cout << "user \"" << name << "\" added\n";
  return 0;
}

int list_users(const AccountCommand& command) {
  auto accounts = open_accounts(command, false);
  const auto users = accounts.users();
  if (users.empty()) return 0;
  std::size_t width = 4; // "NAME"
  for (const auto& user : users)
    width = std::max(width, user.name.size());
  std::cout << std::left << std::setw(static_cast<int>(width)) << "NAME"
            << "  CREATED               GROUPS\n";
  for (const auto& user : users) {
    std::string groups;
    for (const auto& membership : accounts.groups_of(user.name)) {
      if (!groups.empty()) groups += ", ";
      groups += std::to_string(membership.group);
      if (membership.role == store::Role::admin) groups += " (admin)";
    }
    std::cout << std::setw(static_cast<int>(width)) << user.name << "  " << std::setw(20)
              << utc_time(user.created_ms) << "  " << (groups.empty() ? "-" : groups) << '\n';
  }
  return 0;
}

int remove_user(const AccountCommand& command) {
  const std::string& name = check_user_name(command.arguments[0]);
  auto accounts = open_accounts(command, false);
  accounts.remove_user(name);
  std::cout << "user \"" << name << "\" removed, with their memberships\n";
  return 0;
}

int change_password(const AccountCommand& command) {
  const std::string& name = check_user_name(command.arguments[0]);
  auto accounts = open_accounts(command, false);
  if (!accounts.password_hash(name)) // before asking for a password that would go nowhere
    throw store::AccountError(store::AccountError::Kind::unknown_user, "no user \"" + name + "\"");
  accounts.set_password(name, new_password_hash(command));
  std::cout << "password of user \"" << name << "\" changed\n";
  return 0;
}

} // namespace

int user_command(const std::vector<std::string>& args) {
  static const std::vector<Subcommand> k_subcommands = {
      {"add",
       {"NAME"},
       "add a user; the password is asked for twice (or --password-stdin)",
       add_password_stdin,
       add_user},
      {"list", {}, "list the users, when they were added and their groups", nullptr, list_users},
      {"remove", {"NAME"}, "remove a user and their memberships", nullptr, remove_user},
      {"passwd",
       {"NAME"},
       "change a user's password (asked for twice, or --password-stdin)",
       add_password_stdin,
       change_password},
  };
  return run_subcommand("user", k_subcommands, args);
}

} // namespace huddle::app
