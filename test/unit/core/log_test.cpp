// core/log.hpp: the text rendering (quoting and escaping), and that HUDDLE_LOG hands records
// to Boost.Log with their event and typed fields, and builds no field for a filtered record.
#include "core/log.hpp"

#include <boost/log/attributes/value_extraction.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/trivial.hpp>
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hlog = huddle::core::log;
using hlog::Field;
using hlog::Fields;

namespace {

// The records written while it lives, through a Boost.Log sink of the test's own.
class Capture {
public:
  struct Record {
    boost::log::trivial::severity_level severity;
    std::string message;
    std::string event;
    Fields fields;
  };

  Capture() {
    sink_ = boost::make_shared<Sink>(boost::make_shared<Backend>(records_));
    boost::log::core::get()->add_sink(sink_);
    boost::log::core::get()->set_filter(boost::log::trivial::severity >= boost::log::trivial::info);
  }
  ~Capture() {
    boost::log::core::get()->remove_sink(sink_);
    boost::log::core::get()->reset_filter();
  }
  const std::vector<Record>& records() const { return records_; }

private:
  struct Backend : boost::log::sinks::basic_sink_backend<boost::log::sinks::synchronized_feeding> {
    explicit Backend(std::vector<Record>& records) : records(records) {}
    void consume(const boost::log::record_view& record) {
      const auto severity = record[boost::log::trivial::severity];
      const auto message = record[boost::log::expressions::smessage];
      const auto event = boost::log::extract<std::string>("Event", record);
      const auto fields = boost::log::extract<Fields>("Fields", record);
      records.push_back({severity ? *severity : boost::log::trivial::trace,
                         message ? *message : std::string(), event ? *event : std::string(),
                         fields ? *fields : Fields()});
    }
    std::vector<Record>& records;
  };
  using Sink = boost::log::sinks::synchronous_sink<Backend>;

  std::vector<Record> records_;
  boost::shared_ptr<Sink> sink_;
};

// Counts its conversions to a string: what a field costs to build.
struct Costly {
  int* built;
  operator std::string() const {
    ++*built;
    return "built";
  }
};

} // namespace

TEST_CASE("text: numbers and plain words bare, in the order given") {
  const Fields fields{{"group", std::int64_t{7}},
                      {"user", std::string("alice")},
                      {"code", std::uint64_t{1000}},
                      {"written", true},
                      {"ratio", 0.5},
                      {"delta", std::int64_t{-3}}};
  CHECK(hlog::render_text("ws.closed", fields) ==
        "ws.closed group=7 user=alice code=1000 written=true ratio=0.5 delta=-3");
  CHECK(hlog::render_text("server.stopped", {}) == "server.stopped");
}

TEST_CASE("text: a string that is not one plain word is quoted and escaped") {
  const auto one = [](std::string value) {
    return hlog::render_text("e", Fields{{"v", std::move(value)}});
  };
  CHECK(one("") == R"(e v="")");
  CHECK(one("slow consumer") == R"(e v="slow consumer")");
  CHECK(one("a=b") == R"(e v="a=b")");
  CHECK(one(R"(say "hi")") == R"(e v="say \"hi\"")");
  CHECK(one(R"(C:\dir)") == R"(e v="C:\\dir")");
  // A value cannot end the line and fake a record or a field of its own.
  CHECK(one("bye\nfake.event user=root") == R"(e v="bye\nfake.event user=root")");
  CHECK(one("tab\there\r") == R"(e v="tab\there\r")");
  CHECK(one(std::string("nul\0bell\a", 9)) == R"(e v="nul\u0000bell\u0007")");
  CHECK(one("\x7f") == R"(e v="\u007f")");
  CHECK(one("/ws/7?since=0") == R"(e v="/ws/7?since=0")");
  CHECK(one("ünïcode") == "e v=ünïcode"); // UTF-8 passes as it is
}

TEST_CASE("HUDDLE_LOG writes the event, the typed fields and the text as the message") {
  Capture capture;
  const std::string user = "alice";
  const std::uint16_t code = 1000;
  HUDDLE_LOG(info, "ws.closed",
             {{"group", std::int64_t{7}}, {"user", user}, {"code", code}, {"reason", "bye"}});
  HUDDLE_LOG(warning, "server.stopped");
  REQUIRE(capture.records().size() == 2);
  const auto& closed = capture.records()[0];
  CHECK(closed.severity == boost::log::trivial::info);
  CHECK(closed.event == "ws.closed");
  CHECK(closed.message == "ws.closed group=7 user=alice code=1000 reason=bye");
  REQUIRE(closed.fields.size() == 4);
  CHECK(closed.fields[0].name == "group");
  CHECK(std::get<std::int64_t>(closed.fields[0].value) == 7);
  CHECK(std::get<std::string>(closed.fields[1].value) == "alice");
  CHECK(std::get<std::uint64_t>(closed.fields[2].value) == 1000);
  CHECK(std::get<std::string>(closed.fields[3].value) == "bye");
  CHECK(capture.records()[1].severity == boost::log::trivial::warning);
  CHECK(capture.records()[1].fields.empty());
}

TEST_CASE("a filtered-out record builds none of its fields") {
  Capture capture; // info and above
  int built = 0;
  HUDDLE_LOG(debug, "ws.replayed", {{"user", std::string(Costly{&built})}});
  CHECK(built == 0);
  CHECK(capture.records().empty());
  HUDDLE_LOG(info, "ws.replayed", {{"user", std::string(Costly{&built})}});
  CHECK(built == 1);
  CHECK(capture.records().size() == 1);
  CHECK_FALSE(hlog::enabled(hlog::Level::debug));
  CHECK(hlog::enabled(hlog::Level::error));
}

TEST_CASE("a level computed at run time goes through enabled() and write()") {
  Capture capture;
  for (const auto level : {hlog::Level::debug, hlog::Level::error})
    if (hlog::enabled(level)) hlog::write(level, "redis.connect_failed", {{"retry_ms", 100}});
  REQUIRE(capture.records().size() == 1);
  CHECK(capture.records()[0].severity == boost::log::trivial::error);
  CHECK(capture.records()[0].message == "redis.connect_failed retry_ms=100");
}
