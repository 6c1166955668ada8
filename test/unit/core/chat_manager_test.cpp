// Unit tests of ChatManager (src/core/chat_manager.cpp) against the contract in
// include/huddle/chat_manager.hpp: registration, welcome/join/leave presence, broadcast
// with ids, group erasure, removal of members whose offer fails, and the order every member
// sees under concurrent broadcasts from several threads.
//
// Members are fakes that record the frames offered to them. Every wait is bounded (run_for /
// run_one_until with a generous limit) and followed by a check that the work completed, so a
// deadlock fails the test instead of hanging it; nothing asserts on durations.
#include <huddle/chat_manager.hpp>
#include <huddle/message_log.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include "capture_logger.hpp"
#include "concurrency_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

namespace asio = boost::asio;
using huddle_test::Completion;
using huddle_test::k_limit;
using huddle_test::run_threads;
namespace json = boost::json;
using huddle::ChatManager;
using huddle::Frame;
using huddle::GroupId;
using huddle::MessageId;

// The send time of every message the tests make (ms since the epoch, 2025-11-24 16:00:00.123
// UTC), so a test can check that the message and its frame carry the draft's time unchanged.
constexpr std::int64_t k_ts = 1764000000123;

// The bounded waits below cannot stop a coroutine that loops without ever suspending (such
// as a lock_group that keeps finding an erased group): this ends such a run with a message
// instead of letting it hang when the executable is run by hand. meson's timeout is shorter.
class Watchdog {
public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!finished_.wait_for(lock, limit, [this] { return done_; })) {
            std::fputs("watchdog: chat_manager_test ran past its limit: an operation spins\n",
                       stderr);
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    finished_.notify_all();
    thread_.join();
  }

private:
  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
  std::thread thread_; // last: starts once the members it uses exist
};
const Watchdog k_watchdog{std::chrono::seconds(300)};

// Records the frames it is offered. It refuses when told to, or once it holds `capacity`
// frames (a reader that never drains); after its first refusal it refuses everything, as a
// closed connection does, and counts the offers it should never have received.
class FakeMember final : public huddle::Member {
public:
  explicit FakeMember(std::string user,
                      std::size_t capacity = std::numeric_limits<std::size_t>::max())
      : user_(std::move(user)), capacity_(capacity) {}

  bool offer(const Frame& frame) noexcept override {
    std::lock_guard lock(mutex_);
    if (closed_) {
      ++offers_after_refusal_;
      return false;
    }
    if (refuse_ || frames_.size() >= capacity_) {
      closed_ = true;
      return false;
    }
    frames_.push_back(frame);
    return true;
  }

  const std::string& user() const noexcept override { return user_; }

  void refuse() {
    std::lock_guard lock(mutex_);
    refuse_ = true;
  }
  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  std::size_t offers_after_refusal() const {
    std::lock_guard lock(mutex_);
    return offers_after_refusal_;
  }
  std::vector<Frame> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

  std::vector<json::object> parsed() const {
    std::vector<json::object> objects;
    for (const auto& frame : frames())
      objects.push_back(json::parse(*frame).as_object());
    return objects;
  }
  std::vector<std::string> types() const {
    std::vector<std::string> names;
    for (const auto& object : parsed())
      names.emplace_back(object.at("type").as_string());
    return names;
  }
  // The ids of the `message` frames, in the order they were offered.
  std::vector<MessageId> message_ids() const {
    std::vector<MessageId> ids;
    for (const auto& object : parsed())
      if (object.at("type") == "message") ids.push_back(object.at("id").as_int64());
    return ids;
  }
  // The users named by the `join` or `leave` frames, in order.
  std::vector<std::string> presence(std::string_view type) const {
    std::vector<std::string> users;
    for (const auto& object : parsed())
      if (object.at("type").as_string() == type) users.emplace_back(object.at("user").as_string());
    return users;
  }

private:
  const std::string user_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Frame> frames_;
  bool refuse_ = false;
  bool closed_ = false;
  std::size_t offers_after_refusal_ = 0;
};

using FakePtr = std::shared_ptr<FakeMember>;

FakePtr fake(std::string user, std::size_t capacity = std::numeric_limits<std::size_t>::max()) {
  return std::make_shared<FakeMember>(std::move(user), capacity);
}

huddle::MessageDraft draft(std::string from, std::string text) {
  return {std::move(from), std::move(text), k_ts};
}

std::vector<MessageId> ids_from(MessageId first, MessageId last) {
  std::vector<MessageId> ids;
  for (MessageId id = first; id <= last; ++id)
    ids.push_back(id);
  return ids;
}

// Describes the first place `ids` differs from first, first+1, ..., last; empty when equal.
std::string contiguity_problem(const std::vector<MessageId>& ids, MessageId first, MessageId last) {
  const auto expected = ids_from(first, last);
  for (std::size_t i = 0; i < std::min(ids.size(), expected.size()); ++i)
    if (ids[i] != expected[i])
      return "position " + std::to_string(i) + ": id " + std::to_string(ids[i]) + ", expected " +
             std::to_string(expected[i]);
  if (ids.size() != expected.size())
    return std::to_string(ids.size()) + " ids, expected " + std::to_string(expected.size());
  return {};
}

// The frames offered after the member's own connect (the welcome and the joins of those
// who connected after it): the part every member of a group shares.
std::vector<const std::string*> live_frames(const FakeMember& member) {
  std::vector<const std::string*> live;
  for (const auto& frame : member.frames()) {
    const auto type = json::parse(*frame).at("type");
    if (type != "welcome" && type != "join") live.push_back(frame.get());
  }
  return live;
}

// Runs one coroutine at a time to completion on a single-threaded io_context.
class Sync {
public:
  asio::any_io_executor executor() { return io_.get_executor(); }

  template <typename T> T operator()(asio::awaitable<T> task) {
    std::optional<T> result;
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(io_, std::move(task), [&](std::exception_ptr e, T value) {
      done = true;
      error = e;
      if (!e) result.emplace(std::move(value));
    });
    const auto deadline = std::chrono::steady_clock::now() + k_limit;
    io_.restart();
    while (!done && io_.run_one_until(deadline) != 0) {
    }
    REQUIRE_MESSAGE(done, "the operation did not complete: deadlock?");
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }

private:
  asio::io_context io_;
};

} // namespace

