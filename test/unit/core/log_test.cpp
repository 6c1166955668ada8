// include/huddle/logger.hpp and core/log.hpp: the text rendering (quoting and escaping), that
// HUDDLE_LOG hands the logger it is given the event and its typed fields, and that it builds
// no field for a level the logger does not want.
#include "core/log.hpp"

#include "capture_logger.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

using huddle::LogField;
using huddle::LogLevel;
using huddle::test::CaptureLogger;

namespace {

std::string render(std::string_view event, std::initializer_list<LogField> fields) {
  return huddle::format_log_event(event, std::span<const LogField>(fields.begin(), fields.size()));
}

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
  CHECK(render("ws.closed", {{"group", std::int64_t{7}},
                             {"user", "alice"},
                             {"code", std::uint16_t{1000}},
                             {"written", true},
                             {"ratio", 0.5},
                             {"delta", -3}}) ==
        "ws.closed group=7 user=alice code=1000 written=true ratio=0.5 delta=-3");
  CHECK(render("server.stopped", {}) == "server.stopped");
}

TEST_CASE("text: a string that is not one plain word is quoted and escaped") {
  const auto one = [](const std::string& value) { return render("e", {{"v", value}}); };
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

TEST_CASE("HUDDLE_LOG writes the event and its typed fields to the logger it is given") {
  CaptureLogger log;
  CaptureLogger other;
  const std::string user = "alice";
  const std::uint16_t code = 1000;
  HUDDLE_LOG(log, info, "ws.closed",
             {{"group", std::int64_t{7}}, {"user", user}, {"code", code}, {"reason", "bye"}});
  HUDDLE_LOG(log, warning, "server.stopped");
  const auto events = log.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].level == LogLevel::info);
  CHECK(events[0].name == "ws.closed");
  CHECK(events[0].line == "ws.closed group=7 user=alice code=1000 reason=bye");
  CHECK(events[1].level == LogLevel::warning);
  CHECK(events[1].line == "server.stopped");
  CHECK(other.events().empty());
}

TEST_CASE("an event below the logger's level builds none of its fields") {
  CaptureLogger log(LogLevel::info);
  int built = 0;
  HUDDLE_LOG(log, debug, "ws.replayed", {{"user", std::string(Costly{&built})}});
  CHECK(built == 0);
  CHECK(log.events().empty());
  HUDDLE_LOG(log, info, "ws.replayed", {{"user", std::string(Costly{&built})}});
  CHECK(built == 1);
  CHECK(log.events().size() == 1);
}

TEST_CASE("the library's own loggers: the null one wants nothing, the default wants warnings") {
  const auto null = huddle::make_null_logger();
  for (const auto level : {LogLevel::trace, LogLevel::info, LogLevel::fatal})
    CHECK_FALSE(null->enabled(level));
  const auto fallback = huddle::core::log::or_default(nullptr);
  REQUIRE(fallback);
  CHECK_FALSE(fallback->enabled(LogLevel::info));
  CHECK(fallback->enabled(LogLevel::warning));
  CHECK(huddle::core::log::or_default(null) == null); // a given logger is kept
  CHECK(huddle::to_string(LogLevel::warning) == "warning");
  CHECK(huddle::to_string(LogLevel::fatal) == "fatal");
}
