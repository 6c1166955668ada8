// Connection against a real redis-server (test/redis_server.hpp): round trips, pipelining
// from two threads, pub/sub, reconnection (CLIENT KILL, a server stopped or killed and
// restarted), command_timeout, AUTH and SELECT, stop(). Waits are bounded (eventually());
// no assertion is about speed.
#include "broker/redis/connection.hpp"

#include "capture_logger.hpp"
#include "core/use_tuple.hpp"
#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

namespace asio = boost::asio;
using namespace huddle::broker::redis;
using boost::system::error_code;
using huddle::test::RedisServer;
using namespace std::chrono_literals;

namespace {

constexpr auto k_limit = 20s; // every wait ends by then; a test that reaches it failed

template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = k_limit) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// What the connection logged, through the logger its config gives it (config.logger =
// log.logger()).
class LogCapture {
public:
  std::shared_ptr<huddle::Logger> logger() const { return logger_; }

  std::vector<huddle::test::CaptureLogger::Event> records() const { return logger_->events(); }
  bool contains(huddle::LogLevel level, std::string_view text) const {
    const auto all = records();
    return std::any_of(all.begin(), all.end(), [&](const auto& r) {
      return r.level == level && r.line.find(text) != std::string::npos;
    });
  }
  bool mentions(std::string_view text) const {
    const auto all = records();
    return std::any_of(all.begin(), all.end(),
                       [&](const auto& r) { return r.line.find(text) != std::string::npos; });
  }

private:
  std::shared_ptr<huddle::test::CaptureLogger> logger_ =
      std::make_shared<huddle::test::CaptureLogger>();
};

// An io_context run by two threads (as `huddle serve --threads 2`), for the connections and
// the coroutines that use them.
class Loop {
public:
  Loop() {
    for (int i = 0; i < 2; ++i)
      threads_.emplace_back([this] { io_.run(); });
  }
  ~Loop() {
    work_.reset();
    io_.stop();
    for (auto& thread : threads_)
      thread.join();
  }

  asio::io_context& io() { return io_; }

  // Runs `task` on the loop and returns its result (bounded wait).
  template <typename T> T await(asio::awaitable<T> task) {
    auto result = asio::co_spawn(io_, std::move(task), asio::use_future);
    REQUIRE(result.wait_for(k_limit) == std::future_status::ready);
    return result.get();
  }

private:
  asio::io_context io_{2};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::vector<std::thread> threads_;
};

// A Connection with run() going; stop() and the end of run() on destruction. Hooks are set by
// the `prepare` callback, before run().
class Running {
public:
  Running(Loop& loop, ConnectionConfig config, const std::function<void(Connection&)>& prepare = {})
      : connection_(Connection::create(loop.io().get_executor(), std::move(config))) {
    if (prepare) prepare(*connection_);
    done_ = asio::co_spawn(loop.io(), connection_->run(), asio::use_future);
  }
  ~Running() {
    connection_->stop();
    CHECK_MESSAGE(done_.wait_for(k_limit) == std::future_status::ready,
                  "Connection::run() did not complete after stop()");
  }

  Connection& operator*() { return *connection_; }
  Connection* operator->() { return connection_.get(); }
  const std::shared_ptr<Connection>& shared() { return connection_; }
  std::future<void>& done() { return done_; }

private:
  std::shared_ptr<Connection> connection_;
  std::future<void> done_;
};

ConnectionConfig config_for(const RedisServer& redis) {
  ConnectionConfig config;
  config.endpoint = parse_url(redis.url());
  config.client_name = "huddle-test";
  return config;
}

Reply string(std::string text) {
  return Reply{Reply::Type::string, std::move(text), 0, {}};
}
Reply integer(std::int64_t value) {
  return Reply{Reply::Type::integer, {}, value, {}};
}
Reply status(std::string text) {
  return Reply{Reply::Type::status, std::move(text), 0, {}};
}
Reply array(std::vector<Reply> elements) {
  return Reply{Reply::Type::array, {}, 0, std::move(elements)};
}

// The reply to `command`, which must not fail.
Reply execute(Loop& loop, Connection& connection, Command command) {
  auto result = loop.await(connection.execute(std::move(command)));
  const error_code ec = std::get<0>(result);
  REQUIRE_MESSAGE(!ec, ec.message());
  return std::get<1>(std::move(result));
}

error_code failure(Loop& loop, Connection& connection, Command command) {
  return std::get<0>(loop.await(connection.execute(std::move(command))));
}

