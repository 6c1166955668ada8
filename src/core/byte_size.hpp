// ByteSize: an amount of memory or data as an operator types it, "65536", "64KiB", "1MiB".
// The one format of every size that `huddle serve` and huddle-load take, on the command
// line, in a config file or in a HUDDLE_* variable (core/option_values.hpp reads them as
// Boost.Program_options values); to_string() writes the same format, so --help shows each
// default the way it is typed. Units are binary (IEC 80000-13): KiB is 1024 bytes; the
// decimal kB/MB are refused rather than guessed at.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace huddle::core {

struct ByteSize {
  std::uint64_t bytes = 0;

  friend auto operator<=>(const ByteSize&, const ByteSize&) = default;
};

// A whole number of bytes, or of KiB, MiB, GiB or TiB; "B" may follow a bare number.
// nullopt when malformed (a sign, a fraction, an exponent, blanks, another unit) or beyond
// 64 bits.
std::optional<ByteSize> parse_byte_size(std::string_view text);

// The text parse_byte_size reads back as `size`, in the largest unit that divides it:
// "64KiB", "1MiB", "1000"; "0" for zero.
std::string to_string(ByteSize size);

} // namespace huddle::core