TEST_CASE("connect registers a member once") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");

  const auto first = sync(chat.connect(1, alice));
  CHECK(first.added);
  CHECK(first.last_id == 0);
  CHECK(first.members.empty());

  const auto second = sync(chat.connect(1, alice));
  CHECK_FALSE(second.added);
  CHECK(sync(chat.member_count(1)) == 1);
  CHECK(sync(chat.group_count()) == 1);
  CHECK(sync(chat.online_users(1)) == std::vector<std::string>{"alice"});
  // The repeated connect offered nothing: no second welcome, no join to itself.
  CHECK(alice->types() == std::vector<std::string>{"welcome"});

  sync(chat.broadcast(1, draft("bob", "hi"), nullptr));
  CHECK(alice->message_ids() == std::vector<MessageId>{1}); // registered once: one copy
}

TEST_CASE("joins and leaves are logged to the manager's own logger, at the level it asks for") {
  Sync sync;
  auto log = std::make_shared<huddle::test::CaptureLogger>(huddle::LogLevel::info);
  ChatManager chat(sync.executor(), nullptr, log); // no log: no ambiguity with a sequence
  auto alice = fake("alice");
  sync(chat.connect(3, alice));
  sync(chat.disconnect(3, *alice));
  CHECK(log->lines("group.joined") ==
        std::vector<std::string>{"group.joined group=3 user=alice connections=1 online=1"});
  CHECK(log->lines("group.left") ==
        std::vector<std::string>{"group.left group=3 user=alice connections=0 online=0"});
  // group.erased is at debug: below the logger's level, so it was never written.
  CHECK(log->lines("group.erased").empty());
  CHECK(log->events().size() == 2);
}

TEST_CASE("welcome is the first frame and lists the other users online") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto carol = fake("carol");
  auto bob = fake("bob");
  REQUIRE(sync(chat.connect(7, carol)).added);
  REQUIRE(sync(chat.connect(7, bob)).added);
  sync(chat.broadcast(7, draft("carol", "one"), nullptr));
  sync(chat.broadcast(7, draft("bob", "two"), nullptr));

  auto alice = fake("alice");
  const auto joined = sync(chat.connect(7, alice));
  CHECK(joined.added);
  CHECK(joined.last_id == 2);
  CHECK(joined.members == std::vector<std::string>{"bob", "carol"}); // sorted, not herself

  auto frames = alice->parsed();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].at("type") == "welcome");
  CHECK(frames[0].at("group") == 7);
  CHECK(frames[0].at("user") == "alice");
  CHECK(frames[0].at("last_id") == 2);
  CHECK(frames[0].at("members") == json::array{"bob", "carol"});

  // The first message she gets live is the one right after last_id.
  sync(chat.broadcast(7, draft("bob", "three"), nullptr));
  CHECK(alice->message_ids() == std::vector<MessageId>{3});
  CHECK(alice->types().front() == "welcome");

  // A second connection of the same user is welcomed with the others, not with herself.
  auto alice_phone = fake("alice");
  const auto again = sync(chat.connect(7, alice_phone));
  CHECK(again.added);
  CHECK(again.last_id == 3);
  CHECK(again.members == std::vector<std::string>{"bob", "carol"});
  frames = alice_phone->parsed();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].at("type") == "welcome");
  CHECK(frames[0].at("members") == json::array{"bob", "carol"});
}

TEST_CASE("join and leave follow users, not connections") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto bob = fake("bob");
  auto alice_laptop = fake("alice");
  auto alice_phone = fake("alice");

  REQUIRE(sync(chat.connect(3, bob)).added);
  REQUIRE(sync(chat.connect(3, alice_laptop)).added);
  CHECK(bob->presence("join") == std::vector<std::string>{"alice"});
  CHECK(alice_laptop->types() == std::vector<std::string>{"welcome"}); // not its own join

  // Her second connection: the same presence, so nobody hears a join.
  REQUIRE(sync(chat.connect(3, alice_phone)).added);
  CHECK(bob->presence("join") == std::vector<std::string>{"alice"});
  CHECK(alice_laptop->presence("join").empty());
  CHECK(alice_phone->types() == std::vector<std::string>{"welcome"});
  CHECK(sync(chat.member_count(3)) == 3);
  CHECK(sync(chat.online_users(3)) == std::vector<std::string>{"alice", "bob"});

  const auto join = bob->parsed().back();
  CHECK(join.at("group") == 3);

  // Her first connection leaves: she is still online through the other one.
  CHECK(sync(chat.disconnect(3, *alice_laptop)));
  CHECK(bob->presence("leave").empty());
  CHECK(alice_phone->presence("leave").empty());
  CHECK(sync(chat.online_users(3)) == std::vector<std::string>{"alice", "bob"});

  // Her last connection leaves: now she is gone.
  CHECK(sync(chat.disconnect(3, *alice_phone)));
  CHECK(bob->presence("leave") == std::vector<std::string>{"alice"});
  CHECK(bob->parsed().back().at("group") == 3);
  CHECK(sync(chat.online_users(3)) == std::vector<std::string>{"bob"});
  CHECK(sync(chat.member_count(3)) == 1);
  // A member that left is offered nothing more.
  const auto laptop_frames = alice_laptop->frames().size();
  sync(chat.broadcast(3, draft("bob", "anyone?"), nullptr));
  CHECK(alice_laptop->frames().size() == laptop_frames);
}

