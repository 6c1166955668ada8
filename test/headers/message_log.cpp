// Compiles <huddle/message_log.hpp> first and alone: the header includes all it needs.
#include <huddle/message_log.hpp>

namespace huddle::header_test {
bool message_log_ok() {
  return sizeof(MessageLog) > 0;
}
} // namespace huddle::header_test
