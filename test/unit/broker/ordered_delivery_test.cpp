// Unit tests of OrderedDelivery (src/broker/ordered_delivery.cpp): a ChatManager on a fake
// ExternalSequence, a group's history as a map in memory, messages arriving out of order, lost,
// repeated: members see every id once, in order, and holes are filled before later ids.
#include "broker/ordered_delivery.hpp"
#include "capture_logger.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace {

namespace asio = boost::asio;
using namespace huddle;
using broker::OrderedDelivery;
using broker::Published;

class Sequence final : public ExternalSequence {
public:
  MessageId position = 0;
  asio::awaitable<MessageId> last_id(GroupId) override { co_return position; }
  std::string epoch() const override { return "e"; }
};

class Recorder final : public Member {
public:
  bool offer(const Frame& frame) noexcept override {
    std::lock_guard lock(mutex_);
    auto object = boost::json::parse(*frame).as_object();
    if (object.at("type") == "message") ids_.push_back(object.at("id").as_int64());
    return true;
  }
  const std::string& user() const noexcept override { return user_; }
  std::vector<MessageId> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }

private:
  std::string user_ = "reader";
  mutable std::mutex mutex_;
  std::vector<MessageId> ids_;
};

MessagePtr message(MessageId id) {
  return Message::make(1, id, MessageDraft{"w", "m" + std::to_string(id), 1});
}

std::vector<MessageId> range(MessageId first, MessageId last) {
  std::vector<MessageId> ids;
  for (MessageId id = first; id <= last; ++id)
    ids.push_back(id);
  return ids;
}

// One group's history in memory, and a delivery on top of a real ChatManager.
struct Fixture {
  asio::io_context io;
  std::shared_ptr<Sequence> sequence = std::make_shared<Sequence>();
  std::shared_ptr<test::CaptureLogger> log = std::make_shared<test::CaptureLogger>();
  ChatManager chat{io.get_executor(), sequence, log};
  std::map<MessageId, MessagePtr> stream;
  std::vector<std::pair<MessageId, MessageId>> fetches; // (after, upto) asked
  bool history_down = false;
  std::shared_ptr<Recorder> reader = std::make_shared<Recorder>();

  OrderedDelivery delivery{chat,
                           [this](GroupId, MessageId after, MessageId upto,
                                  std::size_t limit) -> asio::awaitable<std::vector<Published>> {
                             fetches.emplace_back(after, upto);
                             if (history_down) throw std::runtime_error("history down");
                             std::vector<Published> page;
                             for (auto it = stream.upper_bound(after);
                                  it != stream.end() && it->first <= upto && page.size() < limit;
                                  ++it)
                               page.push_back({it->second, ""});
                             co_return page;
                           },
                           [this](Published published, bool skip_gap) -> asio::awaitable<void> {
                             co_await chat.deliver(std::move(published.message), nullptr, skip_gap);
                           },
                           *log};

  void store(MessageId first, MessageId last) {
    for (MessageId id = first; id <= last; ++id)
      stream[id] = message(id);
  }
  template <typename T> void run(asio::awaitable<T> task) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, auto...) {
      done = true;
      error = e;
    });
    io.restart();
    io.run();
    REQUIRE(done);
    if (error) std::rethrow_exception(error);
  }
  void arrive(MessageId id) {
    run(delivery.arrived({stream.count(id) ? stream[id] : message(id), ""}));
  }
};

} // namespace

TEST_CASE("messages that arrive in order are delivered as they come, repeats dropped") {
  Fixture f;
  f.run(f.chat.connect(1, f.reader));
  f.store(1, 3);
  f.arrive(1);
  f.arrive(2);
  f.arrive(2);
  f.arrive(1);
  f.arrive(3);
  CHECK(f.reader->ids() == range(1, 3));
  CHECK(f.fetches.empty()); // no hole, no read
}

TEST_CASE("a hole is filled from the history before the later message") {
  Fixture f;
  f.run(f.chat.connect(1, f.reader));
  f.store(1, 10);
  f.arrive(1);
  f.arrive(5); // 2..4 were published while the channel was away
  CHECK(f.reader->ids() == range(1, 5));
  CHECK(f.fetches == std::vector<std::pair<MessageId, MessageId>>{{1, 4}});
  f.arrive(3); // the lost ones arriving late are repeats
  f.arrive(6);
  CHECK(f.reader->ids() == range(1, 6));
}

TEST_CASE("catch_up delivers what was published after the last message here, in pages") {
  Fixture f;
  f.sequence->position = 100;
  f.run(f.chat.connect(1, f.reader));
  const MessageId last = 100 + 2 * OrderedDelivery::k_page + 7;
  f.store(1, last);
  f.run(f.delivery.catch_up(1, last));
  CHECK(f.reader->ids() == range(101, last));
  CHECK(f.fetches.size() == 3);
  f.run(f.delivery.catch_up(1, last)); // nothing new: nothing read
  CHECK(f.fetches.size() == 3);
}

TEST_CASE("ids the history no longer has are skipped, as for everyone") {
  Fixture f;
  f.run(f.chat.connect(1, f.reader));
  f.store(1, 1);
  f.arrive(1);
  f.store(50, 60); // 2..49 trimmed by retention before this node could deliver them
  f.arrive(55);
  CHECK(f.reader->ids() == std::vector<MessageId>{1, 50, 51, 52, 53, 54, 55});
  f.stream.clear();
  CHECK(f.log->lines("broker.ids_trimmed").empty()); // 50..54 were read: nothing lost here
  f.arrive(70);                                      // all of 56..69 gone
  CHECK(f.reader->ids().back() == 70);
  // Said once, to the logger the delivery was given.
  CHECK(f.log->lines("broker.ids_trimmed") ==
        std::vector<std::string>{"broker.ids_trimmed group=1 first_id=56 last_id=69"});
}

TEST_CASE("a history that cannot be read leaves the hole for the next catch_up") {
  Fixture f;
  f.run(f.chat.connect(1, f.reader));
  f.store(1, 8);
  f.arrive(1);
  f.history_down = true;
  CHECK_THROWS(f.arrive(4)); // not delivered over the hole
  CHECK(f.reader->ids() == range(1, 1));
  f.history_down = false;
  f.run(f.delivery.catch_up(1, 8));
  CHECK(f.reader->ids() == range(1, 8));
}

TEST_CASE("a group nobody here is in costs no read") {
  Fixture f;
  f.store(1, 5);
  f.arrive(5);
  f.run(f.delivery.catch_up(1, 5));
  CHECK(f.fetches.empty());
}