TEST_CASE("broadcast reaches every member but the excluded one") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");
  auto bob = fake("bob");
  auto carol = fake("carol");
  for (const auto& member : {alice, bob, carol})
    REQUIRE(sync(chat.connect(1, member)).added);

  const auto sent = sync(chat.broadcast(1, draft("alice", "hi all"), alice.get()));
  REQUIRE(sent != nullptr);
  CHECK(sent->group() == 1);
  CHECK(sent->id() == 1);
  CHECK(sent->from() == "alice");
  CHECK(sent->text() == "hi all");
  CHECK(sent->ts_ms() == k_ts);
  CHECK(alice->message_ids().empty());
  CHECK(bob->message_ids() == std::vector<MessageId>{1});
  CHECK(carol->message_ids() == std::vector<MessageId>{1});

  const auto frame = bob->parsed().back();
  CHECK(frame.at("type") == "message");
  CHECK(frame.at("group") == 1);
  CHECK(frame.at("id") == 1);
  CHECK(frame.at("from") == "alice");
  CHECK(frame.at("text") == "hi all");
  CHECK(frame.at("ts") == k_ts);
  // One payload per broadcast, shared by the recipients, never copied per recipient.
  CHECK(bob->frames().back().get() == sent->frame().get());
  CHECK(carol->frames().back().get() == sent->frame().get());

  const auto to_all = sync(chat.broadcast(1, draft("server", "maintenance"), nullptr));
  CHECK(to_all->id() == 2);
  CHECK(alice->message_ids() == std::vector<MessageId>{2});
  CHECK(bob->message_ids() == std::vector<MessageId>{1, 2});
  CHECK(carol->message_ids() == std::vector<MessageId>{1, 2});

  // Excluding a member of another group excludes nobody here.
  auto stranger = fake("stranger");
  REQUIRE(sync(chat.connect(2, stranger)).added);
  sync(chat.broadcast(1, draft("x", "y"), stranger.get()));
  CHECK(alice->message_ids() == std::vector<MessageId>{2, 3});
  CHECK(stranger->message_ids().empty());
}

TEST_CASE("ids increase by one per group and groups are independent") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto in_one = fake("one");
  auto in_two = fake("two");
  REQUIRE(sync(chat.connect(1, in_one)).added);
  REQUIRE(sync(chat.connect(2, in_two)).added);

  std::vector<MessageId> returned_one, returned_two;
  returned_one.push_back(sync(chat.broadcast(1, draft("a", "1"), nullptr))->id());
  returned_one.push_back(sync(chat.broadcast(1, draft("a", "2"), nullptr))->id());
  returned_two.push_back(sync(chat.broadcast(2, draft("b", "1"), nullptr))->id());
  returned_one.push_back(sync(chat.broadcast(1, draft("a", "3"), nullptr))->id());
  returned_two.push_back(sync(chat.broadcast(2, draft("b", "2"), nullptr))->id());

  CHECK(returned_one == std::vector<MessageId>{1, 2, 3});
  CHECK(returned_two == std::vector<MessageId>{1, 2});
  CHECK(in_one->message_ids() == std::vector<MessageId>{1, 2, 3});
  CHECK(in_two->message_ids() == std::vector<MessageId>{1, 2});
  for (const auto& object : in_two->parsed())
    CHECK(object.at("group") == 2);
  CHECK(sync(chat.group_count()) == 2);
}

TEST_CASE("disconnect removes the member and erases a group left empty") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");
  auto bob = fake("bob");
  REQUIRE(sync(chat.connect(4, alice)).added);
  REQUIRE(sync(chat.connect(4, bob)).added);
  REQUIRE(sync(chat.connect(5, fake("other"))).added);
  sync(chat.broadcast(4, draft("alice", "1"), nullptr));
  sync(chat.broadcast(4, draft("alice", "2"), nullptr));
  CHECK(sync(chat.group_count()) == 2);

  SUBCASE("members that are not registered are not removed") {
    auto nobody = fake("nobody");
    CHECK_FALSE(sync(chat.disconnect(4, *nobody)));
    CHECK_FALSE(sync(chat.disconnect(99, *alice))); // no such group
    CHECK_FALSE(sync(chat.disconnect(5, *alice)));  // registered elsewhere
    CHECK(sync(chat.member_count(4)) == 2);
    CHECK(sync(chat.group_count()) == 2); // the look-ups created no group
  }

  SUBCASE("the last one out erases the group, and its ids continue") {
    CHECK(sync(chat.disconnect(4, *alice)));
    CHECK(sync(chat.member_count(4)) == 1);
    CHECK(sync(chat.group_count()) == 2);
    CHECK_FALSE(sync(chat.disconnect(4, *alice))); // only once

    CHECK(sync(chat.disconnect(4, *bob)));
    CHECK(sync(chat.member_count(4)) == 0);
    CHECK(sync(chat.online_users(4)).empty());
    CHECK(sync(chat.group_count()) == 1);
    // Neither got anything after leaving.
    CHECK(alice->message_ids() == std::vector<MessageId>{1, 2});
    CHECK(bob->message_ids() == std::vector<MessageId>{1, 2});

    // Recreated, the group goes on from its last id: ids never repeat.
    auto carol = fake("carol");
    const auto joined = sync(chat.connect(4, carol));
    CHECK(joined.added);
    CHECK(joined.last_id == 2);
    CHECK(joined.members.empty());
    CHECK(sync(chat.group_count()) == 2);
    CHECK(sync(chat.broadcast(4, draft("carol", "3"), nullptr))->id() == 3);
    CHECK(carol->message_ids() == std::vector<MessageId>{3});
    CHECK(carol->parsed().front().at("last_id") == 2);
  }

  SUBCASE("a broadcast to a group with no members gets an id and leaves no group behind") {
    CHECK(sync(chat.broadcast(6, draft("api", "into the void"), nullptr))->id() == 1);
    CHECK(sync(chat.group_count()) == 2);
    CHECK(sync(chat.broadcast(6, draft("api", "again"), nullptr))->id() == 2);
    CHECK(sync(chat.group_count()) == 2);
    auto late = fake("late");
    CHECK(sync(chat.connect(6, late)).last_id == 2);
  }
}

