// The one rule for account names, shared by the account store, the command line and token
// checks: 1..32 characters of [A-Za-z0-9_.-], so a name is safe in a URL, a log line and a
// terminal without escaping.
#pragma once

#include <cstddef>
#include <string_view>

namespace huddle::core {

inline constexpr std::size_t k_max_user_name = 32;

constexpr bool is_valid_user_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > k_max_user_name) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

} // namespace huddle::core
