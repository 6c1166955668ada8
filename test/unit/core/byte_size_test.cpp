#include "core/byte_size.hpp"

#include <doctest/doctest.h>

using huddle::core::ByteSize;
using huddle::core::parse_byte_size;

TEST_CASE("a size is a whole number of bytes or of a binary unit") {
  CHECK(parse_byte_size("65536") == ByteSize{65536});
  CHECK(parse_byte_size("0") == ByteSize{0});
  CHECK(parse_byte_size("10B") == ByteSize{10});
  CHECK(parse_byte_size("64KiB") == ByteSize{64 * 1024});
  CHECK(parse_byte_size("1MiB") == ByteSize{1 << 20});
  CHECK(parse_byte_size("16GiB") == ByteSize{16ULL << 30});
  CHECK(parse_byte_size("2TiB") == ByteSize{2ULL << 40});
  CHECK(parse_byte_size("18446744073709551615") == ByteSize{18446744073709551615ULL});
}

TEST_CASE("decimal units, fractions and overflow are refused, not guessed at") {
  for (const char* bad :
       {"", "B", "KiB", "-1", "+1", "1e6", "1.5MiB", "1k", "1K", "1kB", "1KB", "1MB", "1 KiB", " 1",
        "1kib", "lots", "18446744073709551616", "16777216TiB", "99999999999999999999KiB"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_byte_size(bad));
  }
}

TEST_CASE("to_string writes the largest unit that divides, and reads back") {
  CHECK(to_string(ByteSize{0}) == "0");
  CHECK(to_string(ByteSize{1000}) == "1000");
  CHECK(to_string(ByteSize{65536}) == "64KiB");
  CHECK(to_string(ByteSize{1 << 20}) == "1MiB");
  CHECK(to_string(ByteSize{1536}) == "1536"); // 1.5KiB: whole units only
  CHECK(to_string(ByteSize{3ULL << 40}) == "3TiB");
  for (const std::uint64_t bytes : {1ULL, 1023ULL, 1024ULL, 1025ULL, 5ULL << 30}) {
    CAPTURE(bytes);
    CHECK(parse_byte_size(to_string(ByteSize{bytes})) == ByteSize{bytes});
  }
}
