// The options of `huddle serve`: every ServerConfig field and limit as a named flag with
// its default, plus the process-level settings (threads, logging). Parsing is separate from
// running so the rules are unit-tested; errors are UsageError naming the flag (or the
// HUDDLE_* variable, or the config file and line, the value came from).
#pragma once

#include "app/logging.hpp"

#include <huddle/server_config.hpp>

#include <string>
#include <vector>

namespace huddle::app {

struct ServeOptions {
  ServerConfig server;
  unsigned threads = 1;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
  bool help = false;
};

// `args` are what follows `huddle serve`. An option not among them is taken from its HUDDLE_*
// environment variable (HUDDLE_MAX_CONNECTIONS for --max-connections), else from the file
// of --config, else from ServerConfig (docs/operations.md, "Config files and environment").
ServeOptions parse_serve_options(const std::vector<std::string>& args);

// The --help text of `huddle serve`, with every default.
std::string serve_help();

} // namespace huddle::app
