// UsageError: a user's mistake on the command line. main() prints its message as one line
// and exits with 2; no stack trace, no usage dump.
#pragma once

#include <stdexcept>

namespace huddle::app {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_failure = 1;

} // namespace huddle::app
