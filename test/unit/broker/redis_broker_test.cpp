// RedisBroker against a real redis-server (test/redis_server.hpp): how sends become publish
// script calls. The cluster test (test/cli/cluster_test.py) covers delivery across nodes.
#include "broker/redis_broker.hpp"

#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/log/core.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <vector>

namespace asio = boost::asio;
using huddle::ServerConfig;
using huddle::broker::PublishError;
using huddle::broker::RedisBroker;
using huddle::test::RedisServer;

namespace {

constexpr std::chrono::seconds k_limit{10};

// How many script calls (EVAL and EVALSHA) Redis ran since its statistics were reset.
std::int64_t script_calls(RedisServer& redis) {
  const std::string info = redis.command({"INFO", "commandstats"}).text;
  std::int64_t calls = 0;
  for (const std::string name : {"cmdstat_eval:", "cmdstat_evalsha:"}) {
    const auto at = info.find(name);
    if (at != std::string::npos) calls += std::stoll(info.substr(at + name.size() + 6));
  }
  return calls;
}

// One broker on a one-thread io_context, connected before the test goes on.
struct Node {
  explicit Node(RedisServer& redis) : broker(io.get_executor(), config_for(redis)) {
    boost::log::core::get()->set_logging_enabled(false);
    asio::co_spawn(io, broker.run(), asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + k_limit;
    while (broker.epoch().empty() && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(10));
    REQUIRE_MESSAGE(!broker.epoch().empty(), "the broker did not connect");
  }
  ~Node() {
    broker.stop();
    io.run_for(k_limit);
  }

  static ServerConfig config_for(RedisServer& redis) {
    ServerConfig config;
    config.broker_url = redis.url();
    return config;
  }

  struct Sent {
    PublishError error = PublishError::none;
    huddle::MessageId acked = 0;
  };

  // Starts `count` sends to `group` at once, as that many sessions would, and runs until
  // every one is answered.
  std::vector<Sent> send_together(huddle::GroupId group, int count) {
    std::vector<Sent> sent(count);
    int answered = 0;
    for (int i = 0; i < count; ++i)
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            huddle::MessageDraft draft{"sender", "message " + std::to_string(i), 1};
            sent[i].error =
                co_await broker.publish(group, std::move(draft), nullptr, false,
                                        [&, i](huddle::MessageId id) { sent[i].acked = id; });
            ++answered;
          },
          asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + k_limit;
    while (answered < count && std::chrono::steady_clock::now() < deadline)
      io.run_one_for(std::chrono::milliseconds(10));
    REQUIRE(answered == count);
    return sent;
  }

  asio::io_context io;
  RedisBroker broker;
};

std::vector<huddle::MessageId> acked_ids(const std::vector<Node::Sent>& sent) {
  std::vector<huddle::MessageId> ids;
  for (const auto& s : sent) {
    CHECK(s.error == PublishError::none);
    ids.push_back(s.acked);
  }
  return ids;
}

} // namespace

TEST_CASE("sends at hand go to Redis together: one script call for many, in order") {
  RedisServer redis;
  Node node(redis);
  redis.command({"CONFIG", "RESETSTAT"});

  // The first send finds no call in flight and goes at once, alone; the others, made
  // before it is answered, wait and go together in the next calls (64 at most in one).
  const auto ids = acked_ids(node.send_together(7, 150));
  std::vector<huddle::MessageId> expected(150);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(ids == expected);          // in the order the sends were made, none skipped
  CHECK(script_calls(redis) == 4); // 1 + 64 + 64 + 21

  // Every one is in the group's stream under its id, with its own text.
  const auto log = redis.command({"XRANGE", "huddle:{7}:log", "-", "+"});
  REQUIRE(log.elements.size() == 150);
  CHECK(log.elements[0].elements[0].text == "1-0");
  CHECK(log.elements[0].elements[1].elements[3].text == "message 0");
  CHECK(log.elements[149].elements[0].text == "150-0");
  CHECK(log.elements[149].elements[1].elements[3].text == "message 149");
}

TEST_CASE("a send refused for another epoch stores nothing; those behind it go under the new "
          "epoch") {
  RedisServer redis;
  Node node(redis);
  redis.command({"SET", "huddle:epoch", "another"}); // as if Redis lost its data
  const auto sent = node.send_together(3, 20);
  // The first call carried the first send alone: refused, no id taken.
  CHECK(sent[0].error == PublishError::broker_unavailable);
  CHECK(sent[0].acked == 0);
  // The refusal made the node read the epoch again; the sends that waited went under it,
  // from the group's first id.
  CHECK(node.broker.epoch() == "another");
  std::vector<Node::Sent> rest(sent.begin() + 1, sent.end());
  std::vector<huddle::MessageId> expected(19);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(acked_ids(rest) == expected);
  CHECK(redis.command({"XLEN", "huddle:{3}:log"}).integer == 19);
}
