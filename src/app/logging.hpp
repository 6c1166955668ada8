// Boost.Log set-up for the command line: one sink on stderr, as text or one JSON object
// per line, filtered by level. The library logs through BOOST_LOG_TRIVIAL and leaves
// sinks to the application, so an embedding app keeps its own logging.
#pragma once

#include <string>

namespace huddle::app {

enum class LogFormat { text, json };

// Throws UsageError naming the bad value.
void init_logging(const std::string& level, LogFormat format);

} // namespace huddle::app
