#include "core/byte_size.hpp"

#include <charconv>
#include <limits>

namespace huddle::core {

namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t bytes;
};

// Largest first: to_string() takes the first that divides.
constexpr Unit k_units[] = {
    {"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}};

} // namespace

std::optional<ByteSize> parse_byte_size(std::string_view text) {
  const auto number_end = std::min(text.find_first_not_of("0123456789"), text.size());
  const std::string_view unit = text.substr(number_end);
  std::uint64_t scale = unit.empty() || unit == "B" ? 1 : 0;
  for (const Unit& known : k_units)
    if (unit == known.suffix) scale = known.bytes;
  std::uint64_t count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + number_end, count);
  if (scale == 0 || number_end == 0 || error != std::errc{} ||
      count > std::numeric_limits<std::uint64_t>::max() / scale)
    return std::nullopt;
  return ByteSize{count * scale};
}

std::string to_string(ByteSize size) {
  for (const Unit& unit : k_units)
    if (size.bytes != 0 && size.bytes % unit.bytes == 0)
      return std::to_string(size.bytes / unit.bytes) + std::string(unit.suffix);
  return std::to_string(size.bytes);
}

} // namespace huddle::core
