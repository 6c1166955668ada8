#include "app/account_options.hpp"

#include "app/logging.hpp"
#include "app/usage_error.hpp"
#include "core/user_name.hpp"

#include <boost/program_options.hpp>

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace huddle::app {

namespace po = boost::program_options;

namespace {

// The same file `huddle serve` uses by default, so both find the accounts without flags.
constexpr const char* k_default_db = "huddle.db";

std::string usage_line(const std::string& command, const Subcommand& subcommand) {
  std::string line = "huddle " + command + ' ' + subcommand.name;
  for (const char* argument : subcommand.argument_names)
    line += std::string(" ") + argument;
  return line + " [options]";
}

po::options_description describe(const Subcommand& subcommand) {
  po::options_description options("options");
  options.add_options()("db", po::value<std::string>()->default_value(k_default_db),
                        "SQLite file of the accounts (and history), the one `huddle serve --db` "
                        "uses")("help,h", "show this help");
  if (subcommand.add_options) subcommand.add_options(options);
  return options;
}

std::string overview(const std::string& command, const std::vector<Subcommand>& subcommands) {
  std::ostringstream out;
  out << "usage: huddle " << command << " <subcommand> [options]\n\nsubcommands:\n";
  for (const Subcommand& subcommand : subcommands) {
    std::string head = subcommand.name;
    for (const char* argument : subcommand.argument_names)
      head += std::string(" ") + argument;
    out << "  " << std::left << std::setw(20) << head << ' ' << subcommand.summary << '\n';
  }
  out << "\nEach takes --db PATH (default " << k_default_db << ") and --help: huddle " << command
      << " <subcommand> --help\n";
  return out.str();
}

// What a signal arriving at the password prompt must put back. Process-wide because a
// signal handler can reach nothing else; only one prompt is ever open.
int g_prompt_fd = -1;
termios g_prompt_saved{};

constexpr int k_prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Ctrl-C at the prompt must not leave the shell's terminal without echo: put it back, then
// die of the signal as if there had been no handler (tcsetattr is async-signal-safe).
extern "C" void restore_echo_and_reraise(int signal_number) {
  ::tcsetattr(g_prompt_fd, TCSANOW, &g_prompt_saved);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// The terminal's echo, off for this object's life (and until a signal ends the process).
class EchoOff {
public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    g_prompt_fd = fd_;
    g_prompt_saved = saved_;
    struct sigaction action {};
    action.sa_handler = restore_echo_and_reraise;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < std::size(k_prompt_signals); ++i)
      ::sigaction(k_prompt_signals[i], &action, &previous_[i]);
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
    if (g_prompt_fd == fd_)
      for (std::size_t i = 0; i < std::size(k_prompt_signals); ++i)
        ::sigaction(k_prompt_signals[i], &previous_[i], nullptr);
    g_prompt_fd = -1;
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

private:
  int fd_;
  termios saved_{};
  struct sigaction previous_[std::size(k_prompt_signals)]{};
  bool active_ = false;
};

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return; // a prompt that cannot be shown is not worth failing for
    done += static_cast<std::size_t>(n);
  }
}

// The process's terminal, even when stdin and stdout are redirected (as getpass(3) does).
struct Terminal {
  Terminal() : fd(::open("/dev/tty", O_RDWR | O_CLOEXEC)) {
    if (fd < 0)
      throw UsageError("no terminal to ask the password on: pass it with --password-stdin");
  }
  ~Terminal() { ::close(fd); }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  const int fd;
};

// One line typed on the terminal `fd` after `prompt`, not echoed. Echo goes off before the
// prompt is shown (as getpass(3) does): whatever is typed once it is visible stays hidden.
std::string ask(int fd, const char* prompt) {
  std::string line;
  {
    EchoOff echo_off(fd);
    write_all(fd, prompt);
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n')
      line += c;
  }
  write_all(fd, "\n"); // the Enter typed was not echoed either
  return line;
}

} // namespace

int run_subcommand(const std::string& command, const std::vector<Subcommand>& subcommands,
                   const std::vector<std::string>& args) {
  if (args.empty())
    throw UsageError("huddle " + command + " needs a subcommand (try huddle " + command +
                     " --help)");
  const std::string& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << overview(command, subcommands);
    return 0;
  }
  const Subcommand* found = nullptr;
  for (const Subcommand& subcommand : subcommands)
    if (name == subcommand.name) found = &subcommand;
  if (!found)
    throw UsageError("unknown subcommand \"" + name + "\" for huddle " + command + " (try huddle " +
                     command + " --help)");

  const std::string usage = usage_line(command, *found);
  const po::options_description options = describe(*found);
  po::options_description everything;
  everything.add(options).add_options()("argument", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("argument", -1);

  AccountCommand parsed;
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    po::store(po::command_line_parser(rest).options(everything).positional(positional).run(),
              parsed.options);
    po::notify(parsed.options);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (usage: " + usage + ")");
  }
  if (parsed.options.count("help")) {
    std::cout << "usage: " << usage << "\n  " << found->summary << "\n\n" << options;
    return 0;
  }
  if (parsed.options.count("argument"))
    parsed.arguments = parsed.options["argument"].as<std::vector<std::string>>();
  const auto& names = found->argument_names;
  if (parsed.arguments.size() < names.size())
    throw UsageError(std::string("missing ") + names[parsed.arguments.size()] +
                     " (usage: " + usage + ")");
  if (parsed.arguments.size() > names.size())
    throw UsageError("unexpected argument \"" + parsed.arguments[names.size()] +
                     "\" (usage: " + usage + ")");
  parsed.db = parsed.options["db"].as<std::string>();
  if (parsed.db.empty()) throw UsageError("--db must name a file");

  // Warnings and errors only, on stderr: what a command prints is its result.
  init_logging("warning", LogFormat::text);
  return found->run(parsed);
}

store::AccountStore open_accounts(const AccountCommand& command, bool create) {
  std::error_code error;
  if (!create && !std::filesystem::exists(command.db, error))
    throw std::runtime_error("no database \"" + command.db + "\" (--db names the file)");
  return store::AccountStore(command.db);
}

GroupId parse_group_id(const std::string& text) {
  GroupId id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id < 1)
    throw UsageError("a group id is an integer from 1 to " +
                     std::to_string(std::numeric_limits<GroupId>::max()) + ", got \"" + text +
                     "\"");
  return id;
}

const std::string& check_user_name(const std::string& text) {
  if (!core::is_valid_user_name(text))
    throw UsageError("invalid user name \"" + text + "\": 1 to " +
                     std::to_string(core::k_max_user_name) + " characters of A-Z a-z 0-9 _ . -");
  return text;
}

std::string read_new_password(bool from_stdin) {
  std::string password;
  if (from_stdin) {
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back(); // typed on Windows
  } else {
    const Terminal tty;
    password = ask(tty.fd, "Password: ");
    if (!password.empty() && ask(tty.fd, "Again: ") != password)
      throw std::runtime_error("the two passwords differ; nothing changed");
  }
  if (password.empty()) throw std::runtime_error("an empty password is refused; nothing changed");
  return password;
}

} // namespace huddle::app