TEST_CASE("a member whose offer fails is removed and never offered again") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");
  auto bob = fake("bob");
  auto carol = fake("carol");
  for (const auto& member : {alice, bob, carol})
    REQUIRE(sync(chat.connect(8, member)).added);

  carol->refuse();
  sync(chat.broadcast(8, draft("alice", "1"), nullptr));
  CHECK(carol->closed());
  CHECK(sync(chat.member_count(8)) == 2);
  CHECK(sync(chat.online_users(8)) == std::vector<std::string>{"alice", "bob"});
  // The others got the message, then carol's leave.
  CHECK(alice->types() == std::vector<std::string>{"welcome", "join", "join", "message", "leave"});
  CHECK(bob->types() == std::vector<std::string>{"welcome", "join", "message", "leave"});
  CHECK(bob->presence("leave") == std::vector<std::string>{"carol"});

  sync(chat.broadcast(8, draft("alice", "2"), nullptr));
  sync(chat.broadcast(8, draft("bob", "3"), bob.get()));
  CHECK(alice->message_ids() == std::vector<MessageId>{1, 2, 3});
  CHECK(bob->message_ids() == std::vector<MessageId>{1, 2});
  CHECK(carol->offers_after_refusal() == 0);
  CHECK(carol->message_ids().empty());
  CHECK_FALSE(sync(chat.disconnect(8, *carol))); // already gone

  SUBCASE("a user with another connection stays online") {
    auto bob_phone = fake("bob");
    REQUIRE(sync(chat.connect(8, bob_phone)).added);
    bob_phone->refuse();
    sync(chat.broadcast(8, draft("alice", "4"), nullptr));
    CHECK(bob_phone->offers_after_refusal() == 0);
    CHECK(alice->presence("leave") == std::vector<std::string>{"carol"}); // no leave for bob
    CHECK(sync(chat.online_users(8)) == std::vector<std::string>{"alice", "bob"});
    CHECK(sync(chat.member_count(8)) == 2);
  }

  SUBCASE("a group whose members all fail is erased, and its ids continue") {
    alice->refuse();
    bob->refuse();
    sync(chat.broadcast(8, draft("api", "4"), nullptr));
    CHECK(sync(chat.member_count(8)) == 0);
    CHECK(sync(chat.group_count()) == 0);
    CHECK(alice->offers_after_refusal() == 0);
    CHECK(bob->offers_after_refusal() == 0);
    CHECK(sync(chat.broadcast(8, draft("api", "5"), nullptr))->id() == 5);
  }
}

TEST_CASE("a member that refuses another's leave or join frame is removed too") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");
  auto bob = fake("bob");
  REQUIRE(sync(chat.connect(9, alice)).added);
  REQUIRE(sync(chat.connect(9, bob)).added);

  SUBCASE("removal cascades through leave frames") {
    auto dave = fake("dave", 4); // room for: welcome, join(carol), message 1, message 2
    REQUIRE(sync(chat.connect(9, dave)).added);
    auto carol = fake("carol");
    REQUIRE(sync(chat.connect(9, carol)).added);
    sync(chat.broadcast(9, draft("alice", "1"), nullptr));

    carol->refuse();
    sync(chat.broadcast(9, draft("alice", "2"), nullptr));
    // Carol failed on message 2, and dave, full after it, on carol's leave.
    CHECK(dave->types() == std::vector<std::string>{"welcome", "join", "message", "message"});
    CHECK(alice->presence("leave") == std::vector<std::string>{"carol", "dave"});
    CHECK(bob->presence("leave") == std::vector<std::string>{"carol", "dave"});
    CHECK(sync(chat.member_count(9)) == 2);
    CHECK(sync(chat.online_users(9)) == std::vector<std::string>{"alice", "bob"});
    CHECK(carol->offers_after_refusal() == 0);
    CHECK(dave->offers_after_refusal() == 0);
    sync(chat.broadcast(9, draft("alice", "3"), nullptr));
    CHECK(dave->offers_after_refusal() == 0);
    CHECK(alice->message_ids() == std::vector<MessageId>{1, 2, 3});
  }

  SUBCASE("a member that refuses a join frame is removed") {
    auto erin = fake("erin", 1); // room for its welcome only
    REQUIRE(sync(chat.connect(9, erin)).added);
    auto frank = fake("frank");
    REQUIRE(sync(chat.connect(9, frank)).added);
    CHECK(erin->offers_after_refusal() == 0);
    CHECK(frank->presence("leave") == std::vector<std::string>{"erin"});
    CHECK(alice->presence("leave") == std::vector<std::string>{"erin"});
    CHECK(sync(chat.online_users(9)) == std::vector<std::string>{"alice", "bob", "frank"});
    sync(chat.broadcast(9, draft("alice", "1"), nullptr));
    CHECK(erin->offers_after_refusal() == 0);
    CHECK(frank->message_ids() == std::vector<MessageId>{1});
  }
}

TEST_CASE("a group emptied by the removals a connect causes is erased") {
  // Regression: connect once removed members that refused the join frame without erasing
  // the group they left empty. It is emptied when the newcomer refuses the leave frames.
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice", 1); // room for her welcome only
  REQUIRE(sync(chat.connect(12, alice)).added);
  auto bob = fake("bob", 1);   // likewise: he refuses alice's leave
  sync(chat.connect(12, bob)); // alice refuses bob's join, then bob refuses alice's leave
  CHECK(alice->closed());
  CHECK(bob->closed());
  CHECK(sync(chat.member_count(12)) == 0);
  CHECK(sync(chat.online_users(12)).empty());
  CHECK(sync(chat.group_count()) == 0);
}

TEST_CASE("a refused welcome leaves the member unregistered") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto bob = fake("bob");
  REQUIRE(sync(chat.connect(2, bob)).added);

  auto closed = fake("alice");
  closed->refuse();
  const auto result = sync(chat.connect(2, closed));
  CHECK_FALSE(result.added);
  CHECK(sync(chat.member_count(2)) == 1);
  CHECK(bob->presence("join").empty()); // nobody heard a join for a member never added
  sync(chat.broadcast(2, draft("bob", "1"), nullptr));
  CHECK(closed->offers_after_refusal() == 0);

  // Refused into an empty group: no empty group is left behind.
  auto lonely = fake("lonely");
  lonely->refuse();
  CHECK_FALSE(sync(chat.connect(3, lonely)).added);
  CHECK(sync(chat.group_count()) == 1);
}