// Whether the server lists a client named `name` (CLIENT LIST).
bool has_client(RedisServer& redis, std::string_view name) {
  return redis.command({"CLIENT", "LIST"}).text.find("name=" + std::string(name) + " ") !=
         std::string::npos;
}

} // namespace

TEST_CASE("execute: round trips; an error reply is returned, not thrown") {
  RedisServer redis;
  Loop loop;
  Running connection(loop, config_for(redis));
  REQUIRE(eventually([&] { return connection->connected(); }));
  CHECK(has_client(redis, "huddle-test"));

  CHECK(execute(loop, *connection, {"SET", "greeting", "hello"}) == status("OK"));
  CHECK(execute(loop, *connection, {"GET", "greeting"}) == string("hello"));
  CHECK(execute(loop, *connection, {"GET", "missing"}).type == Reply::Type::nil);
  CHECK(execute(loop, *connection, {"INCR", "counter"}).as_integer() == 1);
  CHECK(execute(loop, *connection, {"INCR", "counter"}).as_integer() == 2);
  const auto refused = execute(loop, *connection, {"INCR", "greeting"});
  CHECK(refused.is_error());
  CHECK(refused.text == "ERR value is not an integer or out of range");
  CHECK(execute(loop, *connection, {"NO-SUCH-COMMAND"}).is_error());
  // Binary-safe both ways.
  const std::string binary("a\r\n\0\xff", 5);
  CHECK(execute(loop, *connection, {"SET", "binary", binary}) == status("OK"));
  CHECK(execute(loop, *connection, {"GET", "binary"}) == string(binary));

  auto [ec, replies] = loop.await(connection->execute_all(
      {{"MULTI"}, {"SET", "a", "1"}, {"INCR", "a"}, {"LRANGE", "none", "0", "-1"}, {"EXEC"}}));
  REQUIRE_FALSE(ec);
  CHECK(replies == std::vector<Reply>{status("OK"), status("QUEUED"), status("QUEUED"),
                                      status("QUEUED"),
                                      array({status("OK"), integer(2), array({})})});
  auto [empty_ec, none] = loop.await(connection->execute_all({}));
  CHECK_FALSE(empty_ec);
  CHECK(none.empty());
}

namespace {
struct Outcome {
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
};

asio::awaitable<void> four_commands(Connection& redis, int i, Outcome& outcome) {
  const auto id = std::to_string(i);
  const auto key = "key:" + id;
  // make_command(), not a braced list, in a co_await: g++ 12 rejects those (protocol.hpp).
  const auto [e1, echo] = co_await redis.execute(make_command("ECHO", id));
  const auto [e2, set] = co_await redis.execute(make_command("SET", key, "a" + id));
  const auto [e3, append] = co_await redis.execute(make_command("APPEND", key, "b"));
  const auto [e4, get] = co_await redis.execute(make_command("GET", key));
  const bool right = !e1 && !e2 && !e3 && !e4 && echo == string(id) && set == status("OK") &&
                     append == integer(static_cast<std::int64_t>(id.size() + 2)) &&
                     get == string("a" + id + "b");
  if (!right) ++outcome.wrong;
  ++outcome.done;
}
} // namespace

TEST_CASE("pipelining: 1000 commands from coroutines on two threads each get their own reply") {
  RedisServer redis;
  Loop loop;
  Running connection(loop, config_for(redis));
  REQUIRE(eventually([&] { return connection->connected(); }));

  // 250 coroutines of 4 commands each, all in flight at once: each command's reply names
  // it (ECHO, GET), and each coroutine's commands run in the order it issued them (APPEND).
  Outcome outcome;
  constexpr int k_coroutines = 250;
  for (int i = 0; i < k_coroutines; ++i)
    asio::co_spawn(loop.io(), four_commands(*connection, i, outcome), asio::detached);
  REQUIRE(eventually([&] { return outcome.done == k_coroutines; }));
  CHECK(outcome.wrong == 0);
}

