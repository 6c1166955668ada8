// What `huddle user ...` and `huddle group ...` share: a table of subcommands dispatched
// by name, each parsed by Boost.Program_options with --db and --help and a fixed list of
// positional arguments; the account file opened for them; group ids, user names and new
// passwords read from the command line or the terminal. Mistakes on the command line are
// UsageError (exit 2); a refused change is the store's AccountError (exit 1).
#pragma once

#include "store/account_store.hpp"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include <functional>
#include <string>
#include <vector>

namespace huddle::app {

// One parsed subcommand line.
struct AccountCommand {
  std::string db;                                // --db
  std::vector<std::string> arguments;            // the positional ones, exactly as many as declared
  boost::program_options::variables_map options; // the subcommand's own flags
};

struct Subcommand {
  const char* name;                        // "add"
  std::vector<const char*> argument_names; // {"NAME"}: required, in this order
  const char* summary;                     // one line for `huddle user --help`
  // Declares the subcommand's own options, if any (--db and --help are added for all).
  std::function<void(boost::program_options::options_description&)> add_options;
  // Runs it; returns the exit code. Throws UsageError or AccountError to fail.
  std::function<int(const AccountCommand&)> run;
};

// `huddle <command> <subcommand> ...`: finds the subcommand named by args[0], parses the
// rest, prints its --help or runs it. `huddle <command> --help` lists the subcommands.
int run_subcommand(const std::string& command, const std::vector<Subcommand>& subcommands,
                   const std::vector<std::string>& args);

// The account file of --db. With `create` false a missing file is an error (exit 1) rather
// than a new empty database: `huddle user list --db typo.db` must not make typo.db.
store::AccountStore open_accounts(const AccountCommand& command, bool create);

// A group id from the command line: 1..2^63-1, else UsageError naming `what`.
GroupId parse_group_id(const std::string& text);

// A user name from the command line, checked by core::is_valid_user_name (UsageError).
const std::string& check_user_name(const std::string& text);

// The new password: one line of stdin with `from_stdin`, else asked twice on the terminal
// (/dev/tty) without echo. An empty password or two different answers are refused
// (std::runtime_error); no terminal and no --password-stdin is a UsageError.
std::string read_new_password(bool from_stdin);

} // namespace huddle::app
