// Unit tests of the secret file (src/auth/secret_file.cpp): creation (64 hex characters, mode
// 0600), reuse on the next start, operator-written files, and the errors that name the file.
// Each test works in its own temporary directory.
#include "auth/secret_file.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

using namespace huddle::auth;
using huddle::test::TempDir;

namespace {

bool is_lower_hex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// The exception's message, for checking it names the file.
std::string error_message(const std::filesystem::path& file) {
  try {
    load_or_create_secret(file);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  FAIL("load_or_create_secret did not throw for " << file.string());
  return {};
}

} // namespace

TEST_CASE("a missing file is created: 64 hex characters, readable by the owner only") {
  TempDir dir;
  const auto file = dir.path / "secret";
  const std::string secret = load_or_create_secret(file);
  CHECK(secret.size() == 64);
  CHECK(is_lower_hex(secret));
  CHECK(read_file(file) == secret);

  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0600);
}

TEST_CASE("the next start reads the same secret") {
  TempDir dir;
  const auto file = dir.path / "secret";
  const std::string first = load_or_create_secret(file);
  CHECK(load_or_create_secret(file) == first);
  CHECK(read_file(file) == first); // not rewritten
}

TEST_CASE("an operator's secret is used as written, without trailing whitespace") {
  TempDir dir;
  const auto file = dir.path / "secret";
  const std::string mine = "an operator chose this passphrase, 40 chars";
  write_file(file, mine + "\n \t\r\n");
  CHECK(load_or_create_secret(file) == mine);
  write_file(file, std::string(32, 'k'));
  CHECK(load_or_create_secret(file) == std::string(32, 'k'));
}

TEST_CASE("a short file is an error that names the file") {
  TempDir dir;
  const auto file = dir.path / "short-secret";
  write_file(file, "tooshort\n");
  CHECK(error_message(file).find(file.string()) != std::string::npos);
  // 31 bytes plus whitespace is still short: the whitespace does not count.
  write_file(file, std::string(31, 'k') + "        \n");
  CHECK(error_message(file).find(file.string()) != std::string::npos);
  write_file(file, "");
  CHECK(error_message(file).find(file.string()) != std::string::npos);
}

TEST_CASE("a file that cannot be created is an error that names it") {
  TempDir dir;
  const auto file = dir.path / "no-such-directory" / "secret";
  CHECK(error_message(file).find(file.string()) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(file));
}

TEST_CASE("random_secret: 64 hex characters, different each time") {
  const std::string first = random_secret();
  const std::string second = random_secret();
  CHECK(first.size() == 64);
  CHECK(is_lower_hex(first));
  CHECK(first != second);
}
