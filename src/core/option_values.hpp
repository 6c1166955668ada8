// Typed Boost.Program_options values for the command lines of `huddle` and huddle-load,
// so each kind of value is read one way, whatever the flag, and whether it comes from the
// command line, a config file or the environment:
//   - Duration and ByteSize through validate() overloads, program_options' documented
//     extension point (found by argument-dependent lookup);
//   - an enum through a validate() overload its option file declares beside the enum, over
//     a table of names (parse_choice), the same table writing its default;
//   - every value through BoundedValue, which refuses what lies outside [min, max] (and
//     reads numbers strictly: "-1" is not wrapped into a huge unsigned, as lexical_cast would).
// Each value is bound to the field it fills, and that field's value when the description
// is built is the default --help shows, written as the value is typed ("64KiB", "10s"):
// defaults come from ServerConfig and the load tool's Options, never from help texts.
// A bad value is a program_options error whose message names the option as it was given
// (`--port` on the command line, `port` in a config file): "--port must be a whole number
// from 0 to 65535, got "x"".
#pragma once

#include "core/byte_size.hpp"
#include "core/duration.hpp"

#include <boost/program_options/errors.hpp>
#include <boost/program_options/value_semantic.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace huddle::core {

void validate(boost::any& value, const std::vector<std::string>& tokens, Duration*, int);
void validate(boost::any& value, const std::vector<std::string>& tokens, ByteSize*, int);

// The error for a bad value of the option being read: `what` follows the option's name.
boost::program_options::error_with_option_name invalid_value(const std::string& what);

// What --help and messages write for a value.
std::string to_text(double number);
inline std::string to_text(std::integral auto number) {
  return std::to_string(number);
}
inline std::string to_text(Duration duration) {
  return to_string(duration);
}
inline std::string to_text(ByteSize size) {
  return to_string(size);
}

template <class Enum> struct Choice {
  std::string_view name;
  Enum value;
};

namespace detail {
// "none, batch or sync".
std::string list_names(const std::vector<std::string_view>& names);
// "a duration from 1ms to 1s, like 250ms, 1.5s or 5m": `kind` is what a value is, the
// bounds are left out where they are the kind's own.
std::string describe_range(std::string_view kind, std::string_view examples, const std::string* min,
                           const std::string* max);
} // namespace detail

// The value an enum option names, for its validate() overload.
template <class Enum, std::size_t N>
Enum parse_choice(const std::vector<std::string>& tokens,
                  const std::array<Choice<Enum>, N>& choices) {
  const std::string& token = boost::program_options::validators::get_single_string(tokens);
  std::vector<std::string_view> names;
  for (const Choice<Enum>& choice : choices) {
    if (token == choice.name) return choice.value;
    names.push_back(choice.name);
  }
  throw invalid_value("must be " + detail::list_names(names) + ", got \"" + token + "\"");
}

template <class Enum, std::size_t N>
std::string_view choice_name(Enum value, const std::array<Choice<Enum>, N>& choices) {
  for (const Choice<Enum>& choice : choices)
    if (choice.value == value) return choice.name;
  return {};
}

// A typed value accepted from `min` to `max` (both included).
template <class T> class BoundedValue : public boost::program_options::typed_value<T> {
public:
  BoundedValue(T* field, T min, T max)
      : boost::program_options::typed_value<T>(field), min_(min), max_(max) {}

  void xparse(boost::any& store, const std::vector<std::string>& tokens) const override {
    const std::string& token = boost::program_options::validators::get_single_string(tokens);
    T value{};
    bool ok = true;
    if constexpr (std::is_arithmetic_v<T>) {
      const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
      ok = error == std::errc{} && end == token.data() + token.size();
      if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(value);
    } else {
      try {
        boost::program_options::typed_value<T>::xparse(store, tokens); // validate()
        value = boost::any_cast<T>(store);
      } catch (const boost::program_options::error&) {
        ok = false;
      }
    }
    if (!ok || value < min_ || max_ < value)
      throw invalid_value("must be " + range() + ", got \"" + token + "\"");
    store = value;
  }

private:
  std::string range() const {
    const std::string min = to_text(min_), max = to_text(max_);
    if constexpr (std::is_same_v<T, Duration>)
      return detail::describe_range("a duration", "like 250ms, 1.5s or 5m",
                                    min_ > Duration{} ? &min : nullptr,
                                    max_ < k_max_duration ? &max : nullptr);
    else if constexpr (std::is_same_v<T, ByteSize>)
      return detail::describe_range(
          "a size", "like 65536, 64KiB or 1MiB", min_ > ByteSize{} ? &min : nullptr,
          max_ < ByteSize{std::numeric_limits<std::uint64_t>::max()} ? &max : nullptr);
    else if constexpr (std::is_floating_point_v<T>)
      return detail::describe_range("a number", "", &min,
                                    max_ < std::numeric_limits<T>::max() ? &max : nullptr);
    else // both bounds always: "a whole number" alone would not refuse 70000 for a port
      return detail::describe_range(std::is_signed_v<T> ? "an integer" : "a whole number", "", &min,
                                    &max);
  }

  T min_;
  T max_;
};

// The factories below bind a value to `field` (filled by program_options' notify()) with
// the field's current value as the default.

template <class Number>
requires std::is_arithmetic_v<Number> BoundedValue<Number>
*number_value(Number* field,
              std::type_identity_t<Number> min = std::numeric_limits<Number>::lowest(),
              std::type_identity_t<Number> max = std::numeric_limits<Number>::max()) {
  auto* value = new BoundedValue<Number>(field, min, max);
  value->default_value(*field, to_text(*field));
  return value;
}

template <class Rep, class Period>
BoundedValue<Duration>* duration_value(std::chrono::duration<Rep, Period>* field, Duration min,
                                       Duration max = k_max_duration) {
  using Field = std::chrono::duration<Rep, Period>;
  auto* value = new BoundedValue<Duration>(nullptr, min, max);
  const Duration current{std::chrono::duration_cast<std::chrono::milliseconds>(*field)};
  value->default_value(current, to_text(current));
  value->notifier(
      [field](const Duration& d) { *field = std::chrono::duration_cast<Field>(d.value); });
  return value;
}

// huddle-load keeps its durations as seconds in a double.
BoundedValue<Duration>* duration_value(double* seconds, Duration min,
                                       Duration max = k_max_duration);

template <class Unsigned>
requires std::is_unsigned_v<Unsigned> BoundedValue<ByteSize>
*size_value(Unsigned* field, ByteSize min, ByteSize max) {
  max = std::min(max, ByteSize{std::numeric_limits<Unsigned>::max()}); // what the field holds
  auto* value = new BoundedValue<ByteSize>(nullptr, min, max);
  const ByteSize current{*field};
  value->default_value(current, to_text(current));
  value->notifier([field](const ByteSize& size) { *field = static_cast<Unsigned>(size.bytes); });
  return value;
}

// An enum option; its parsing is the enum's validate() overload (over the same `choices`).
template <class Enum, std::size_t N>
boost::program_options::typed_value<Enum>*
choice_value(Enum* field, const std::array<Choice<Enum>, N>& choices) {
  auto* value = new boost::program_options::typed_value<Enum>(field);
  value->default_value(*field, std::string(choice_name(*field, choices)));
  return value;
}

} // namespace huddle::core
