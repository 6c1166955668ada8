// Compiles <huddle/chat_manager.hpp> first and alone: the header includes all it needs.
#include <huddle/chat_manager.hpp>

namespace huddle::header_test {
bool chat_manager_ok() {
  return sizeof(ChatManager) > 0 && !JoinResult{}.added;
}
} // namespace huddle::header_test
