#include "core/log.hpp"

#include <boost/log/attributes/attribute_value_impl.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/trivial.hpp>

#include <charconv>
#include <cstdio>

namespace huddle::core::log {

namespace {

namespace blog = boost::log;

blog::trivial::severity_level severity(Level level) {
  return static_cast<blog::trivial::severity_level>(static_cast<int>(level));
}

// Opens a record through boost::log::trivial's logger, so the records keep its Severity
// attribute and the filters and sinks an app set for BOOST_LOG_TRIVIAL apply unchanged.
blog::record open(Level level) {
  return blog::trivial::logger::get().open_record(blog::keywords::severity = severity(level));
}

// A bare word reads back unambiguously: no quote, no '=', no space or control character.
bool needs_quotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
        out += escaped;
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

template <typename Number> void append_number(std::string& out, Number value) {
  char digits[32];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

} // namespace

Field FieldArg::to_field() const {
  return std::visit(
      [this](const auto& value) -> Field {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string_view>)
          return {name_, std::string(value)};
        else
          return {name_, value};
      },
      value_);
}

bool enabled(Level level) {
  return static_cast<bool>(open(level));
}

void write(Level level, std::string_view event, std::initializer_list<FieldArg> fields) {
  blog::record record = open(level);
  if (!record) return;
  Fields owned;
  owned.reserve(fields.size());
  for (const FieldArg& field : fields)
    owned.push_back(field.to_field());
  {
    blog::record_ostream message(record);
    message << render_text(event, owned);
  }
  auto& values = record.attribute_values();
  values.insert("Event", blog::attributes::make_attribute_value(std::string(event)));
  values.insert("Fields", blog::attributes::make_attribute_value(std::move(owned)));
  blog::trivial::logger::get().push_record(std::move(record));
}

std::string render_text(std::string_view event, const Fields& fields) {
  std::string out(event);
  for (const Field& field : fields) {
    out += ' ';
    out += field.name;
    out += '=';
    std::visit(
        [&out](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::string>) {
            if (needs_quotes(value))
              append_quoted(out, value);
            else
              out += value;
          } else if constexpr (std::is_same_v<T, bool>) {
            out += value ? "true" : "false";
          } else {
            append_number(out, value);
          }
        },
        field.value);
  }
  return out;
}

} // namespace huddle::core::log
