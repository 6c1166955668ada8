// huddle-load: command-line entry. Exit codes: 0 run completed (losses and errors are in
// the report, not the exit code), 1 could not run (a host that does not resolve, a wss://
// certificate that does not verify), 2 bad command line (a --ca-file it cannot use too).
#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "load/load_runner.hpp"
#include "load/options.hpp"

namespace {

// Every client is a socket: take the whole hard limit rather than fail at ~1000.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

} // namespace

int main(int argc, char** argv) {
  using namespace huddle::load;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_options(args);
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "huddle-load: %s\n", parsed.error.c_str());
    return 2;
  }
  if (!parsed.options) {
    std::fputs(parsed.help.c_str(), stdout);
    return 0;
  }
  raise_file_limit();
  std::optional<LoadRunner> runner;
  try {
    runner.emplace(*parsed.options);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "huddle-load: %s\n", e.what());
    return 2;
  }
  try {
    Report const report = runner->run();
    if (parsed.options->json) {
      std::printf("%s\n", report.to_json().c_str());
    } else {
      std::fputs(report.to_table().c_str(), stdout);
    }
  } catch (std::exception const& e) {
    std::fprintf(stderr, "huddle-load: %s\n", e.what());
    return 1;
  }
  return 0;
}
