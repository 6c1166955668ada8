// Compiles <huddle/member.hpp> first and alone: the header includes all it needs.
#include <huddle/member.hpp>

namespace huddle::header_test {
bool member_ok() {
  return sizeof(Member) > 0;
}
} // namespace huddle::header_test
