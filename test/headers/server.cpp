// Compiles <huddle/server.hpp> first and alone: the header includes all it needs.
#include <huddle/server.hpp>

namespace huddle::header_test {
bool server_ok() {
  return sizeof(Server) > 0;
}
} // namespace huddle::header_test
