// Compiles <huddle/version.hpp> first and alone: the header includes all it needs.
#include <huddle/version.hpp>

namespace huddle::header_test {
bool version_ok() {
  return k_version[0] != '\0';
}
} // namespace huddle::header_test