TEST_CASE("execute resumes the caller on its own executor") {
  RedisServer redis;
  // A second io_context with no work but this coroutine, which must be resumed on it, not on
  // the connection's threads. Declared before the loop: it must outlive the loop's threads,
  // which post to it (TSan saw one still inside post() as it was destroyed).
  asio::io_context caller;
  Loop loop;
  Running connection(loop, config_for(redis));
  REQUIRE(eventually([&] { return connection->connected(); }));

  // BLPOP: a reply that takes a while (0.3 s).
  std::optional<bool> resumed_on_caller;
  Reply reply;
  asio::co_spawn(
      caller,
      [](Connection& redis, asio::io_context& caller, std::optional<bool>& resumed_on_caller,
         Reply& reply) -> asio::awaitable<void> {
        auto [ec, answer] = co_await redis.execute(make_command("BLPOP", "nothing", "0.3"));
        resumed_on_caller = caller.get_executor().running_in_this_thread();
        reply = ec ? Reply{Reply::Type::error, ec.message(), 0, {}} : answer;
      }(*connection, caller, resumed_on_caller, reply),
      asio::detached);
  caller.run_for(k_limit);
  REQUIRE(resumed_on_caller.has_value());
  CHECK(*resumed_on_caller);
  CHECK(reply.type == Reply::Type::nil);
}

TEST_CASE("a subscriber connection: confirmations answer SUBSCRIBE, publications go to on_push") {
  RedisServer redis;
  Loop loop;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> received;
  auto subscriber_config = config_for(redis);
  subscriber_config.subscriber = true;
  subscriber_config.client_name = "huddle-test-sub";
  Running subscriber(loop, subscriber_config, [&](Connection& connection) {
    connection.on_push([&](std::string_view channel, std::string_view payload) {
      std::lock_guard lock(mutex);
      received.emplace_back(channel, payload);
    });
  });
  Running publisher(loop, config_for(redis));
  REQUIRE(eventually([&] { return subscriber->connected() && publisher->connected(); }));
  const auto count = [&] {
    std::lock_guard lock(mutex);
    return received.size();
  };

  // One confirmation per channel; the last one answers the command.
  CHECK(execute(loop, *subscriber, {"SUBSCRIBE", "a", "b", "c"}) ==
        array({string("subscribe"), string("c"), integer(3)}));
  CHECK(execute(loop, *subscriber, {"PSUBSCRIBE", "x*"}) ==
        array({string("psubscribe"), string("x*"), integer(4)}));

  // Publications from another connection, in order, while the subscriber's own commands
  // (PING in subscribed mode) are answered in between.
  constexpr int k_messages = 200;
  std::atomic<bool> publishing{true};
  auto pinger = asio::co_spawn(
      loop.io(),
      [](Connection& subscriber, std::atomic<bool>& publishing) -> asio::awaitable<int> {
        int pongs = 0;
        while (publishing) {
          auto [ec, pong] = co_await subscriber.execute(make_command("PING"));
          if (ec || pong != array({string("pong"), string("")})) co_return -1;
          ++pongs;
        }
        co_return pongs;
      }(*subscriber, publishing),
      asio::use_future);
  for (int i = 0; i < k_messages; ++i)
    CHECK(execute(loop, *publisher, {"PUBLISH", i % 2 ? "a" : "b", "m" + std::to_string(i)}) ==
          integer(1));
  CHECK(execute(loop, *publisher, {"PUBLISH", "x1", "pattern"}) == integer(1));
  publishing = false;
  REQUIRE(pinger.wait_for(k_limit) == std::future_status::ready);
  CHECK(pinger.get() > 0);
  REQUIRE(eventually([&] { return count() == k_messages + 1; }));
  {
    std::lock_guard lock(mutex);
    for (int i = 0; i < k_messages; ++i) {
      CHECK(received[i].first == (i % 2 ? "a" : "b"));
      CHECK(received[i].second == "m" + std::to_string(i));
    }
    CHECK(received.back() == std::pair<std::string, std::string>("x1", "pattern"));
  }

  CHECK(execute(loop, *subscriber, {"UNSUBSCRIBE", "a"}) ==
        array({string("unsubscribe"), string("a"), integer(3)}));
  // Naming no channel drops the rest (b and c): answered by the last confirmation.
  const auto dropped = execute(loop, *subscriber, {"UNSUBSCRIBE"});
  CHECK(dropped.type == Reply::Type::array);
  CHECK(dropped.elements.at(2) == integer(1)); // x* is left
  CHECK(execute(loop, *subscriber, {"PUNSUBSCRIBE"}) ==
        array({string("punsubscribe"), string("x*"), integer(0)}));
  // Out of subscribed mode: PING is answered as usual, and the pairing held throughout.
  CHECK(execute(loop, *subscriber, {"PING"}) == status("PONG"));
  CHECK(execute(loop, *publisher, {"PUBLISH", "a", "late"}) == integer(0));
  // A refused SUBSCRIBE is answered by its one error, not waited on for more.
  CHECK(execute(loop, *subscriber, {"SUBSCRIBE"}).is_error());
  CHECK(execute(loop, *subscriber, {"PING"}) == status("PONG"));
}

