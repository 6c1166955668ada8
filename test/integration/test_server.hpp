// TestServer: an in-process huddle::Server on 127.0.0.1, an ephemeral port, and an
// io_context run by two threads (as `huddle serve --threads 2` would), for the
// integration tests.
//
//   huddle::test::TestServer server;            // or TestServer server(config);
//   WsClient alice; alice.join(server.port(), 7, "alice");
//
// The destructor stops the server and waits (bounded) for run() to complete. Declare the
// TestServer before the clients of a test, so the clients go first. History is in memory
// unless the config names a file (e.g. in a TempDir).
#pragma once

#include "temp_dir.hpp"
#include "test_certificates.hpp"

#include <huddle/server.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace huddle::test {

// `config` served with the test certificates: HTTPS and wss only.
inline ServerConfig with_tls(ServerConfig config) {
  config.tls_certificate_file = TestCertificates::get().file("server.pem");
  config.tls_key_file = TestCertificates::get().file("server.key");
  return config;
}

// The config for a test run over ws and wss alike (TEST_CASE_TEMPLATE over WsClient and
// WssClient): with TLS when `Client` speaks it.
template <typename Client> ServerConfig served_for(ServerConfig config = {}) {
  if constexpr (Client::k_tls) return with_tls(std::move(config));
  return config;
}

class TestServer {
public:
  explicit TestServer(ServerConfig config = {}) {
    config.address = "127.0.0.1";
    config.port = 0;
    server_.emplace(io_.get_executor(), std::move(config));
    boost::asio::co_spawn(io_, server_->run(), [this](std::exception_ptr error) {
      if (error) { // run_failed() says so; this says why
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          std::cerr << "TestServer: run() failed: " << e.what() << '\n';
        } catch (...) {
          std::cerr << "TestServer: run() failed\n";
        }
      }
      std::lock_guard lock(mutex_);
      run_error_ = error;
      run_done_ = true;
      run_done_cv_.notify_all();
    });
    for (int i = 0; i < 2; ++i)
      threads_.emplace_back([this] { io_.run(); });
  }

  ~TestServer() {
    server_->stop();
    const bool finished = wait_run_done(std::chrono::seconds(20));
    io_.stop();
    for (auto& thread : threads_)
      thread.join();
    server_.reset();
    CHECK_MESSAGE(finished, "Server::run() did not complete after stop()");
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return server_->port(); }
  Server& server() { return *server_; }
  void stop() { server_->stop(); }

  // True once run() completed (false when `timeout` passed first).
  bool wait_run_done(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return run_done_cv_.wait_for(lock, timeout, [this] { return run_done_; });
  }
  bool run_failed() {
    std::lock_guard lock(mutex_);
    return run_error_ != nullptr;
  }

  // Connections registered in `group` right now, as the ChatManager counts them.
  std::size_t member_count(GroupId group) {
    auto count =
        boost::asio::co_spawn(io_, server_->chat().member_count(group), boost::asio::use_future);
    REQUIRE(count.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return count.get();
  }

  // Server::publish() from the app's side, run on the server's io_context; throws what it
  // threw. The outcome crosses threads as plain data and is thrown anew here: an exception
  // object made on the server's thread and read on this one shares libstdc++'s reference
  // counts, which ThreadSanitizer does not see (a report, not a race of huddle's).
  MessageId publish(GroupId group, std::string sender, std::string text) {
    enum class Kind { stored, invalid, failed, other };
    struct Outcome {
      Kind kind = Kind::stored;
      MessageId id = 0;
      std::string what;
      PublishFailed::Reason reason{};
    };
    auto attempt = [](Server& server, GroupId group, std::string sender,
                      std::string text) -> boost::asio::awaitable<Outcome> {
      try {
        const MessageId id = co_await server.publish(group, std::move(sender), std::move(text));
        co_return Outcome{Kind::stored, id, {}, {}};
      } catch (const PublishFailed& e) {
        co_return Outcome{Kind::failed, 0, e.what(), e.reason()};
      } catch (const std::invalid_argument& e) {
        co_return Outcome{Kind::invalid, 0, e.what(), {}};
      } catch (const std::exception& e) {
        co_return Outcome{Kind::other, 0, e.what(), {}};
      }
    };
    auto done = boost::asio::co_spawn(
        io_, attempt(*server_, group, std::move(sender), std::move(text)), boost::asio::use_future);
    REQUIRE(done.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    const Outcome outcome = done.get();
    switch (outcome.kind) {
    case Kind::stored:
      break;
    case Kind::invalid:
      throw std::invalid_argument(outcome.what);
    case Kind::failed:
      throw PublishFailed(outcome.reason, outcome.what);
    case Kind::other:
      throw std::runtime_error(outcome.what);
    }
    return outcome.id;
  }

  // Polls `condition` until it holds or `timeout` passes. For state the server reaches
  // asynchronously (a vanished peer noticed, a slot released); never a speed assertion.
  template <typename Condition>
  static bool eventually(Condition condition,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (condition()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

private:
  boost::asio::io_context io_{2};
  std::optional<Server> server_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable run_done_cv_;
  bool run_done_ = false;
  std::exception_ptr run_error_;
};

} // namespace huddle::test
