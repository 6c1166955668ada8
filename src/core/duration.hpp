// Duration: a span of time as an operator types it, "250ms", "1.5s", "5m", "12h", "30d".
// The one format of every duration that `huddle serve` and huddle-load take, on the command
// line, in a config file or in a HUDDLE_* variable (core/option_values.hpp reads them as
// Boost.Program_options values); to_string() writes the same format, so --help shows each
// default the way it is typed. Whole milliseconds: the resolution of every timer huddle sets.
#pragma once

#include <chrono>
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace huddle::core {

struct Duration {
  std::chrono::milliseconds value{0};

  friend auto operator<=>(const Duration&, const Duration&) = default;
};

// A hundred years: longer is a typo, and a steady_clock deadline this far out still fits
// its 64-bit nanoseconds.
inline constexpr Duration k_max_duration{std::chrono::hours(24 * 36'500)};

// A decimal number and a unit, ms, s, m, h or d; a bare number is seconds ("0", "10").
// nullopt when malformed (a sign, an exponent, blanks, another unit), finer than a
// millisecond ("0.5ms") or longer than k_max_duration.
std::optional<Duration> parse_duration(std::string_view text);

// The text parse_duration reads back as `duration`, in the largest unit that divides it:
// "250ms", "10s", "1m", "12h", "30d"; "0" for zero.
std::string to_string(Duration duration);

} // namespace huddle::core