namespace {
asio::awaitable<void> count_connects(Connection& redis, std::atomic<int>& connects) {
  const int n = ++connects;
  auto [ec, reply] = co_await redis.execute(make_command("SET", "hooked", n));
  if (ec || reply != status("OK")) throw std::runtime_error("SET in on_connect failed");
}
} // namespace

TEST_CASE("CLIENT KILL: commands fail while down, on_connect runs again, commands work again") {
  RedisServer redis;
  Loop loop;
  std::atomic<int> connects{0};
  std::atomic<int> disconnects{0};
  Running connection(loop, config_for(redis), [&](Connection& c) {
    c.on_connect([&c, &connects] { return count_connects(c, connects); });
    c.on_disconnect([&] { ++disconnects; });
  });
  REQUIRE(eventually([&] { return connection->connected(); }));
  CHECK(execute(loop, *connection, {"GET", "hooked"}) == string("1"));

  CHECK(redis.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}) == integer(1));
  std::set<std::string> errors;
  REQUIRE(eventually([&] {
    const auto ec = failure(loop, *connection, {"PING"});
    if (ec) errors.insert(ec.message());
    return !ec;
  }));
  // The reconnect waits 100 ms at least, so some PING found it down.
  CHECK_FALSE(errors.empty());
  for (const auto& message : errors) {
    CAPTURE(message);
    CHECK((message == error_code(error::not_connected).message() ||
           message == error_code(error::connection_lost).message()));
  }
  CHECK(connects == 2);
  CHECK(disconnects == 1);
  CHECK(execute(loop, *connection, {"GET", "hooked"}) == string("2"));
  CHECK(has_client(redis, "huddle-test"));
}

namespace {
asio::awaitable<void> mark_connect(Connection& redis, std::atomic<int>& connects) {
  const int n = ++connects;
  auto [ec, reply] =
      co_await redis.execute(make_command("SET", "marker", "hook-" + std::to_string(n)));
  if (ec) throw std::runtime_error(ec.message());
}
} // namespace

