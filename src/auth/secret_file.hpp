// The HS256 signing secret of `--auth builtin`, kept in a file so tokens survive restarts:
// read it when the file exists, else create it (32 random bytes from the OS, hex-encoded,
// mode 0600) before the server starts.
#pragma once

#include <filesystem>
#include <string>

namespace huddle::auth {

// Throws std::runtime_error naming the file when it cannot be read or created, or when an
// existing file holds fewer than 32 bytes.
std::string load_or_create_secret(const std::filesystem::path& file);

// A fresh random secret that lives only in memory (a server whose database is in memory).
std::string random_secret();

} // namespace huddle::auth
