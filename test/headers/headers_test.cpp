// Each public header is compiled as the first and only include of its own translation unit
// (async_mutex.cpp, chat_manager.cpp, ...), with only include/ on the include path: this
// executable building at all is the test that every header stands alone. The case below
// just calls into each of those translation units.
#include <doctest/doctest.h>

namespace huddle::header_test {
bool async_mutex_ok();
bool chat_manager_ok();
bool logger_ok();
bool member_ok();
bool message_ok();
bool message_log_ok();
bool server_ok();
bool server_config_ok();
bool version_ok();
} // namespace huddle::header_test

TEST_CASE("every public header compiles on its own") {
  using namespace huddle::header_test;
  CHECK(async_mutex_ok());
  CHECK(chat_manager_ok());
  CHECK(logger_ok());
  CHECK(member_ok());
  CHECK(message_ok());
  CHECK(message_log_ok());
  CHECK(server_ok());
  CHECK(server_config_ok());
  CHECK(version_ok());
}
