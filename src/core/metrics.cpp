#include "core/metrics.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace huddle::core {

namespace detail {

std::size_t counter_shard() noexcept {
  static std::atomic<std::size_t> next{0};
  constexpr std::size_t unassigned = SIZE_MAX;
  thread_local std::size_t shard = unassigned; // constant-initialised: no guard per call
  if (shard == unassigned) shard = next.fetch_add(1, std::memory_order_relaxed) % k_counter_shards;
  return shard;
}

} // namespace detail

Histogram::Histogram(std::span<const std::uint64_t> bounds)
    : bounds_(bounds.begin(), bounds.end()), counts_(bounds.size() + 1) {
  for (std::size_t i = 1; i < bounds_.size(); ++i)
    if (bounds_[i] <= bounds_[i - 1])
      throw std::invalid_argument("Histogram: bucket bounds must increase");
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative.reserve(counts_.size());
  std::uint64_t total = 0;
  for (const auto& count : counts_) {
    total += count.load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::string escape_label_value(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      escaped += "\\\\";
    else if (c == '"')
      escaped += "\\\"";
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return escaped;
}

namespace {

// HELP text escapes backslash and newline only (the format's rule).
std::string escape_help(std::string_view help) {
  std::string escaped;
  escaped.reserve(help.size());
  for (const char c : help) {
    if (c == '\\')
      escaped += "\\\\";
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return escaped;
}

std::string_view type_name(MetricType type) {
  switch (type) {
  case MetricType::counter:
    return "counter";
  case MetricType::gauge:
    return "gauge";
  case MetricType::histogram:
    return "histogram";
  }
  return "untyped";
}

} // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

void Exposition::family(std::string_view name, MetricType type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += escape_help(help);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void Exposition::sample_prefix(std::string_view name, std::initializer_list<Label> labels,
                               std::string_view le) {
  text_ += name;
  if (labels.size() == 0 && le.empty()) return;
  text_ += '{';
  bool first = true;
  for (const Label& label : labels) {
    if (!first) text_ += ',';
    first = false;
    text_ += label.name;
    text_ += "=\"";
    text_ += escape_label_value(label.value);
    text_ += '"';
  }
  if (!le.empty()) {
    if (!first) text_ += ',';
    text_ += "le=\"";
    text_ += le;
    text_ += '"';
  }
  text_ += '}';
}

void Exposition::sample(std::string_view name, double value, std::initializer_list<Label> labels) {
  sample_prefix(name, labels);
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void Exposition::sample(std::string_view name, std::uint64_t value,
                        std::initializer_list<Label> labels) {
  sample_prefix(name, labels);
  text_ += ' ';
  text_ += std::to_string(value); // exact, where a double would round above 2^53
  text_ += '\n';
}

void Exposition::counter(std::string_view name, std::string_view help, std::uint64_t value) {
  family(name, MetricType::counter, help);
  sample(name, value);
}

void Exposition::gauge(std::string_view name, std::string_view help, double value) {
  family(name, MetricType::gauge, help);
  sample(name, value);
}

void Exposition::histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                           double units_per_base) {
  const Histogram::Snapshot snapshot = histogram.snapshot();
  family(name, MetricType::histogram, help);
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i <= snapshot.bounds.size(); ++i) {
    const std::string le =
        i < snapshot.bounds.size()
            ? format_value(static_cast<double>(snapshot.bounds[i]) / units_per_base)
            : "+Inf";
    sample_prefix(bucket, {}, le);
    text_ += ' ';
    text_ += std::to_string(snapshot.cumulative[i]);
    text_ += '\n';
  }
  sample(std::string(name) + "_sum", static_cast<double>(snapshot.sum) / units_per_base);
  // The +Inf bucket's count, from the same read: _count always equals it.
  sample(std::string(name) + "_count", snapshot.cumulative.back());
}

} // namespace huddle::core