TEST_CASE("commands issued during the handshake wait for it, and for on_connect") {
  RedisServer redis;
  Loop loop;
  std::atomic<int> connects{0};
  auto config = config_for(redis);
  config.connect_timeout = 10s;
  Running connection(loop, config, [&](Connection& c) {
    c.on_connect([&c, &connects] { return mark_connect(c, connects); });
  });
  REQUIRE(eventually([&] { return connection->connected(); }));

  // Kill the connection and pause the server for 2 s: the reconnect (after 100 ms) hangs in
  // its handshake until the pause ends. A GET issued then is answered after the hook's SET.
  redis.commands(
      {{"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}, {"CLIENT", "PAUSE", "2000", "ALL"}});
  REQUIRE(eventually([&] { return !connection->connected(); }));
  std::this_thread::sleep_for(700ms);
  auto [ec, reply] = loop.await(connection->execute({"GET", "marker"}));
  REQUIRE_FALSE(ec);
  CHECK(reply == string("hook-2"));
}

TEST_CASE("a server stopped: not_connected at once; started again: connected again") {
  RedisServer redis;
  Loop loop;
  std::atomic<int> disconnects{0};
  auto config = config_for(redis);
  config.command_timeout = 10s; // so a command that waited for the server would time out late
  Running connection(loop, config, [&](Connection& c) { c.on_disconnect([&] { ++disconnects; }); });
  REQUIRE(eventually([&] { return connection->connected(); }));

  SUBCASE("SIGTERM") {
    redis.stop();
  }
  SUBCASE("SIGKILL") {
    redis.kill();
  }
  REQUIRE(eventually([&] { return !connection->connected(); }));
  CHECK(eventually([&] { return disconnects == 1; })); // called once the session is over
  const auto start = std::chrono::steady_clock::now();
  CHECK(failure(loop, *connection, {"PING"}) == error::not_connected);
  // Not a speed assertion: a command that waited for a reply would take command_timeout.
  CHECK(std::chrono::steady_clock::now() - start < config.command_timeout);

  redis.start();
  REQUIRE(eventually([&] { return connection->connected(); }));
  CHECK(execute(loop, *connection, {"PING"}) == status("PONG"));
}

TEST_CASE("command_timeout: the late command fails with timeout, the connection is made again") {
  RedisServer redis;
  Loop loop;
  LogCapture log;
  std::atomic<int> connects{0};
  auto config = config_for(redis);
  config.logger = log.logger();
  config.command_timeout = 200ms;
  Running connection(loop, config, [&](Connection& c) {
    c.on_connect([&c, &connects] { return count_connects(c, connects); });
  });
  REQUIRE(eventually([&] { return connection->connected(); }));

  // BLPOP answers after 2 s; a PING pipelined behind it loses its connection with it.
  auto strand = asio::make_strand(loop.io());
  auto slow =
      asio::co_spawn(strand, connection->execute({"BLPOP", "nothing", "2"}), asio::use_future);
  auto behind = asio::co_spawn(strand, connection->execute({"PING"}), asio::use_future);
  REQUIRE(slow.wait_for(k_limit) == std::future_status::ready);
  REQUIRE(behind.wait_for(k_limit) == std::future_status::ready);
  CHECK(std::get<0>(slow.get()) == error::timeout);
  CHECK(std::get<0>(behind.get()) == error::connection_lost);
  // Logged once the session's coroutines are done, maybe after the callers resumed.
  CHECK(eventually([&] { return log.contains(huddle::LogLevel::info, "no reply within 200 ms"); }));

  REQUIRE(eventually([&] { return connects == 2 && connection->connected(); }));
  CHECK(execute(loop, *connection, {"PING"}) == status("PONG"));
}

TEST_CASE("health checks: a server gone silent is noticed on a connection with nothing to send") {
  RedisServer redis;
  Loop loop;
  LogCapture log;
  std::atomic<int> disconnects{0};
  auto config = config_for(redis);
  config.logger = log.logger();
  config.subscriber = true;
  config.health_check_interval = 100ms;
  config.command_timeout = 300ms;
  Running connection(loop, config, [&](Connection& c) { c.on_disconnect([&] { ++disconnects; }); });
  REQUIRE(eventually([&] { return connection->connected(); }));
  CHECK(execute(loop, *connection, {"SUBSCRIBE", "quiet"}) ==
        array({string("subscribe"), string("quiet"), integer(1)}));

  // The server stops answering (the socket stays open) for 1.5 s; the connection only listens.
  redis.command({"CLIENT", "PAUSE", "1500", "ALL"});
  REQUIRE(eventually([&] { return disconnects == 1; }));
  CHECK(log.contains(huddle::LogLevel::info, "no reply within 300 ms"));
  REQUIRE(eventually([&] { return connection->connected(); }));
}

TEST_CASE("AUTH and SELECT: the right password connects, a wrong one is logged and retried") {
  RedisServer redis({.password = "right-password", .args = {}});
  Loop loop;
  LogCapture log;

  auto config = config_for(redis);
  config.logger = log.logger();
  config.password = "right-password";
  config.endpoint.db = 3;
  {
    Running connection(loop, config);
    REQUIRE(eventually([&] { return connection->connected(); }));
    CHECK(execute(loop, *connection, {"SET", "in-db-3", "yes"}) == status("OK"));
    CHECK(redis.commands({{"SELECT", "3"}, {"GET", "in-db-3"}}).back() == string("yes"));
  }

  SUBCASE("an ACL user") {
    CHECK(redis.command({"ACL", "SETUSER", "alice", "on", ">alice-password", "~*", "&*",
                         "+@all"}) == status("OK"));
    config.user = "alice";
    config.password = "alice-password";
    Running connection(loop, config);
    REQUIRE(eventually([&] { return connection->connected(); }));
    CHECK(execute(loop, *connection, {"ACL", "WHOAMI"}) == string("alice"));
  }
  SUBCASE("a wrong password") {
    config.password = "wrong-password";
    Running connection(loop, config);
    REQUIRE(eventually(
        [&] { return log.contains(huddle::LogLevel::error, "Redis refused AUTH: WRONGPASS"); }));
    // Retried (with the backoff), and refused again.
    REQUIRE(eventually([&] {
      const auto records = log.records();
      return std::count_if(records.begin(), records.end(), [](const auto& r) {
               return r.line.find("Redis refused AUTH") != std::string::npos;
             }) >= 2;
    }));
    CHECK_FALSE(connection->connected());
    CHECK(failure(loop, *connection, {"PING"}) == error::not_connected);
    CHECK_FALSE(log.mentions("wrong-password"));
  }
  SUBCASE("no password") {
    config.password.clear();
    Running connection(loop, config);
    REQUIRE(eventually(
        [&] { return log.contains(huddle::LogLevel::error, "Redis refused SELECT: NOAUTH"); }));
    CHECK_FALSE(connection->connected());
  }
  CHECK_FALSE(log.mentions("right-password"));
  CHECK_FALSE(log.mentions("alice-password"));
}

TEST_CASE("stop(): pending and later commands fail with stopped, and run() completes") {
  RedisServer redis;
  Loop loop;
  auto config = config_for(redis);
  config.command_timeout = 10s;
  std::optional<Running> connection;
  connection.emplace(loop, config);
  REQUIRE(eventually([&] { return (*connection)->connected(); }));
  auto redis_connection = connection->shared();

  auto pending = asio::co_spawn(loop.io(), redis_connection->execute({"BLPOP", "nothing", "5"}),
                                asio::use_future);
  REQUIRE(eventually([&] {
    return redis.command({"CLIENT", "LIST"}).text.find("cmd=blpop") != std::string::npos;
  }));
  redis_connection->stop();
  REQUIRE(pending.wait_for(k_limit) == std::future_status::ready);
  CHECK(std::get<0>(pending.get()) == error::stopped);
  REQUIRE(connection->done().wait_for(k_limit) == std::future_status::ready);
  CHECK_FALSE(redis_connection->connected());
  CHECK(failure(loop, *redis_connection, {"PING"}) == error::stopped);
  connection.reset(); // stop() again: idempotent
}

TEST_CASE("a cancelled run() stops the connection, as the loser of an || would be") {
  RedisServer redis;
  Loop loop;
  auto connection = Connection::create(loop.io().get_executor(), config_for(redis));
  std::atomic<bool> was_connected{false};
  auto done = asio::co_spawn(
      loop.io(),
      [](std::shared_ptr<Connection> connection,
         std::atomic<bool>& was_connected) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer until_connected(co_await asio::this_coro::executor);
        const auto wait_connected = [](Connection& connection, asio::steady_timer& timer,
                                       std::atomic<bool>& was_connected) -> asio::awaitable<void> {
          while (!connection.connected()) {
            timer.expires_after(10ms);
            co_await timer.async_wait(huddle::use_tuple);
          }
          was_connected = true;
        };
        co_await (connection->run() || wait_connected(*connection, until_connected, was_connected));
      }(connection, was_connected),
      asio::use_future);
  REQUIRE(done.wait_for(k_limit) == std::future_status::ready);
  done.get();
  CHECK(was_connected);
  CHECK_FALSE(connection->connected());
  CHECK(failure(loop, *connection, {"PING"}) == error::stopped);
}

TEST_CASE("not_connected before run(), and when nothing listens") {
  Loop loop;
  ConnectionConfig unused;
  unused.endpoint.host = "127.0.0.1";
  auto never_run = Connection::create(loop.io().get_executor(), unused);
  CHECK(failure(loop, *never_run, {"PING"}) == error::not_connected);

  LogCapture log;
  ConnectionConfig config;
  config.logger = log.logger();
  {
    RedisServer redis; // its port, free again once it is gone
    config.endpoint = parse_url(redis.url());
  }
  Running connection(loop, config);
  REQUIRE(
      eventually([&] { return log.contains(huddle::LogLevel::warning, "redis.connect_failed"); }));
  CHECK(failure(loop, *connection, {"PING"}) == error::not_connected);
}

TEST_CASE("configs that cannot work are refused") {
  asio::io_context io;
  ConnectionConfig config;
  config.endpoint.host = "127.0.0.1";
  config.client_name = "two words";
  CHECK_THROWS_AS(Connection::create(io.get_executor(), config), std::invalid_argument);
  config.client_name = "huddle-node-1";
  config.command_timeout = 0ms;
  CHECK_THROWS_AS(Connection::create(io.get_executor(), config), std::invalid_argument);
  config.command_timeout = 1s;
  config.health_check_interval = -1ms;
  CHECK_THROWS_AS(Connection::create(io.get_executor(), config), std::invalid_argument);
  config.health_check_interval = 0ms;
  CHECK_NOTHROW(Connection::create(io.get_executor(), config));
  config.endpoint.host.clear();
  CHECK_THROWS_AS(Connection::create(io.get_executor(), config), std::invalid_argument);
}
