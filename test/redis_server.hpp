// RedisServer: a real redis-server for one test, on 127.0.0.1 and an ephemeral port, in a
// temporary directory, with no RDB snapshots and (unless a test asks) no AOF:
//
//   huddle::test::RedisServer redis;                              // started, PING answered
//   config.endpoint = huddle::broker::redis::parse_url(redis.url());
//   redis.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
//   redis.restart();                   // same port and directory (AOF tests: {"--appendonly",
//   "yes"})
//
// Stopped by PID in the destructor (SIGTERM, then SIGKILL after 10 s), and killed by the kernel
// if the thread that started it dies first (PR_SET_PDEATHSIG): start it from the test's own
// thread. command() talks to it over a blocking socket of its own, for a test's setup and
// checks; the code under test uses Connection.
#pragma once

#include "temp_dir.hpp"

#include "broker/redis/protocol.hpp"
#include "broker/redis/reply.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace huddle::test {

struct RedisServerOptions {
  std::string password;          // --requirepass (command() authenticates with it)
  std::vector<std::string> args; // more redis-server arguments; later ones win
};

class RedisServer {
public:
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    // Another process may take the port between our probe and redis-server's bind: retry.
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
      port_ = free_port();
      if (!start_once()) pid_ = -1;
    }
    REQUIRE_MESSAGE(pid_ > 0, "redis-server did not start; its log:\n" << log());
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_.path; }
  bool running() const { return pid_ > 0; }

  // Starts it again on the same port and directory (after stop() or kill()).
  void start() {
    REQUIRE_FALSE(running());
    REQUIRE_MESSAGE(start_once(), "redis-server did not start again; its log:\n" << log());
  }
  // SIGTERM and wait (it exits at once: no RDB to save; an AOF is fsynced).
  void stop() { end(SIGTERM); }
  // SIGKILL: the server vanishes as in a crash (what was not fsynced is lost).
  void kill() { end(SIGKILL); }
  void restart() {
    stop();
    start();
  }

  // Sends `commands` on a fresh connection (authenticated first when there is a password) and
  // returns their replies. Throws std::runtime_error when the server does not answer in 5 s.
  std::vector<broker::redis::Reply> commands(const std::vector<broker::redis::Command>& commands) {
    std::vector<broker::redis::Command> all;
    if (!options_.password.empty()) all.push_back({"AUTH", options_.password});
    all.insert(all.end(), commands.begin(), commands.end());
    auto replies = exchange(all);
    if (!options_.password.empty()) replies.erase(replies.begin());
    return replies;
  }
  broker::redis::Reply command(const broker::redis::Command& command) {
    return commands({command}).front();
  }

  // What the server logged, for a failure message.
  std::string log() const {
    std::ifstream file(dir_.path / "redis.log");
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
  }

private:
  static std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
  }

  static std::string find_redis_server() {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
      const auto candidate = std::filesystem::path(dir) / "redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    FAIL("redis-server not found on PATH (scripts/setup installs it)");
    return {};
  }

  // True once the server answers PING; false when it exited (e.g. its port was taken).
  bool start_once() {
    std::vector<std::string> args = {find_redis_server(),
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_.path.string(),
                                     "--logfile",
                                     (dir_.path / "redis.log").string(),
                                     "--daemonize",
                                     "no"};
    if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
    args.insert(args.end(), options_.args.begin(), options_.args.end());
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec (the test may have threads).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      try {
        const auto pong = commands({{"PING"}}).front();
        if (pong.type == broker::redis::Reply::Type::status && pong.text == "PONG") return true;
      } catch (const std::runtime_error&) {
        // not listening yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    end(SIGKILL);
    return false;
  }

  void end(int signal) {
    if (pid_ < 0) return;
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  // One blocking connection: writes every command, reads one reply per command.
  std::vector<broker::redis::Reply> exchange(const std::vector<broker::redis::Command>& commands) {
    struct Socket {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      ~Socket() {
        if (fd >= 0) ::close(fd);
      }
    } socket;
    if (socket.fd < 0) throw std::runtime_error("socket() failed");
    const timeval timeout{5, 0};
    ::setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(socket.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port_);
    if (::connect(socket.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot connect to redis-server");
    std::string wire;
    for (const auto& command : commands)
      broker::redis::append_command(wire, command);
    for (std::size_t sent = 0; sent < wire.size();) {
      const auto n = ::send(socket.fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("cannot write to redis-server");
      sent += static_cast<std::size_t>(n);
    }
    broker::redis::ReplyReader reader;
    std::vector<broker::redis::Reply> replies;
    char buffer[4096];
    while (replies.size() < commands.size()) {
      if (auto reply = reader.next()) {
        replies.push_back(std::move(*reply));
        continue;
      }
      if (reader.failed()) throw std::runtime_error("redis-server: " + reader.error());
      const auto n = ::recv(socket.fd, buffer, sizeof buffer, 0);
      if (n <= 0) throw std::runtime_error("no reply from redis-server");
      reader.feed({buffer, static_cast<std::size_t>(n)});
    }
    return replies;
  }

  RedisServerOptions options_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace huddle::test
