// Compiles <huddle/logger.hpp> first and alone: the header includes all it needs.
#include <huddle/logger.hpp>

namespace huddle::header_test {
bool logger_ok() {
  return sizeof(LogField) > 0;
}
} // namespace huddle::header_test
