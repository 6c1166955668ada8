// The command line's logging: a huddle::Logger that writes the library's events through
// Boost.Log, and one Boost.Log sink on stderr, as text or one JSON object per line, filtered
// by level. The library itself knows only the Logger interface (include/huddle/logger.hpp).
//   text: `2026-12-01T10:00:00.123Z info    ws.closed group=7 user=alice code=1000 reason=bye`
//   json: {"ts":"2026-12-01T10:00:00.123Z","level":"info","event":"ws.closed","group":7,...}
// A record that is not an event (BOOST_LOG_TRIVIAL from elsewhere in the process) shows its
// message as text, and as "msg" in JSON. Every JSON line is valid JSON and UTF-8: strings
// are escaped by Boost.JSON, and bytes that are not UTF-8 become U+FFFD.
#pragma once

#include <huddle/logger.hpp>

#include <iostream>
#include <memory>
#include <string>

namespace huddle::app {

enum class LogFormat { text, json };

// Replaces every sink with one on `out`, which must outlive the logging (tests pass a
// stream of their own). Throws UsageError naming a bad level.
void init_logging(const std::string& level, LogFormat format, std::ostream& out = std::clog);

// A Logger whose events become Boost.Log records (Severity, the text as the message, and the
// event and typed fields as attributes the JSON format reads), filtered and written by the
// sinks init_logging() set up. What `huddle serve` puts in ServerConfig::logger.
std::shared_ptr<Logger> boost_log_logger();

} // namespace huddle::app
