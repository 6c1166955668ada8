#include "core/option_values.hpp"

#include <boost/program_options/value_semantic.hpp>

#include <cstdio>

namespace huddle::core {

namespace po = boost::program_options;

void validate(boost::any& value, const std::vector<std::string>& tokens, Duration*, int) {
  const std::string& token = po::validators::get_single_string(tokens);
  const auto duration = parse_duration(token);
  if (!duration)
    throw invalid_value("must be a duration like 250ms, 1.5s, 5m or 1h (whole milliseconds, at "
                        "most " +
                        to_string(k_max_duration) + "), got \"" + token + "\"");
  value = *duration;
}

void validate(boost::any& value, const std::vector<std::string>& tokens, ByteSize*, int) {
  const std::string& token = po::validators::get_single_string(tokens);
  const auto size = parse_byte_size(token);
  if (!size) throw invalid_value("must be a size like 65536, 64KiB or 1MiB, got \"" + token + "\"");
  value = *size;
}

po::error_with_option_name invalid_value(const std::string& what) {
  return po::error_with_option_name("%canonical_option% " + what);
}

std::string to_text(double number) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", number);
  return text;
}

BoundedValue<Duration>* duration_value(double* seconds, Duration min, Duration max) {
  auto* value = new BoundedValue<Duration>(nullptr, min, max);
  const Duration current{
      std::chrono::round<std::chrono::milliseconds>(std::chrono::duration<double>(*seconds))};
  value->default_value(current, to_text(current));
  value->notifier([seconds](const Duration& duration) {
    *seconds = std::chrono::duration<double>(duration.value).count();
  });
  return value;
}

namespace detail {

std::string list_names(const std::vector<std::string_view>& names) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) list += i + 1 == names.size() ? " or " : ", ";
    list += names[i];
  }
  return list;
}

std::string describe_range(std::string_view kind, std::string_view examples, const std::string* min,
                           const std::string* max) {
  std::string text(kind);
  if (min && max)
    text += " from " + *min + " to " + *max;
  else if (min)
    text += " of at least " + *min;
  else if (max)
    text += " of at most " + *max;
  if (!examples.empty()) (text += ", ") += examples;
  return text;
}

} // namespace detail

} // namespace huddle::core
