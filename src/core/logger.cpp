#include <huddle/logger.hpp>

#include "core/log.hpp"

#include <charconv>
#include <cstdio>
#include <mutex>

namespace huddle {

namespace {

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

class StderrLogger final : public Logger {
public:
  explicit StderrLogger(LogLevel min_level) : min_level_(min_level) {}

  bool enabled(LogLevel level) const noexcept override { return level >= min_level_; }

  void write(LogLevel level, std::string_view event, std::span<const LogField> fields) override {
    std::string line(to_string(level));
    line += ' ';
    line += format_log_event(event, fields);
    line += '\n';
    // One fwrite per line, under a lock: lines from several threads never interleave.
    const std::lock_guard lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

private:
  const LogLevel min_level_;
  std::mutex mutex_;
};

class NullLogger final : public Logger {
public:
  bool enabled(LogLevel) const noexcept override { return false; }
  void write(LogLevel, std::string_view, std::span<const LogField>) override {}
};

} // namespace

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
  case LogLevel::trace:
    return "trace";
  case LogLevel::debug:
    return "debug";
  case LogLevel::info:
    return "info";
  case LogLevel::warning:
    return "warning";
  case LogLevel::error:
    return "error";
  case LogLevel::fatal:
    return "fatal";
  }
  return "unknown";
}

std::shared_ptr<Logger> make_stderr_logger(LogLevel min_level) {
  return std::make_shared<StderrLogger>(min_level);
}

std::shared_ptr<Logger> make_null_logger() {
  return std::make_shared<NullLogger>();
}

std::string format_log_event(std::string_view event, std::span<const LogField> fields) {
  std::string out(event);
  for (const LogField& field : fields) {
    out += ' ';
    out += field.name;
    out += '=';
    std::visit(
        [&out](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
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

std::shared_ptr<Logger> core::log::or_default(std::shared_ptr<Logger> logger) {
  return logger ? std::move(logger) : make_stderr_logger();
}

} // namespace huddle
