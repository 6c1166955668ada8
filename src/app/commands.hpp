// The subcommands of the `huddle` executable. Each takes the arguments after its name and
// returns the process exit code; user errors are thrown as UsageError.
#pragma once

#include <string>
#include <vector>

namespace huddle::app {

int serve_command(const std::vector<std::string>& args);
int chat_command(const std::vector<std::string>& args);
int user_command(const std::vector<std::string>& args);  // add, list, remove, passwd
int group_command(const std::vector<std::string>& args); // add, grant, revoke, list
int token_command(const std::vector<std::string>& args); // mint

} // namespace huddle::app
