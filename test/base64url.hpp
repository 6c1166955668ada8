// Unpadded base64url (RFC 7515 §2), for tests that build JWTs by hand (the token unit tests
// and the token fuzz target). huddle itself only decodes (src/auth/token.cpp).
#pragma once

#include <string>
#include <string_view>

namespace huddle::test {

inline std::string base64url(std::string_view bytes) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (const char c : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(k_alphabet[(bits >> count) & 63]);
    }
  }
  if (count > 0) out.push_back(k_alphabet[(bits << (6 - count)) & 63]);
  return out;
}

} // namespace huddle::test
