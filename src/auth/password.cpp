// Argon2id password hashing (libargon2). Parameters m = 46 MiB, t = 2, p = 1: OWASP's
// m = 46 MiB profile (Password Storage Cheat Sheet) with one more pass, which still takes a
// time inside the 50-150 ms a login can afford (measured: docs/benchmarks.md, "Password
// hashing"). Each hash allocates m of memory: callers bound how many run at once.
#include "auth/password.hpp"

#include <argon2.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace huddle::auth {

namespace {

constexpr std::uint32_t k_time_cost = 2;
constexpr std::uint32_t k_memory_kib = 47104;
constexpr std::uint32_t k_parallelism = 1;
constexpr std::size_t k_salt_bytes = 16;
constexpr std::size_t k_hash_bytes = 32;

// A hash of a password nobody has, made with the parameters above (regenerate it when they
// change: the static_assert below catches a mismatch). burn_verify_time() verifies against it so
// an unknown user costs what a wrong password costs.
constexpr std::string_view k_params_prefix = "$argon2id$v=19$m=47104,t=2,p=1$";
constexpr std::string_view k_dummy_hash = "$argon2id$v=19$m=47104,t=2,p=1$cpXc9oY2DXAWo77szyxHtg$"
                                          "NHwaAqO+tEbmHy5lzKomg44AaBS1TtNMgGaxbdcSfuU";
static_assert(k_dummy_hash.starts_with(k_params_prefix),
              "k_dummy_hash must use the current Argon2 parameters");

void fill_random(std::byte* out, std::size_t size) {
  while (size > 0) {
    const ssize_t got = ::getrandom(out, size, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    out += got;
    size -= static_cast<std::size_t>(got);
  }
}

} // namespace

std::string hash_password(std::string_view password) {
  std::array<std::byte, k_salt_bytes> salt{};
  fill_random(salt.data(), salt.size());

  std::string encoded(argon2_encodedlen(k_time_cost, k_memory_kib, k_parallelism, k_salt_bytes,
                                        k_hash_bytes, Argon2_id),
                      '\0');
  const int rc = argon2id_hash_encoded(k_time_cost, k_memory_kib, k_parallelism, password.data(),
                                       password.size(), salt.data(), salt.size(), k_hash_bytes,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK)
    throw std::runtime_error(std::string("argon2id_hash_encoded: ") + argon2_error_message(rc));
  // argon2_encodedlen counts the terminating NUL; keep only the string.
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool verify_password(std::string_view encoded, std::string_view password) noexcept {
  // libargon2 needs a NUL-terminated encoding; one with an embedded NUL is not ours.
  if (encoded.find('\0') != std::string_view::npos) return false;
  try {
    const std::string terminated(encoded);
    return argon2id_verify(terminated.c_str(), password.data(), password.size()) == ARGON2_OK;
  } catch (...) { // std::bad_alloc
    return false;
  }
}

void burn_verify_time(std::string_view password) noexcept {
  // The result does not matter, only the work (the compiler cannot drop a call into libargon2).
  static_cast<void>(argon2id_verify(k_dummy_hash.data(), password.data(), password.size()));
}

} // namespace huddle::auth
