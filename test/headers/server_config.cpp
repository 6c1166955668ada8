// Compiles <huddle/server_config.hpp> first and alone: the header includes all it needs.
#include <huddle/server_config.hpp>

namespace huddle::header_test {
bool server_config_ok() {
  return ServerConfig{}.port != 0;
}
} // namespace huddle::header_test
