#include "app/logging.hpp"

#include "app/usage_error.hpp"
#include <boost/core/null_deleter.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/log/attributes/attribute_value_impl.hpp>
#include <boost/log/attributes/value_extraction.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/trivial.hpp>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <variant>
#include <vector>

namespace huddle::app {

namespace logging = boost::log;
namespace json = boost::json;
using logging::trivial::severity_level;

namespace {

// A field as a record keeps it, past the event's write(): its text copied.
struct OwnedField {
  std::string_view name; // a string literal at the event's call site
  std::variant<std::int64_t, std::uint64_t, double, bool, std::string> value;
};
using OwnedFields = std::vector<OwnedField>;

class BoostLogLogger final : public Logger {
public:
  bool enabled(LogLevel level) const noexcept override {
    try {
      return static_cast<bool>(open(level));
    } catch (...) {
      return false;
    }
  }

  void write(LogLevel level, std::string_view event, std::span<const LogField> fields) override {
    logging::record record = open(level);
    if (!record) return;
    OwnedFields owned;
    owned.reserve(fields.size());
    for (const LogField& field : fields)
      owned.push_back({field.name, std::visit(
                                       [](const auto& value) -> decltype(OwnedField::value) {
                                         using T = std::decay_t<decltype(value)>;
                                         if constexpr (std::is_same_v<T, std::string_view>)
                                           return std::string(value);
                                         else
                                           return value;
                                       },
                                       field.value)});
    {
      logging::record_ostream message(record);
      message << format_log_event(event, fields);
    }
    auto& values = record.attribute_values();
    values.insert("Event", logging::attributes::make_attribute_value(std::string(event)));
    values.insert("Fields", logging::attributes::make_attribute_value(std::move(owned)));
    logging::trivial::logger::get().push_record(std::move(record));
  }

private:
  // Through boost::log::trivial's logger, so the records keep its Severity attribute and the
  // filters and sinks set for BOOST_LOG_TRIVIAL apply unchanged.
  static logging::record open(LogLevel level) {
    return logging::trivial::logger::get().open_record(
        logging::keywords::severity = static_cast<severity_level>(static_cast<int>(level)));
  }
};

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

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629 §4), or 0.
std::size_t utf8_sequence(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto in = [&](std::size_t i, unsigned lo, unsigned hi) {
    return i < text.size() && byte(i) >= lo && byte(i) <= hi;
  };
  const unsigned lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return in(1, 0x80, 0xbf) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const unsigned lo = lead == 0xe0 ? 0xa0 : 0x80, hi = lead == 0xed ? 0x9f : 0xbf;
    return in(1, lo, hi) && in(2, 0x80, 0xbf) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const unsigned lo = lead == 0xf0 ? 0x90 : 0x80, hi = lead == 0xf4 ? 0x8f : 0xbf;
    return in(1, lo, hi) && in(2, 0x80, 0xbf) && in(3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

// Boost.JSON escapes quotes and control characters but passes other bytes through: a
// request target or an error text may hold bytes that are not UTF-8, which would make the
// line unreadable to a JSON parser. Each such byte becomes U+FFFD.
json::string utf8_string(std::string_view text) {
  json::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t length = utf8_sequence(text);
    if (length == 0) {
      out.append("\xef\xbf\xbd");
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, length));
      text.remove_prefix(length);
    }
  }
  return out;
}

json::value to_json(const decltype(OwnedField::value)& value) {
  return std::visit(
      [](const auto& v) -> json::value {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
          return utf8_string(v);
        else
          return v;
      },
      value);
}

void format_json(const logging::record_view& record, logging::formatting_ostream& out) {
  const auto level =
      logging::extract_or_default<severity_level>("Severity", record, severity_level::info);
  json::object line;
  line["ts"] = utc_timestamp();
  line["level"] = logging::trivial::to_string(level);
  if (const auto event = logging::extract<std::string>("Event", record)) {
    line["event"] = utf8_string(*event);
    // The fields follow the three above and cannot replace them (emplace keeps the first).
    if (const auto fields = logging::extract<OwnedFields>("Fields", record))
      for (const OwnedField& field : *fields)
        line.emplace(field.name, to_json(field.value));
  } else {
    const auto message = record[logging::expressions::smessage];
    line["msg"] = utf8_string(message ? std::string_view(*message) : std::string_view());
  }
  out << json::serialize(line);
}

} // namespace

void init_logging(const std::string& level, LogFormat format, std::ostream& out) {
  const severity_level threshold = parse_level(level);
  using Sink = logging::sinks::synchronous_sink<logging::sinks::text_ostream_backend>;
  auto sink = boost::make_shared<Sink>();
  sink->locked_backend()->add_stream(boost::shared_ptr<std::ostream>(&out, boost::null_deleter()));
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

std::shared_ptr<Logger> boost_log_logger() {
  return std::make_shared<BoostLogLogger>();
}

} // namespace huddle::app
