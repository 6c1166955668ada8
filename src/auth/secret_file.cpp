// The secret file: created with O_CREAT | O_EXCL and mode 0600 so two servers starting at once
// cannot both write one (the loser reads the winner's), and no other user can read it at any
// moment. The secret is the file's text (trailing whitespace removed, so an editor's newline
// does not change it); an operator may put any 32+ bytes there instead of ours.
#include "auth/secret_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace huddle::auth {

namespace {

constexpr std::size_t k_secret_bytes = 32;     // 256 bits, HS256's key size (RFC 7518 §3.2)
constexpr std::size_t k_max_file_bytes = 4096; // a secret, not a document

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& why) {
  throw std::runtime_error("secret file " + file.string() + ": " + why);
}

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

// Owns a file descriptor; closes it on every path out.
class Fd {
public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  // Closes now, so a failed close (lost write on NFS) can be reported.
  int close() noexcept {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

private:
  int fd_;
};

std::string random_hex(std::size_t bytes) {
  std::array<unsigned char, 64> raw{};
  if (bytes > raw.size()) throw std::logic_error("random_hex: too many bytes");
  std::size_t filled = 0;
  while (filled < bytes) {
    const ssize_t got = ::getrandom(raw.data() + filled, bytes - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<std::size_t>(got);
  }
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    hex.push_back(k_digits[raw[i] >> 4]);
    hex.push_back(k_digits[raw[i] & 0xF]);
  }
  return hex;
}

// The secret in an existing file; `fd` is open for reading.
std::string read_secret(const std::filesystem::path& file, const Fd& fd) {
  std::string text;
  std::array<char, 1024> chunk{};
  for (;;) {
    const ssize_t got = ::read(fd.get(), chunk.data(), chunk.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      fail(file, "cannot read: " + errno_text(errno));
    }
    if (got == 0) break;
    text.append(chunk.data(), static_cast<std::size_t>(got));
    if (text.size() > k_max_file_bytes)
      fail(file, "larger than " + std::to_string(k_max_file_bytes) + " bytes");
  }
  while (!text.empty() &&
         std::string_view(" \t\r\n\v\f").find(text.back()) != std::string_view::npos)
    text.pop_back();
  if (text.size() < k_secret_bytes)
    fail(file, "holds " + std::to_string(text.size()) + " bytes, fewer than the " +
                   std::to_string(k_secret_bytes) + " a secret needs");
  return text;
}

// Writes a fresh secret to a file just created with O_EXCL; removes it again on failure so the
// next start does not find a truncated secret.
std::string write_secret(const std::filesystem::path& file, Fd& fd) {
  const std::string secret = random_secret();
  std::size_t written = 0;
  while (written < secret.size()) {
    const ssize_t rc = ::write(fd.get(), secret.data() + written, secret.size() - written);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      const int error = errno;
      ::unlink(file.c_str());
      fail(file, "cannot write: " + errno_text(error));
    }
    written += static_cast<std::size_t>(rc);
  }
  // On disk before the server hands out tokens signed with it.
  if (::fsync(fd.get()) != 0 || fd.close() != 0) {
    const int error = errno;
    ::unlink(file.c_str());
    fail(file, "cannot write: " + errno_text(error));
  }
  return secret;
}

} // namespace

std::string load_or_create_secret(const std::filesystem::path& file) {
  // Two tries: a file that appears between our open for reading and our O_EXCL create was
  // written by another process starting at the same time; read that one. (Read while the other
  // is still writing, it may be short: that start fails naming the file, the next one works.)
  for (int attempt = 0; attempt < 2; ++attempt) {
    Fd existing(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (existing.get() >= 0) return read_secret(file, existing);
    if (errno != ENOENT) fail(file, "cannot open: " + errno_text(errno));

    Fd created(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (created.get() >= 0) return write_secret(file, created);
    if (errno != EEXIST) fail(file, "cannot create: " + errno_text(errno));
  }
  fail(file, "appeared and vanished while being created");
}

std::string random_secret() {
  return random_hex(k_secret_bytes);
}

} // namespace huddle::auth
