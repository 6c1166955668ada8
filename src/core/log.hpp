// Structured logging for the library: every record is an event name (stable, dotted, lower
// case: "ws.closed", "login.failed") and typed fields (group=7, user="alice", code=1000), so
// a machine reads `--log-format json` lines without parsing text (docs/operations.md, "Logs",
// lists the events and their fields).
//
//   HUDDLE_LOG(info, "ws.closed", {{"group", group}, {"user", user}, {"code", code}});
//
// The macro evaluates its fields only when a record at that level would be written: a
// filtered-out record costs the filter check BOOST_LOG_TRIVIAL makes, and builds and formats
// nothing. Per-message paths log nothing at any level all the same: the check is not free.
//
// This is the library's one seam to its log: today it writes to Boost.Log's global core
// (Severity as boost::log::trivial's, the fields as record attributes, see write()); an app
// picks the sinks (app/logging.cpp). Thread-safe.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace huddle::core::log {

// The order of boost::log::trivial::severity_level, which they map to.
enum class Level { trace, debug, info, warning, error, fatal };

// A field as the record keeps it. Names are string literals: they are not copied.
struct Field {
  using Value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string>;
  std::string_view name;
  Value value;
};
using Fields = std::vector<Field>;

// What a field's value may be besides bool and double: an integer (a char is not one), or
// anything that views as text (std::string, string literals, e.what(), Beast's string_view).
template <typename T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;
template <typename T>
concept Text = std::convertible_to<const T&, std::string_view>;

// A field as a call site passes it: the value is only looked at (a string is copied once,
// into the record, when the record is written), so a temporary such as e.what() or
// ec.message() is fine for the duration of the HUDDLE_LOG statement.
class FieldArg {
public:
  template <Integer T> FieldArg(std::string_view name, T value) noexcept : name_(name) {
    if constexpr (std::is_signed_v<T>)
      value_ = static_cast<std::int64_t>(value);
    else
      value_ = static_cast<std::uint64_t>(value);
  }
  FieldArg(std::string_view name, bool value) noexcept : name_(name), value_(value) {}
  FieldArg(std::string_view name, double value) noexcept : name_(name), value_(value) {}
  template <Text T>
  FieldArg(std::string_view name, const T& value) noexcept
      : name_(name), value_(std::string_view(value)) {}

  Field to_field() const;

private:
  std::string_view name_;
  std::variant<std::int64_t, std::uint64_t, double, bool, std::string_view> value_;
};

// Whether a record at `level` would be written now.
bool enabled(Level level);

// Writes one record; HUDDLE_LOG calls it after enabled(). The record also carries the text
// rendering (render_text) as its message, so a sink that prints only the message still
// shows the event and its fields.
void write(Level level, std::string_view event, std::initializer_list<FieldArg> fields = {});

// `event key=value key=value…` on one line: numbers and booleans as they are, strings bare
// when they are a single plain word, otherwise in double quotes with \" \\ \n \r \t and
// other control characters escaped (\u00XX), so a value can neither end the line nor fake a
// field.
std::string render_text(std::string_view event, const Fields& fields);

} // namespace huddle::core::log

// `level` is a Level enumerator (trace … fatal); what follows is the event name and an
// optional braced list of fields.
#define HUDDLE_LOG(level, ...)                                                                     \
  do {                                                                                             \
    if (::huddle::core::log::enabled(::huddle::core::log::Level::level))                           \
      ::huddle::core::log::write(::huddle::core::log::Level::level, __VA_ARGS__);                  \
  } while (false)
