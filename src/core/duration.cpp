#include "core/duration.hpp"

#include <charconv>
#include <cstdint>

namespace huddle::core {

namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t milliseconds;
};

// Largest first: to_string() takes the first that divides.
constexpr Unit k_units[] = {
    {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};

bool all_digits(std::string_view text) {
  return text.find_first_not_of("0123456789") == std::string_view::npos;
}

} // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  const auto number_end = std::min(text.find_first_not_of("0123456789."), text.size());
  const std::string_view number = text.substr(0, number_end);
  const std::string_view unit = text.substr(number_end);
  std::int64_t scale = unit.empty() ? 1'000 : 0;
  for (const Unit& known : k_units)
    if (unit == known.suffix) scale = known.milliseconds;
  const auto dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
  // At most 12 and 9 digits: no product below can overflow, and k_max_duration bounds the sum.
  if (scale == 0 || whole.empty() || whole.size() > 12 || !all_digits(fraction) ||
      (dot != std::string_view::npos && fraction.empty()) || fraction.size() > 9)
    return std::nullopt;
  std::int64_t whole_value = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), whole_value);
  std::int64_t fraction_value = 0;
  std::from_chars(fraction.data(), fraction.data() + fraction.size(), fraction_value);
  std::int64_t fraction_scale = 1;
  for (std::size_t i = 0; i < fraction.size(); ++i)
    fraction_scale *= 10;
  const std::int64_t max = k_max_duration.value.count();
  if (whole_value > max / scale || (fraction_value * scale) % fraction_scale != 0)
    return std::nullopt;
  const std::int64_t milliseconds = whole_value * scale + fraction_value * scale / fraction_scale;
  if (milliseconds > max) return std::nullopt;
  return Duration{std::chrono::milliseconds(milliseconds)};
}

std::string to_string(Duration duration) {
  const std::int64_t milliseconds = duration.value.count();
  if (milliseconds == 0) return "0";
  for (const Unit& unit : k_units)
    if (milliseconds % unit.milliseconds == 0)
      return std::to_string(milliseconds / unit.milliseconds) + std::string(unit.suffix);
  return {}; // not reached: every count is a multiple of 1ms
}

} // namespace huddle::core
