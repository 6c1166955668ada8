#include "net/credentials.hpp"

#include <doctest/doctest.h>

using namespace huddle::net;

TEST_CASE("a Bearer header wins over the cookie and ?token=") {
  auto found = find_credentials("Bearer abc.def.ghi", "huddle_token=cookie", std::string("query"));
  REQUIRE(found.has_value());
  CHECK(found->token == "abc.def.ghi");
  CHECK_FALSE(found->from_cookie);
  found = find_credentials("bearer   spaced  ", "", std::nullopt); // the scheme is case-insensitive
  REQUIRE(found.has_value());
  CHECK(found->token == "spaced");
}

TEST_CASE("the login cookie, then ?token=; nothing at all is nullopt") {
  auto found = find_credentials("", "a=1; huddle_token=t0k; b=2", std::string("query"));
  REQUIRE(found.has_value());
  CHECK(found->token == "t0k");
  CHECK(found->from_cookie);
  found = find_credentials("Basic dXNlcjpwdw==", "other=1", std::string("q"));
  REQUIRE(found.has_value());
  CHECK(found->token == "q");
  CHECK_FALSE(found->from_cookie);
  CHECK_FALSE(find_credentials("", "", std::nullopt).has_value());
  CHECK_FALSE(find_credentials("Bearer ", "huddle_token=", std::string()).has_value());
}

TEST_CASE("cookie_value finds exact names only") {
  CHECK(cookie_value("x_huddle_token=no; huddle_token=yes", "huddle_token") == "yes");
  CHECK(cookie_value("huddle_token=\"quoted\"", "huddle_token") == "quoted");
  CHECK_FALSE(cookie_value("huddle_tokens=no", "huddle_token").has_value());
  CHECK_FALSE(cookie_value("", "huddle_token").has_value());
}

TEST_CASE("login and logout cookies are HttpOnly and SameSite=Strict") {
  const std::string login = login_cookie("tok", std::chrono::seconds(60), false);
  CHECK(login.starts_with("huddle_token=tok;"));
  CHECK(login.find("HttpOnly") != std::string::npos);
  CHECK(login.find("SameSite=Strict") != std::string::npos);
  CHECK(login.find("Max-Age=60") != std::string::npos);
  CHECK(login.find("Secure") == std::string::npos); // would never come back over http://
  CHECK(logout_cookie(false).find("Max-Age=0") != std::string::npos);
}

TEST_CASE("over TLS the login and logout cookies are Secure") {
  CHECK(login_cookie("tok", std::chrono::seconds(60), true).ends_with("; Secure"));
  CHECK(logout_cookie(true).ends_with("; Secure"));
}

TEST_CASE("is_same_origin compares the Origin's host:port with Host") {
  CHECK(is_same_origin("", "127.0.0.1:8080"));
  CHECK(is_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
  CHECK(is_same_origin("https://Chat.Example:443", "chat.example:443"));
  CHECK_FALSE(is_same_origin("http://127.0.0.1:9999", "127.0.0.1:8080"));
  CHECK_FALSE(is_same_origin("https://evil.example", "127.0.0.1:8080"));
  CHECK_FALSE(is_same_origin("null", "127.0.0.1:8080"));
}
