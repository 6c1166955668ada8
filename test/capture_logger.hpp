// CaptureLogger: a huddle::Logger that keeps every event it is given (level, name, and the
// fields as format_log_event renders them), for tests that check what a component logs and
// that it logs to the logger it was given. Thread-safe, as a Logger must be.
#pragma once

#include <huddle/logger.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace huddle::test {

class CaptureLogger final : public Logger {
public:
  struct Event {
    LogLevel level;
    std::string name;
    std::string line; // format_log_event(name, fields)
  };

  explicit CaptureLogger(LogLevel min_level = LogLevel::trace) : min_level_(min_level) {}

  bool enabled(LogLevel level) const noexcept override { return level >= min_level_; }

  void write(LogLevel level, std::string_view event, std::span<const LogField> fields) override {
    const std::lock_guard lock(mutex_);
    events_.push_back({level, std::string(event), format_log_event(event, fields)});
  }

  std::vector<Event> events() const {
    const std::lock_guard lock(mutex_);
    return events_;
  }

  // The lines of the events named `name`, in order.
  std::vector<std::string> lines(std::string_view name) const {
    std::vector<std::string> found;
    for (const Event& event : events())
      if (event.name == name) found.push_back(event.line);
    return found;
  }

private:
  const LogLevel min_level_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
};

} // namespace huddle::test