TEST_CASE("a member that stops reading delays nobody and is removed when full") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto alice = fake("alice");
  auto bob = fake("bob");
  constexpr std::size_t k_room = 10;
  auto stuck = fake("stuck", k_room);
  for (const auto& member : {alice, stuck, bob})
    REQUIRE(sync(chat.connect(1, member)).added);

  constexpr MessageId k_messages = 100;
  for (MessageId i = 1; i <= k_messages; ++i)
    CHECK(sync(chat.broadcast(1, draft("alice", std::to_string(i)), nullptr))->id() == i);

  CHECK(alice->message_ids() == ids_from(1, k_messages));
  CHECK(bob->message_ids() == ids_from(1, k_messages));
  CHECK(stuck->frames().size() == k_room);
  CHECK(stuck->offers_after_refusal() == 0);
  CHECK(alice->presence("leave") == std::vector<std::string>{"stuck"});
  CHECK(sync(chat.member_count(1)) == 2);
}

TEST_CASE("every member sees one order under concurrent broadcasts from 4 threads") {
  asio::io_context io{4};
  ChatManager chat(io.get_executor());
  constexpr int k_senders = 16;
  constexpr int k_per_sender = 200;
  constexpr MessageId k_total = k_senders * k_per_sender;
  constexpr GroupId k_group = 11;

  std::vector<FakePtr> readers;
  for (int i = 0; i < 4; ++i)
    readers.push_back(fake("reader" + std::to_string(i)));
  auto stuck = fake("stuck", 50); // never drains: removed part-way, delaying nobody
  {
    Sync setup; // connect on another context: the manager works from any thread
    for (const auto& member : readers)
      REQUIRE(setup(chat.connect(k_group, member)).added);
    REQUIRE(setup(chat.connect(k_group, stuck)).added);
  }

  Completion senders;
  for (int s = 0; s < k_senders; ++s)
    asio::co_spawn(
        asio::make_strand(io),
        [&chat, s]() -> asio::awaitable<void> {
          for (int n = 0; n < k_per_sender; ++n)
            co_await chat.broadcast(k_group, draft("s" + std::to_string(s), std::to_string(n)),
                                    nullptr);
        },
        senders.handler());
  run_threads(io, 4);
  REQUIRE_MESSAGE(senders.finished == k_senders, "broadcasts did not finish: deadlock?");
  senders.rethrow();

  const auto reference = live_frames(*readers.front());
  CHECK(reference.size() == k_total + 1); // the messages and stuck's leave
  for (const auto& reader : readers) {
    CAPTURE(reader->user());
    const auto problem = contiguity_problem(reader->message_ids(), 1, k_total);
    CHECK_MESSAGE(problem.empty(), problem);

    // The very same frames (one payload each) in the very same order.
    CHECK(live_frames(*reader) == reference);

    std::map<std::string, int> next_from;
    bool in_order = true;
    for (const auto& object : reader->parsed()) {
      if (object.at("type") != "message") continue;
      const std::string from(object.at("from").as_string());
      in_order = in_order && std::to_string(next_from[from]++) == object.at("text").as_string();
    }
    CHECK(in_order);
    CHECK(reader->presence("leave") == std::vector<std::string>{"stuck"});
  }
  CHECK(stuck->frames().size() == 50);
  CHECK(stuck->offers_after_refusal() == 0);

  Sync after;
  CHECK(after(chat.member_count(k_group)) == readers.size());
  CHECK(after(chat.broadcast(k_group, draft("x", "last"), nullptr))->id() == k_total + 1);
}

TEST_CASE("a member connecting during broadcasts gets every message after its last_id") {
  asio::io_context io{4};
  ChatManager chat(io.get_executor());
  constexpr GroupId k_group = 5;
  constexpr int k_senders = 6;
  constexpr int k_per_sender = 150;
  constexpr MessageId k_total = k_senders * k_per_sender;
  constexpr int k_churners = 6;
  constexpr int k_visits = 20;

  auto alice = fake("alice");
  auto bob = fake("bob");
  {
    Sync setup;
    REQUIRE(setup(chat.connect(k_group, alice)).added);
    REQUIRE(setup(chat.connect(k_group, bob)).added);
  }

  struct Visit {
    FakePtr member;
    huddle::JoinResult joined;
    bool left = false;
  };
  std::mutex visits_mutex;
  std::vector<Visit> visits;

  Completion done;
  for (int s = 0; s < k_senders; ++s)
    asio::co_spawn(
        asio::make_strand(io),
        [&chat, s]() -> asio::awaitable<void> {
          for (int n = 0; n < k_per_sender; ++n)
            co_await chat.broadcast(k_group, draft("s" + std::to_string(s), "m"), nullptr);
        },
        done.handler());
  for (int c = 0; c < k_churners; ++c)
    asio::co_spawn(
        asio::make_strand(io),
        [&, c]() -> asio::awaitable<void> {
          for (int v = 0; v < k_visits; ++v) {
            auto member = fake("c" + std::to_string(c) + "-" + std::to_string(v));
            auto joined = co_await chat.connect(k_group, member);
            for (int i = 0; i < v % 4; ++i)
              co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            const bool left = co_await chat.disconnect(k_group, *member);
            std::lock_guard lock(visits_mutex);
            visits.push_back({member, std::move(joined), left});
          }
        },
        done.handler());
  run_threads(io, 4);
  REQUIRE_MESSAGE(done.finished == k_senders + k_churners, "did not finish: deadlock?");
  done.rethrow();
  REQUIRE(visits.size() == k_churners * k_visits);

  for (const auto& visit : visits) {
    CAPTURE(visit.member->user());
    CHECK(visit.joined.added);
    CHECK(visit.left);
    const auto objects = visit.member->parsed();
    REQUIRE(!objects.empty());
    CHECK(objects.front().at("type") == "welcome");
    CHECK(objects.front().at("last_id") == visit.joined.last_id);
    // No gap and no duplicate between its last_id and the live messages.
    const auto ids = visit.member->message_ids();
    const MessageId first = visit.joined.last_id + 1;
    const auto problem =
        contiguity_problem(ids, first, first + static_cast<MessageId>(ids.size()) - 1);
    CHECK_MESSAGE(problem.empty(), problem);
  }

  for (const auto& steady : {alice, bob}) {
    CAPTURE(steady->user());
    const auto problem = contiguity_problem(steady->message_ids(), 1, k_total);
    CHECK_MESSAGE(problem.empty(), problem);
    // Each visitor joined once and left once, in that order.
    std::map<std::string, std::string> presence;
    bool paired = true;
    for (const auto& object : steady->parsed()) {
      const auto& type = object.at("type");
      if (type != "join" && type != "leave") continue;
      const std::string user(object.at("user").as_string());
      if (user == "alice" || user == "bob") continue;
      auto& seen = presence[user];
      paired = paired && ((type == "join" && seen.empty()) || (type == "leave" && seen == "join"));
      seen = std::string(type.as_string());
    }
    CHECK(paired);
    CHECK(presence.size() == visits.size());
    CHECK(std::all_of(presence.begin(), presence.end(),
                      [](const auto& entry) { return entry.second == "leave"; }));
  }

  Sync after;
  CHECK(after(chat.member_count(k_group)) == 2);
  CHECK(after(chat.online_users(k_group)) == std::vector<std::string>{"alice", "bob"});
}

