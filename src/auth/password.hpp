// Password hashing for huddle's accounts: Argon2id (libargon2), stored as the PHC string
// "$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>", so the parameters travel with the hash
// and can be raised later without breaking old ones. Deliberately slow: call it off the
// I/O threads.
#pragma once

#include <string>
#include <string_view>

namespace huddle::auth {

// A fresh random salt each call. Throws std::runtime_error if libargon2 fails.
std::string hash_password(std::string_view password);

// True when `password` matches `encoded` (a string from hash_password). A malformed
// `encoded` is false, never an exception.
bool verify_password(std::string_view encoded, std::string_view password) noexcept;

// Spends the time of one verify_password() against a fixed hash: a login for an unknown user
// takes as long as one with a wrong password, so timing does not reveal which names exist.
void burn_verify_time(std::string_view password) noexcept;

} // namespace huddle::auth
