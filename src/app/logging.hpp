// Boost.Log set-up for the command line: one sink on stderr, as text or one JSON object
// per line, filtered by level. The library logs events with typed fields (core/log.hpp) and
// leaves sinks to the application, so an embedding app keeps its own logging.
//   text: `2026-12-01T10:00:00.123Z info    ws.closed group=7 user=alice code=1000 reason=bye`
//   json: {"ts":"2026-12-01T10:00:00.123Z","level":"info","event":"ws.closed","group":7,...}
// A record that is not an event (BOOST_LOG_TRIVIAL from elsewhere in the process) shows its
// message as text, and as "msg" in JSON. Every JSON line is valid JSON and UTF-8: strings
// are escaped by Boost.JSON, and bytes that are not UTF-8 become U+FFFD.
#pragma once

#include <iostream>
#include <string>

namespace huddle::app {

enum class LogFormat { text, json };

// Replaces every sink with one on `out`, which must outlive the logging (tests pass a
// stream of their own). Throws UsageError naming a bad level.
void init_logging(const std::string& level, LogFormat format, std::ostream& out = std::clog);

} // namespace huddle::app
