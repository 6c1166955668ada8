// parse_url: redis://HOST[:PORT][/DB], and a clear refusal for everything else.
#include "broker/redis/url.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using huddle::broker::redis::parse_url;

namespace {

// The message parse_url() refuses `url` with ("" when it accepts it).
std::string refusal(const char* url) {
  try {
    parse_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("host alone: port 6379 and db 0") {
  const auto endpoint = parse_url("redis://localhost");
  CHECK(endpoint.host == "localhost");
  CHECK(endpoint.port == 6379);
  CHECK(endpoint.db == 0);
  CHECK(parse_url("redis://10.1.2.3/").db == 0);
}

TEST_CASE("host, port and db") {
  const auto endpoint = parse_url("redis://redis.internal:6380/3");
  CHECK(endpoint.host == "redis.internal");
  CHECK(endpoint.port == 6380);
  CHECK(endpoint.db == 3);
  CHECK(parse_url("redis://127.0.0.1:65535").port == 65535);
  CHECK(parse_url("redis://h:1/0").port == 1);
  CHECK(parse_url("REDIS://h").host == "h");
}

TEST_CASE("IPv6 addresses in brackets") {
  auto endpoint = parse_url("redis://[::1]:6380");
  CHECK(endpoint.host == "::1");
  CHECK(endpoint.port == 6380);
  endpoint = parse_url("redis://[fe80::1]/2");
  CHECK(endpoint.host == "fe80::1");
  CHECK(endpoint.port == 6379);
  CHECK(endpoint.db == 2);
  CHECK(refusal("redis://::1:6380").find("brackets") != std::string::npos);
  CHECK(refusal("redis://[::1:6380").find("']'") != std::string::npos);
  CHECK(refusal("redis://[::1]6380").find(":PORT") != std::string::npos);
  CHECK(refusal("redis://[]:6380").find("no host") != std::string::npos);
}

TEST_CASE("another scheme, or none") {
  CHECK(refusal("http://localhost:6379").find("scheme \"http\" is not redis") != std::string::npos);
  CHECK(refusal("rediss://localhost").find("TLS") != std::string::npos);
  CHECK(refusal("localhost:6379").find("no scheme") != std::string::npos);
  CHECK(refusal("").find("no scheme") != std::string::npos);
  // Every refusal shows the form expected.
  CHECK(refusal("http://x").find("redis://HOST[:PORT][/DB]") != std::string::npos);
}

TEST_CASE("missing host") {
  CHECK(refusal("redis://").find("no host") != std::string::npos);
  CHECK(refusal("redis://:6379").find("no host") != std::string::npos);
  CHECK(refusal("redis:///1").find("no host") != std::string::npos);
}

TEST_CASE("bad port") {
  for (const char* url :
       {"redis://h:0", "redis://h:65536", "redis://h:99999999999", "redis://h:", "redis://h:port",
        "redis://h:-1", "redis://h:+80", "redis://h: 80", "redis://h:80x"}) {
    CAPTURE(url);
    CHECK(refusal(url).find("is not a number from 1 to 65535") != std::string::npos);
  }
}

TEST_CASE("bad database") {
  for (const char* url : {"redis://h/x", "redis://h/-1", "redis://h/1.5", "redis://h:1/0?a=b",
                          "redis://h/99999999999", "redis://h/1/2"}) {
    CAPTURE(url);
    CHECK(refusal(url).find("is not a non-negative number") != std::string::npos);
  }
  CHECK(parse_url("redis://h/15").db == 15);
  CHECK(parse_url("redis://h/2147483647").db == 2147483647);
}

TEST_CASE("credentials are refused, and not repeated in the message") {
  for (const char* url : {"redis://user:secret@h:6379/0", "redis://:secret@h", "redis://secret@h",
                          "rediss://user:secret@h", "user:secret@h:6379"}) {
    CAPTURE(url);
    const auto message = refusal(url);
    CHECK(message.find("give the password on its own (ServerConfig::broker_password), not in the "
                       "URL") != std::string::npos);
    CHECK(message.find("--") == std::string::npos); // the library names no flag of huddle serve
    CHECK(message.find("secret") == std::string::npos);
  }
}
