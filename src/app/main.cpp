// The `huddle` executable: dispatches to its subcommands.
#include "app/commands.hpp"
#include "app/usage_error.hpp"

#include <huddle/version.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* k_usage =
    "usage: huddle <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [options]                    run the chat server (see huddle serve --help)\n"
    "  chat ws[s]://HOST:PORT/ws/ID [--name N]  chat from this terminal: each line typed is\n"
    "                                     sent (wss: --ca-file FILE, --insecure)\n"
    "  user add|list|remove|passwd ...    manage the accounts (see huddle user --help)\n"
    "  group add|grant|revoke|list ...    manage the groups and who is in them\n"
    "  token mint NAME --publish ...      print a service token for a backend that publishes\n"
    "\n"
    "  --version                          print the version\n"
    "  --help                             print this help\n";

} // namespace

int main(int argc, char** argv) {
  using namespace huddle::app;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const std::string command = args.empty() ? std::string() : args.front();
  const std::vector<std::string> rest(args.empty() ? args.end() : args.begin() + 1, args.end());
  try {
    if (command == "serve") return serve_command(rest);
    if (command == "chat") return chat_command(rest);
    if (command == "user") return user_command(rest);
    if (command == "group") return group_command(rest);
    if (command == "token") return token_command(rest);
    if (command == "--version" || command == "version") {
      std::cout << "huddle " << huddle::k_version << '\n';
      return 0;
    }
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << k_usage;
      return 0;
    }
    if (command.empty()) throw UsageError("no command given (try huddle --help)");
    throw UsageError("unknown command \"" + command + "\" (try huddle --help)");
  } catch (const UsageError& e) {
    std::cerr << "huddle: " << e.what() << '\n';
    return k_exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "huddle: " << e.what() << '\n';
    return k_exit_failure;
  }
}
