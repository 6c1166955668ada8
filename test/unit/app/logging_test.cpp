// app/logging.cpp: the text and JSON lines of `huddle serve`, events written through
// boost_log_logger() to the sink init_logging() installs, on a stream of the test's own.
#include "app/logging.hpp"
#include "app/usage_error.hpp"
#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/log/core.hpp>
#include <boost/log/trivial.hpp>
#include <doctest/doctest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace huddle::app;
namespace json = boost::json;

namespace {

// What `huddle serve` gives the library as ServerConfig::logger.
const std::shared_ptr<huddle::Logger> k_log = boost_log_logger();

// The lines written while it lives; the logging is torn down with it, before the stream goes.
class Logged {
public:
  Logged(LogFormat format, const std::string& level = "info") { init_logging(level, format, out_); }
  ~Logged() {
    boost::log::core::get()->remove_all_sinks();
    boost::log::core::get()->reset_filter();
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }

private:
  std::ostringstream out_;
};

json::object parse_object(const std::string& line) {
  boost::system::error_code ec;
  json::value value = json::parse(line, ec);
  REQUIRE_MESSAGE(!ec, "not JSON: " << line);
  REQUIRE_MESSAGE(value.is_object(), "not an object: " << line);
  return value.as_object();
}

const std::regex k_timestamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

} // namespace

TEST_CASE("text: timestamp, level, event and fields on one line") {
  std::vector<std::string> lines;
  {
    Logged logged(LogFormat::text);
    HUDDLE_LOG(*k_log, info, "ws.closed",
               {{"group", 7}, {"user", "alice"}, {"code", 1000}, {"reason", "bye now"}});
    HUDDLE_LOG(*k_log, error, "history.commit_failed", {{"error", "disk\nfull"}});
    HUDDLE_LOG(*k_log, debug, "ws.replayed", {{"group", 7}}); // below --log-level
    lines = logged.lines();
  }
  REQUIRE(lines.size() == 2);
  std::smatch match;
  REQUIRE(std::regex_search(lines[0], match, k_timestamp));
  CHECK(match.position(0) == 0);
  CHECK(lines[0].substr(match.length(0)) ==
        R"( info    ws.closed group=7 user=alice code=1000 reason="bye now")");
  CHECK(lines[1].ends_with(R"( error   history.commit_failed error="disk\nfull")"));
}

TEST_CASE("json: one object per line with ts, level, event and the typed fields") {
  std::vector<std::string> lines;
  {
    Logged logged(LogFormat::json, "debug");
    HUDDLE_LOG(*k_log, info, "ws.closed",
               {{"group", 7},
                {"user", "alice"},
                {"code", std::uint16_t{1000}},
                {"reason", "bye"},
                {"written", true}});
    HUDDLE_LOG(*k_log, debug, "http.request",
               {{"method", "GET"}, {"target", "/ws/7?token=<redacted>"}, {"remote", "::1"}});
    HUDDLE_LOG(*k_log, info, "server.stopped");
    lines = logged.lines();
  }
  REQUIRE(lines.size() == 3);
  const json::object closed = parse_object(lines[0]);
  CHECK(std::regex_match(std::string(closed.at("ts").as_string()), k_timestamp));
  CHECK(closed.at("level") == "info");
  CHECK(closed.at("event") == "ws.closed");
  CHECK(closed.at("group") == 7);
  CHECK(closed.at("user") == "alice");
  CHECK(closed.at("code").to_number<int>() == 1000);
  CHECK(closed.at("reason") == "bye");
  CHECK(closed.at("written") == true);
  CHECK_FALSE(closed.contains("msg")); // the text form is not repeated
  CHECK(closed.size() == 8);

  const json::object request = parse_object(lines[1]);
  CHECK(request.at("level") == "debug");
  CHECK(request.at("target") == "/ws/7?token=<redacted>");
  CHECK(request.at("remote") == "::1");

  const json::object stopped = parse_object(lines[2]);
  CHECK(stopped.at("event") == "server.stopped");
  CHECK(stopped.size() == 3);
}

TEST_CASE("json: strings are escaped, and bytes that are not UTF-8 become U+FFFD") {
  std::vector<std::string> lines;
  const std::string hostile = "say \"hi\"\\ \n\r\t\x01 end";
  {
    Logged logged(LogFormat::json);
    HUDDLE_LOG(*k_log, warning, "login.failed", {{"user", hostile}, {"remote", "127.0.0.1"}});
    HUDDLE_LOG(*k_log, warning, "login.failed", {{"user", "bad \xff\xc3( utf8 \xe2\x82"}});
    HUDDLE_LOG(*k_log, warning, "login.failed", {{"user", "ok \xc3\xa9 \xf0\x9f\x98\x80"}});
    lines = logged.lines();
  }
  REQUIRE(lines.size() == 3); // the newline inside a value did not split a line
  const auto user = [&](std::size_t line) {
    return std::string(parse_object(lines[line]).at("user").as_string());
  };
  CHECK(user(0) == hostile);
  CHECK(user(1) == "bad \xef\xbf\xbd\xef\xbf\xbd( utf8 \xef\xbf\xbd\xef\xbf\xbd");
  CHECK(user(2) == "ok \xc3\xa9 \xf0\x9f\x98\x80");
}

TEST_CASE("json: a field cannot replace ts, level or event") {
  std::vector<std::string> lines;
  {
    Logged logged(LogFormat::json);
    HUDDLE_LOG(*k_log, info, "ws.closed", {{"event", "forged"}, {"level", "fatal"}, {"ts", 0}});
    lines = logged.lines();
  }
  REQUIRE(lines.size() == 1);
  const json::object line = parse_object(lines[0]);
  CHECK(line.at("event") == "ws.closed");
  CHECK(line.at("level") == "info");
  CHECK(line.at("ts").is_string());
}

TEST_CASE("a record that is not an event keeps its message: text as it is, JSON as msg") {
  std::vector<std::string> text, json_lines;
  {
    Logged logged(LogFormat::text);
    BOOST_LOG_TRIVIAL(warning) << "from an embedding app";
    text = logged.lines();
  }
  {
    Logged logged(LogFormat::json);
    BOOST_LOG_TRIVIAL(warning) << "from an \"embedding\" app";
    json_lines = logged.lines();
  }
  REQUIRE(text.size() == 1);
  CHECK(text[0].ends_with(" warning from an embedding app"));
  REQUIRE(json_lines.size() == 1);
  const json::object line = parse_object(json_lines[0]);
  CHECK(line.at("msg") == "from an \"embedding\" app");
  CHECK_FALSE(line.contains("event"));
}

TEST_CASE("a bad --log-level is a usage error naming it") {
  std::ostringstream out;
  CHECK_THROWS_WITH_AS(init_logging("loud", LogFormat::text, out), doctest::Contains("\"loud\""),
                       UsageError);
}
