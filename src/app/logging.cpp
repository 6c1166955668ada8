#include "app/logging.hpp"

#include <boost/core/null_deleter.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/trivial.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>

#include "app/usage_error.hpp"
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>

namespace huddle::app {

namespace logging = boost::log;
using logging::trivial::severity_level;

namespace {

severity_level parse_level(const std::string& level) {
  severity_level parsed{};
  if (!logging::trivial::from_string(level.data(), level.size(), parsed))
    throw UsageError("--log-level must be trace, debug, info, warning, error or fatal, got \"" +
                     level + "\"");
  return parsed;
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(ms.count()));
  return text;
}

void format_text(const logging::record_view& record, logging::formatting_ostream& out) {
  out << utc_timestamp() << ' ' << std::left << std::setw(7)
      << logging::extract_or_default<severity_level>("Severity", record, severity_level::info)
      << ' ' << record[logging::expressions::smessage];
}

void format_json(const logging::record_view& record, logging::formatting_ostream& out) {
  const auto level =
      logging::extract_or_default<severity_level>("Severity", record, severity_level::info);
  const auto message = record[logging::expressions::smessage];
  out << boost::json::serialize(
      boost::json::object{{"ts", utc_timestamp()},
                          {"level", logging::trivial::to_string(level)},
                          {"msg", message ? std::string(*message) : std::string()}});
}

} // namespace

void init_logging(const std::string& level, LogFormat format) {
  const severity_level threshold = parse_level(level);
  using Sink = logging::sinks::synchronous_sink<logging::sinks::text_ostream_backend>;
  auto sink = boost::make_shared<Sink>();
  sink->locked_backend()->add_stream(
      boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()));
  sink->locked_backend()->auto_flush(true);
  if (format == LogFormat::json)
    sink->set_formatter(&format_json);
  else
    sink->set_formatter(&format_text);
  auto core = logging::core::get();
  core->remove_all_sinks();
  core->add_sink(sink);
  core->set_filter(logging::trivial::severity >= threshold);
}

} // namespace huddle::app
