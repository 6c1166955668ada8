// Which of `count` I/O executors a group lives on. A group's sessions (net/group_executors.hpp)
// and its broker lane (broker/redis_broker.cpp) must agree, so that a broadcast wakes writers
// on its own thread instead of posting to the others (docs/architecture.md, "Threads").
#pragma once

#include <huddle/message.hpp>

#include <cstddef>
#include <cstdint>

namespace huddle::core {

inline std::size_t group_home(GroupId group, std::size_t count) noexcept {
  return static_cast<std::size_t>(static_cast<std::uint64_t>(group) % count);
}

} // namespace huddle::core
