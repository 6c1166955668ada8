// The huddle version, as `huddle --version` prints it.
#pragma once

namespace huddle {
inline constexpr const char* k_version = "0.1.0";
} // namespace huddle
