// Logger: where the library sends its log events (ServerConfig::logger, ChatManager's
// constructor), so an embedding app routes, filters or silences them in its own logging
// without touching any global state.
//
// An event is a stable, dotted, lower-case name ("ws.closed", "login.failed") and typed
// fields (group=7, user="alice", code=1000); docs/operations.md, "Logs", lists them. The
// library asks enabled() before it builds an event's fields, so a level the logger drops
// costs one virtual call and builds nothing.
//
//   class AppLogger : public huddle::Logger {
//     bool enabled(huddle::LogLevel level) const noexcept override { return level >= min_; }
//     void write(huddle::LogLevel level, std::string_view event,
//                std::span<const huddle::LogField> fields) override { ... }
//   };
//   config.logger = std::make_shared<AppLogger>();
//
// Both functions are called from any of the server's threads at once (and from its history
// writer thread): an implementation must be thread-safe. `huddle serve`'s own logger writes
// through Boost.Log (src/app/logging.cpp).
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace huddle {

// In increasing severity (the order of boost::log::trivial::severity_level).
enum class LogLevel { trace, debug, info, warning, error, fatal };

// "trace" … "fatal".
std::string_view to_string(LogLevel level) noexcept;

// One field of an event. The name is a string literal; a string value views the caller's
// text and is valid only during Logger::write(): a logger that keeps it copies it.
struct LogField {
  using Value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string_view>;

  // Any integer but bool and char (a char is not a number here).
  template <typename T>
  requires std::integral<T> &&
      (!std::same_as<T, bool>)&&(!std::same_as<T, char>)LogField(std::string_view field_name,
                                                                 T number) noexcept
      : name(field_name) {
    if constexpr (std::is_signed_v<T>)
      value = static_cast<std::int64_t>(number);
    else
      value = static_cast<std::uint64_t>(number);
  }
  LogField(std::string_view field_name, bool flag) noexcept : name(field_name), value(flag) {}
  LogField(std::string_view field_name, double number) noexcept : name(field_name), value(number) {}
  // Anything that views as text: std::string, a literal, e.what(), Beast's string_view.
  template <typename T>
  requires std::convertible_to<const T&, std::string_view> LogField(std::string_view field_name,
                                                                    const T& text)
  noexcept : name(field_name), value(std::string_view(text)) {}

  std::string_view name;
  Value value;
};

class Logger {
public:
  virtual ~Logger() = default;
  // Whether an event at `level` would be written now.
  virtual bool enabled(LogLevel level) const noexcept = 0;
  // Writes one event; called only after enabled(level) said yes.
  virtual void write(LogLevel level, std::string_view event, std::span<const LogField> fields) = 0;
};

// What the library uses when it is given no logger: one line per event at `min_level` or
// above on stderr, `warning event key=value …` (format_log_event).
std::shared_ptr<Logger> make_stderr_logger(LogLevel min_level = LogLevel::warning);
// Writes nothing.
std::shared_ptr<Logger> make_null_logger();

// `event key=value key=value…` on one line: numbers and booleans as they are, strings bare
// when they are a single plain word, otherwise in double quotes with \" \\ \n \r \t and other
// control characters escaped (\u00XX), so a value can neither end the line nor fake a field.
std::string format_log_event(std::string_view event, std::span<const LogField> fields);

} // namespace huddle
