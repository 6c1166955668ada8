// Compiles <huddle/message.hpp> first and alone: the header includes all it needs.
#include <huddle/message.hpp>

namespace huddle::header_test {
bool message_ok() {
  return sizeof(Message) > 0 && sizeof(MessageDraft{}.ts_ms) == 8;
}
} // namespace huddle::header_test
