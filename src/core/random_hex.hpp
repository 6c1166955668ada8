// 64 random bits as 16 hex digits: names that only have to differ from every other one made
// (an epoch for a history kept in memory, a node of a RedisBroker service).
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace huddle::core {

inline std::string random_hex() {
  std::random_device random;
  const std::uint64_t value = (std::uint64_t{random()} << 32) | random();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

} // namespace huddle::core
