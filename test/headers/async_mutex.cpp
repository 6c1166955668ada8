// Compiles <huddle/async_mutex.hpp> first and alone: the header includes all it needs.
#include <huddle/async_mutex.hpp>

namespace huddle::header_test {
bool async_mutex_ok() {
  return sizeof(AsyncMutex) > 0 && !AsyncMutex::Guard{}.owns_lock();
}
} // namespace huddle::header_test