TEST_CASE("ids never repeat while groups are erased and recreated concurrently") {
  asio::io_context io{4};
  ChatManager chat(io.get_executor());
  constexpr int k_workers = 12;
  constexpr int k_rounds = 400;
  constexpr GroupId k_groups = 3;

  std::mutex ids_mutex;
  std::map<GroupId, std::vector<MessageId>> ids;
  std::atomic<int> missed_own{0};
  std::atomic<int> not_added{0};

  Completion done;
  for (int w = 0; w < k_workers; ++w)
    asio::co_spawn(
        asio::make_strand(io),
        [&, w]() -> asio::awaitable<void> {
          const GroupId group = 1 + w % k_groups;
          for (int r = 0; r < k_rounds; ++r) {
            auto member = fake("w" + std::to_string(w));
            if (!(co_await chat.connect(group, member)).added) ++not_added;
            const auto sent = co_await chat.broadcast(group, draft(member->user(), "m"), nullptr);
            co_await chat.disconnect(group, *member);
            const auto got = member->message_ids();
            if (std::find(got.begin(), got.end(), sent->id()) == got.end()) ++missed_own;
            std::lock_guard lock(ids_mutex);
            ids[group].push_back(sent->id());
          }
        },
        done.handler());
  run_threads(io, 4);
  REQUIRE_MESSAGE(done.finished == k_workers, "did not finish: deadlock?");
  done.rethrow();

  CHECK(not_added == 0);
  CHECK(missed_own == 0);
  Sync after;
  CHECK(after(chat.group_count()) == 0);
  for (GroupId group = 1; group <= k_groups; ++group) {
    CAPTURE(group);
    auto& group_ids = ids[group];
    std::sort(group_ids.begin(), group_ids.end());
    const MessageId count = k_workers / k_groups * k_rounds;
    const auto problem = contiguity_problem(group_ids, 1, count);
    CHECK_MESSAGE(problem.empty(), problem);
    CHECK(after(chat.broadcast(group, draft("x", "next"), nullptr))->id() == count + 1);
  }
}

TEST_CASE("a busy group does not hold up other groups") {
  // A member of group 1 whose offer blocks its thread (which a real member must never do)
  // until group 2 has been served: if group 2 waited for group 1's lock, the gate would
  // only open at its time limit, and the test fails.
  class GateMember final : public huddle::Member {
  public:
    bool offer(const Frame&) noexcept override {
      std::unique_lock lock(mutex_);
      entered_ = true;
      changed_.notify_all();
      opened_ = changed_.wait_for(lock, k_limit / 2, [this] { return open_; });
      return true;
    }
    const std::string& user() const noexcept override { return user_; }

    bool wait_entered() {
      std::unique_lock lock(mutex_);
      return changed_.wait_for(lock, k_limit / 2, [this] { return entered_; });
    }
    void open() {
      std::lock_guard lock(mutex_);
      open_ = true;
      changed_.notify_all();
    }
    bool opened() const {
      std::lock_guard lock(mutex_);
      return opened_;
    }
    void arm() {
      std::lock_guard lock(mutex_);
      entered_ = open_ = opened_ = false;
    }

  private:
    const std::string user_ = "gate";
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool entered_ = false, open_ = true, opened_ = false;
  };

  asio::io_context io{4};
  ChatManager chat(io.get_executor());
  auto gate = std::make_shared<GateMember>();
  auto other = fake("other");
  {
    Sync setup;
    REQUIRE(setup(chat.connect(1, gate)).added);
    REQUIRE(setup(chat.connect(2, other)).added);
  }
  gate->arm();

  Completion done;
  asio::co_spawn(io, chat.broadcast(1, draft("a", "held"), nullptr),
                 [&](std::exception_ptr e, huddle::MessagePtr) { done.handler()(e); });
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i)
    pool.emplace_back([&io] { io.run_for(k_limit); });

  const bool entered = gate->wait_entered();
  CHECK(entered);
  // Group 1's lock is held now; group 2 and a new group 3 must be served regardless.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await chat.broadcast(2, draft("b", "free"), nullptr);
        co_await chat.connect(3, fake("newcomer"));
        co_await chat.member_count(2);
        gate->open();
      },
      done.handler());
  for (auto& thread : pool)
    thread.join();
  gate->open(); // in case the check above failed

  CHECK(done.finished == 2);
  done.rethrow();
  CHECK(gate->opened());
  CHECK(other->message_ids() == std::vector<MessageId>{1});
}

namespace {

// Records what the manager appends; the test decides when messages become durable.
class FakeLog final : public huddle::MessageLog {
public:
  void append(const huddle::MessagePtr& message, std::function<void()> on_durable) override {
    std::lock_guard lock(mutex_);
    appended_[message->group()].push_back(message->id());
    if (on_durable) callbacks_.push_back(std::move(on_durable));
  }
  boost::asio::awaitable<MessageId> last_id(GroupId group) override {
    ++last_id_calls_;
    if (group == 666) throw std::runtime_error("the history cannot be read");
    co_return group == 5 ? 41 : 0;
  }
  std::string epoch() const override { return "fake-epoch"; }
  bool try_reserve() noexcept override { return accepting_; }
  void set_accepting(bool accepting) { accepting_ = accepting; }
  int last_id_calls() const { return last_id_calls_; }

