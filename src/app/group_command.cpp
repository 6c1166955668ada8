// `huddle group add|grant|revoke|list`: the groups of huddle's SQLite file and who may use
// them, changed while a server may be running on it (a revoke reaches a running server
// through the access revision, see store/account_store.hpp).
#include "app/account_options.hpp"
#include "app/commands.hpp"
#include "app/usage_error.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>

namespace huddle::app {

namespace po = boost::program_options;

namespace {

int add_group(const AccountCommand& command) {
  const GroupId id = parse_group_id(command.arguments[0]);
  auto accounts = open_accounts(command, true);
  accounts.add_group(id, command.options["title"].as<std::string>());
  std::cout << "group " << id << " added\n";
  return 0;
}

int grant(const AccountCommand& command) {
  const GroupId id = parse_group_id(command.arguments[0]);
  const std::string& user = check_user_name(command.arguments[1]);
  const std::string role_text = command.options["role"].as<std::string>();
  const auto role = store::parse_role(role_text);
  if (!role) throw UsageError("--role must be member or admin, got \"" + role_text + "\"");
  auto accounts = open_accounts(command, false);
  accounts.grant(id, user, *role);
  std::cout << "user \"" << user << "\" is " << store::to_string(*role) << " of group " << id
            << '\n';
  return 0;
}

int revoke(const AccountCommand& command) {
  const GroupId id = parse_group_id(command.arguments[0]);
  const std::string& user = check_user_name(command.arguments[1]);
  auto accounts = open_accounts(command, false);
  accounts.revoke(id, user);
  std::cout << "user \"" << user << "\" removed from group " << id << '\n';
  return 0;
}

int list_groups(const AccountCommand& command) {
  auto accounts = open_accounts(command, false);
  const auto groups = accounts.groups();
  if (groups.empty()) return 0;
  // Members per group, from each user's memberships (they carry the role).
  std::map<GroupId, std::string> members;
  for (const auto& user : accounts.users())
    for (const auto& membership : accounts.groups_of(user.name)) {
      std::string& list = members[membership.group];
      if (!list.empty()) list += ", ";
      list += user.name;
      if (membership.role == store::Role::admin) list += " (admin)";
    }
  std::size_t id_width = 2;    // "ID"
  std::size_t title_width = 5; // "TITLE"
  for (const auto& group : groups) {
    id_width = std::max(id_width, std::to_string(group.id).size());
    title_width = std::max(title_width, group.title.size());
  }
  const auto id_column = std::setw(static_cast<int>(id_width));
  const auto title_column = std::setw(static_cast<int>(title_width));
  std::cout << std::left << id_column << "ID"
            << "  " << title_column << "TITLE"
            << "  MEMBERS\n";
  for (const auto& group : groups) {
    const auto found = members.find(group.id);
    std::cout << id_column << group.id << "  " << title_column
              << (group.title.empty() ? "-" : group.title) << "  "
              << (found == members.end() ? "-" : found->second) << '\n';
  }
  return 0;
}

} // namespace

int group_command(const std::vector<std::string>& args) {
  static const std::vector<Subcommand> k_subcommands = {
      {"add",
       {"ID"},
       "add a group (ids are those of ws://HOST:PORT/ws/ID)",
       [](po::options_description& options) {
         options.add_options()("title", po::value<std::string>()->default_value(""),
                               "the group's name, as shown to its members");
       },
       add_group},
      {"grant",
       {"ID", "USER"},
       "let USER into group ID, or change their role",
       [](po::options_description& options) {
         options.add_options()("role", po::value<std::string>()->default_value("member"),
                               "member or admin");
       },
       grant},
      {"revoke",
       {"ID", "USER"},
       "take group ID away from USER (a running server closes their "
       "connections to it)",
       nullptr,
       revoke},
      {"list", {}, "list the groups, their titles and members", nullptr, list_groups},
  };
  return run_subcommand("group", k_subcommands, args);
}

} // namespace huddle::app
