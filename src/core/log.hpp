// HUDDLE_LOG: how the library writes an event to its Logger (include/huddle/logger.hpp).
//
//   HUDDLE_LOG(*logger_, info, "ws.closed", {{"group", group}, {"user", user}, {"code", code}});
//
// The first argument is a huddle::Logger& (each component keeps the one ServerConfig or its
// creator gave it); the fields are evaluated only when the logger is enabled for the level,
// so a dropped event builds and formats nothing. Per-message paths log nothing at any level
// all the same: the check is a virtual call.
#pragma once

#include <huddle/logger.hpp>

#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace huddle::core::log {

inline void write(Logger& logger, LogLevel level, std::string_view event,
                  std::initializer_list<LogField> fields = {}) {
  logger.write(level, event, std::span<const LogField>(fields.begin(), fields.size()));
}

// `logger`, or the stderr logger (warnings and up) when the embedding app gave none.
std::shared_ptr<Logger> or_default(std::shared_ptr<Logger> logger);

// A settings struct (ServerConfig, HistoryConfig...) with its `logger` made or_default().
template <typename Config> Config with_logger(Config config) {
  config.logger = or_default(std::move(config.logger));
  return config;
}

} // namespace huddle::core::log

// `level` is a LogLevel enumerator (trace … fatal); what follows is the event name and an
// optional braced list of fields.
#define HUDDLE_LOG(logger, level, ...)                                                             \
  do {                                                                                             \
    ::huddle::Logger& huddle_log_target_ = (logger);                                               \
    if (huddle_log_target_.enabled(::huddle::LogLevel::level))                                     \
      ::huddle::core::log::write(huddle_log_target_, ::huddle::LogLevel::level, __VA_ARGS__);      \
  } while (false)