  std::vector<MessageId> appended(GroupId group) {
    std::lock_guard lock(mutex_);
    return appended_[group];
  }
  // Makes everything appended so far durable.
  void commit() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mutex_);
      callbacks.swap(callbacks_);
    }
    for (auto& callback : callbacks)
      callback();
  }

private:
  std::mutex mutex_;
  std::map<GroupId, std::vector<MessageId>> appended_;
  std::vector<std::function<void()>> callbacks_;
  std::atomic<bool> accepting_{true};
  std::atomic<int> last_id_calls_{0};
};

} // namespace

TEST_CASE("a MessageLog sees each group's messages in id order; ids continue from it") {
  asio::io_context io{4};
  auto log = std::make_shared<FakeLog>();
  ChatManager chat(io.get_executor(), log);
  auto member = fake("reader");
  {
    Sync setup;
    const auto joined = setup(chat.connect(5, member));
    CHECK(joined.last_id == 41); // from the log's last_id()
  }
  Completion senders;
  for (int s = 0; s < 8; ++s)
    asio::co_spawn(
        asio::make_strand(io),
        [&chat, s]() -> asio::awaitable<void> {
          for (int n = 0; n < 100; ++n)
            co_await chat.broadcast(s % 2 == 0 ? 5 : 6, draft("s", std::to_string(n)), nullptr);
        },
        senders.handler());
  run_threads(io, 4);
  REQUIRE(senders.finished == 8);
  senders.rethrow();
  CHECK(log->appended(5) == ids_from(42, 441));
  CHECK(log->appended(6) == ids_from(1, 400));
  CHECK(member->message_ids() == ids_from(42, 441));
}

TEST_CASE("on_durable comes from the log, or right after the broadcast without one") {
  Sync sync;
  auto log = std::make_shared<FakeLog>();
  ChatManager logged(sync.executor(), log);
  std::vector<MessageId> durable;
  ChatManager::OnDurable record = [&](const huddle::MessagePtr& m) { durable.push_back(m->id()); };
  sync(logged.broadcast(9, draft("a", "x"), nullptr, record));
  sync(logged.broadcast(9, draft("a", "y"), nullptr, record));
  CHECK(durable.empty()); // not yet durable
  log->commit();
  CHECK(durable == std::vector<MessageId>{1, 2});

  ChatManager plain(sync.executor());
  durable.clear();
  sync(plain.broadcast(9, draft("a", "x"), nullptr, record));
  CHECK(durable == std::vector<MessageId>{1});
}

TEST_CASE("a log that is not accepting: the message is refused, nobody gets it, no id is used") {
  Sync sync;
  auto log = std::make_shared<FakeLog>();
  ChatManager chat(sync.executor(), log);
  auto member = fake("reader");
  sync(chat.connect(5, member));
  bool acked = false;
  ChatManager::OnDurable ack = [&](const huddle::MessagePtr&) { acked = true; };

  log->set_accepting(false);
  CHECK(sync(chat.broadcast(5, draft("a", "lost?"), nullptr, ack)) == nullptr);
  CHECK(sync(chat.broadcast(8, draft("a", "new group"), nullptr)) == nullptr);
  log->commit();
  CHECK_FALSE(acked);
  CHECK(log->appended(5).empty());
  CHECK(member->message_ids().empty());
  CHECK(sync(chat.group_count()) == 1); // the refused message made no group

  log->set_accepting(true);
  const auto sent = sync(chat.broadcast(5, draft("a", "stored"), nullptr, ack));
  REQUIRE(sent != nullptr);
  CHECK(sent->id() == 42);
  log->commit();
  CHECK(acked);
  CHECK(member->message_ids() == std::vector<MessageId>{42});
}

TEST_CASE("the welcome carries the log's epoch, or the manager's own without a log") {
  Sync sync;
  ChatManager logged(sync.executor(), std::make_shared<FakeLog>());
  CHECK(logged.epoch() == "fake-epoch");
  auto member = fake("reader");
  sync(logged.connect(5, member));
  CHECK(member->parsed().front().at("epoch") == "fake-epoch");

  ChatManager a(sync.executor());
  ChatManager b(sync.executor());
  CHECK(a.epoch().size() == 16);
  CHECK(a.epoch() != b.epoch());
}

TEST_CASE("a recreated group asks the log for its last id only once it is forgotten") {
  Sync sync;
  auto log = std::make_shared<FakeLog>();
  ChatManager chat(sync.executor(), log);
  auto member = fake("reader");
  sync(chat.connect(5, member));
  CHECK(log->last_id_calls() == 1);
  sync(chat.broadcast(5, draft("a", "x"), nullptr)); // id 42
  sync(chat.disconnect(5, *member));
  CHECK(sync(chat.group_count()) == 0);
  // Remembered in memory: the log is not asked, and the id continues.
  auto again = fake("again");
  CHECK(sync(chat.connect(5, again)).last_id == 42);
  CHECK(log->last_id_calls() == 1);
  sync(chat.disconnect(5, *again));
  // Thousands of other groups come and go: group 5 is forgotten, and asked for again (the
  // fake log answers 41: what a real log answers includes the 42 it was given).
  for (GroupId group = 1000; group < 1000 + 5000; ++group) {
    auto visitor = fake("visitor");
    sync(chat.connect(group, visitor));
    sync(chat.disconnect(group, *visitor));
  }
  const int calls = log->last_id_calls();
  auto late = fake("late");
  sync(chat.connect(5, late));
  CHECK(log->last_id_calls() == calls + 1);
}

TEST_CASE("without a log, forgotten groups continue above every id a forgotten group reached") {
  Sync sync;
  ChatManager chat(sync.executor());
  auto member = fake("reader");
  sync(chat.connect(7, member));
  for (int n = 0; n < 3; ++n)
    sync(chat.broadcast(7, draft("a", "x"), nullptr));
  sync(chat.disconnect(7, *member));
  for (GroupId group = 1000; group < 1000 + 5000; ++group) {
    auto visitor = fake("visitor");
    sync(chat.connect(group, visitor));
    sync(chat.disconnect(group, *visitor));
  }
  auto back = fake("back");
  const auto joined = sync(chat.connect(7, back));
  CHECK(joined.last_id >= 3); // never an id it handed out before
  const auto sent = sync(chat.broadcast(7, draft("a", "y"), nullptr));
  CHECK(sent->id() == joined.last_id + 1);
}

TEST_CASE("a log that cannot say a group's last id: the call fails, no lock stays held") {
  Sync sync;
  auto log = std::make_shared<FakeLog>();
  ChatManager chat(sync.executor(), log);
  CHECK_THROWS_AS(sync(chat.connect(666, fake("a"))), std::runtime_error);
  CHECK_THROWS_AS(sync(chat.broadcast(666, draft("a", "x"), nullptr)), std::runtime_error);
  CHECK(sync(chat.group_count()) == 0);
  auto member = fake("b");
  CHECK(sync(chat.connect(5, member)).added);
  CHECK(sync(chat.broadcast(5, draft("b", "y"), nullptr))->id() == 42);
}

// --- A manager whose ids come from elsewhere (ExternalSequence: one node of several) ---

namespace {

// Answers each group's position from a map; counts the questions.
class FakeSequence final : public huddle::ExternalSequence {
public:
  std::map<GroupId, MessageId> positions;
  int asked = 0;
  std::string current_epoch = "shared-epoch";

  asio::awaitable<MessageId> last_id(GroupId group) override {
    ++asked;
    co_return positions[group];
  }
  std::string epoch() const override { return current_epoch; }
};

huddle::MessagePtr numbered(GroupId group, MessageId id, std::string from = "remote") {
  return huddle::Message::make(group, id, draft(std::move(from), "m" + std::to_string(id)));
}

} // namespace

TEST_CASE("external sequence: ids come from deliver(), in order, with gaps reported") {
  Sync sync;
  auto sequence = std::make_shared<FakeSequence>();
  sequence->positions[3] = 10;
  ChatManager chat(sync.executor(), sequence);
  auto alice = fake("alice");
  const auto joined = sync(chat.connect(3, alice));
  CHECK(joined.last_id == 10);
  CHECK(alice->parsed().front().at("epoch") == "shared-epoch");

  using huddle::Delivery;
  CHECK(sync(chat.deliver(numbered(3, 11), nullptr)).outcome == Delivery::delivered);
  CHECK(sync(chat.deliver(numbered(3, 11), nullptr)).outcome == Delivery::stale); // a repeat
  CHECK(sync(chat.deliver(numbered(3, 9), nullptr)).outcome == Delivery::stale);
  const auto gap = sync(chat.deliver(numbered(3, 14), nullptr));
  CHECK(gap.outcome == Delivery::gap);
  CHECK(gap.last_id == 11); // the caller fills 12 and 13 first
  CHECK(sync(chat.deliver(numbered(3, 12), nullptr)).outcome == Delivery::delivered);
  CHECK(sync(chat.deliver(numbered(3, 13), nullptr)).outcome == Delivery::delivered);
  CHECK(sync(chat.deliver(numbered(3, 14), nullptr)).outcome == Delivery::delivered);
  // Ids gone for good (trimmed) are skipped on request only.
  CHECK(sync(chat.deliver(numbered(3, 20), nullptr, true)).outcome == Delivery::delivered);
  CHECK(alice->message_ids() == std::vector<MessageId>{11, 12, 13, 14, 20});
  CHECK(sync(chat.last_id(3)) == std::optional<MessageId>(20));
  CHECK(sync(chat.deliver(numbered(4, 1), nullptr)).outcome == Delivery::no_group);
  CHECK(sync(chat.last_id(4)) == std::nullopt);
  CHECK_THROWS_AS(sync(chat.broadcast(3, draft("a", "x"), nullptr)), std::logic_error);
}

TEST_CASE("external sequence: the sender is left out, presence is the caller's") {
  Sync sync;
  auto sequence = std::make_shared<FakeSequence>();
  ChatManager chat(sync.executor(), sequence);
  auto alice = fake("alice");
  auto bob = fake("bob");
  const std::vector<std::string> elsewhere{"carol", "dave"};
  const auto welcomed = sync(chat.connect(1, alice, &elsewhere));
  CHECK(welcomed.members == elsewhere); // the welcome names who the caller says is online
  sync(chat.connect(1, bob));
  CHECK(alice->types() == std::vector<std::string>{"welcome"}); // no join from the manager

  sync(chat.deliver(numbered(1, 1, "alice"), alice.get()));
  CHECK(alice->message_ids().empty());
  CHECK(bob->message_ids() == std::vector<MessageId>{1});

  // Presence frames come from the caller; the user they name is left out.
  CHECK(
      sync(chat.offer(1, huddle::make_frame(R"({"type":"join","group":1,"user":"bob"})"), "bob")));
  CHECK(alice->presence("join") == std::vector<std::string>{"bob"});
  CHECK(bob->presence("join").empty());
  sync(chat.disconnect(1, *bob));
  CHECK(alice->presence("leave").empty()); // no leave from the manager either
  CHECK_FALSE(sync(chat.offer(2, huddle::make_frame("{}"))));
}

TEST_CASE("external sequence: a group created again asks where the sequence is now") {
  Sync sync;
  auto sequence = std::make_shared<FakeSequence>();
  ChatManager chat(sync.executor(), sequence);
  auto member = fake("reader");
  sync(chat.connect(5, member));
  sync(chat.deliver(numbered(5, 1), nullptr));
  sync(chat.disconnect(5, *member));
  // Other nodes sent 1..30 meanwhile: the manager must not start from the 1 it remembers.
  sequence->positions[5] = 30;
  auto again = fake("again");
  CHECK(sync(chat.connect(5, again)).last_id == 30);
  CHECK(sequence->asked == 2);
  sequence->current_epoch = "after-a-loss";
  CHECK(chat.epoch() == "after-a-loss");
  // The sequence started again from nothing: its new ids are delivered, not taken for repeats.
  sync(chat.deliver(numbered(5, 31), nullptr));
  sync([&]() -> asio::awaitable<bool> {
    co_await chat.reset_positions();
    co_return true;
  }());
  CHECK(sync(chat.last_id(5)) == std::optional<MessageId>(0));
  CHECK(sync(chat.deliver(numbered(5, 1), nullptr)).outcome == huddle::Delivery::delivered);
  CHECK(again->message_ids() == std::vector<MessageId>{31, 1});
}
