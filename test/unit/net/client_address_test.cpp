// Unit tests of the client address choice (src/net/client_address.{hpp,cpp}): CIDR ranges,
// and X-Forwarded-For believed only from trusted proxies, read from the right.
#include "net/client_address.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace ip = boost::asio::ip;
using huddle::net::AddressRange;
using huddle::net::client_address;
using huddle::net::parse_address_range;
using huddle::net::parse_address_ranges;

std::string client(const std::string& peer, std::vector<std::string_view> forwarded_for,
                   const std::vector<std::string>& trusted) {
  const auto ranges = parse_address_ranges(trusted);
  return client_address(ip::make_address(peer), forwarded_for, ranges).to_string();
}

} // namespace

TEST_CASE("an address range holds the addresses that share its prefix") {
  const AddressRange ten = parse_address_range("10.0.0.0/8");
  CHECK(ten.contains(ip::make_address("10.0.0.1")));
  CHECK(ten.contains(ip::make_address("10.255.255.255")));
  CHECK_FALSE(ten.contains(ip::make_address("11.0.0.0")));
  CHECK_FALSE(ten.contains(ip::make_address("::ffff:11.0.0.1")));
  CHECK(ten.contains(ip::make_address("::ffff:10.1.2.3"))); // dual-stack sockets
  CHECK_FALSE(ten.contains(ip::make_address("::1")));

  const AddressRange odd = parse_address_range("192.168.4.0/22"); // 192.168.4.0 - 192.168.7.255
  CHECK(odd.contains(ip::make_address("192.168.7.255")));
  CHECK_FALSE(odd.contains(ip::make_address("192.168.8.0")));
  CHECK_FALSE(odd.contains(ip::make_address("192.168.3.255")));

  const AddressRange v6 = parse_address_range("2001:db8::/32");
  CHECK(v6.contains(ip::make_address("2001:db8:ffff::1")));
  CHECK_FALSE(v6.contains(ip::make_address("2001:db9::1")));
  CHECK_FALSE(v6.contains(ip::make_address("10.0.0.1")));

  const AddressRange one = parse_address_range(" 192.0.2.7 ");
  CHECK(one.prefix_length == 32);
  CHECK(one.contains(ip::make_address("192.0.2.7")));
  CHECK_FALSE(one.contains(ip::make_address("192.0.2.6")));
  CHECK(parse_address_range("::1").prefix_length == 128);

  const AddressRange all = parse_address_range("0.0.0.0/0");
  CHECK(all.contains(ip::make_address("203.0.113.9")));
  CHECK_FALSE(all.contains(ip::make_address("2001:db8::1")));
}

TEST_CASE("a malformed range is refused with what is wrong") {
  for (auto bad : {"", "10.0.0.0/33", "::/129", "host.example", "10.0.0/8", "10.0.0.0/", "/8",
                   "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3.4:80"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_address_range(bad), std::invalid_argument);
  }
  try {
    parse_address_range("10.0.0.0/33");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("0 to 32") != std::string::npos);
  }
}

TEST_CASE("without trusted proxies the peer is the client, whatever the header says") {
  CHECK(client("198.51.100.4", {"203.0.113.9"}, {}) == "198.51.100.4");
  CHECK(client("198.51.100.4", {}, {}) == "198.51.100.4");
  // A peer that is not one of the proxies cannot speak for anyone.
  CHECK(client("198.51.100.4", {"203.0.113.9"}, {"10.0.0.0/8"}) == "198.51.100.4");
}

TEST_CASE("from a trusted proxy, the right-most address that is not a proxy is the client") {
  const std::vector<std::string> proxies{"10.0.0.0/8", "2001:db8:1::/48"};
  CHECK(client("10.0.0.1", {"203.0.113.9"}, proxies) == "203.0.113.9");
  // What the client wrote itself is on the left, and ignored.
  CHECK(client("10.0.0.1", {"1.1.1.1, 203.0.113.9"}, proxies) == "203.0.113.9");
  // Proxies in a chain are skipped.
  CHECK(client("10.0.0.1", {"1.1.1.1, 203.0.113.9, 10.0.0.7,10.0.0.8"}, proxies) == "203.0.113.9");
  // Several header lines are one list, in order.
  CHECK(client("10.0.0.1", {"1.1.1.1, 203.0.113.9", "10.0.0.7"}, proxies) == "203.0.113.9");
  CHECK(client("10.0.0.1", {"203.0.113.9", "198.51.100.1"}, proxies) == "198.51.100.1");
  // IPv6, with and without ports and brackets; mapped IPv4.
  CHECK(client("2001:db8:1::5", {"2001:db8:2::9"}, proxies) == "2001:db8:2::9");
  CHECK(client("::ffff:10.0.0.1", {"[2001:db8:2::9]:4711"}, proxies) == "2001:db8:2::9");
  CHECK(client("10.0.0.1", {"203.0.113.9:4711"}, proxies) == "203.0.113.9");
  CHECK(client("10.0.0.1", {"::ffff:203.0.113.9"}, proxies) == "203.0.113.9");
}

TEST_CASE("a proxy's request without a usable header is the proxy's own") {
  const std::vector<std::string> proxies{"10.0.0.0/8"};
  CHECK(client("10.0.0.1", {}, proxies) == "10.0.0.1");
  CHECK(client("10.0.0.1", {""}, proxies) == "10.0.0.1");
  CHECK(client("10.0.0.1", {" , "}, proxies) == "10.0.0.1");
  // Garbage ends the search at the proxy that passed it on.
  CHECK(client("10.0.0.1", {"unknown"}, proxies) == "10.0.0.1");
  CHECK(client("10.0.0.1", {"203.0.113.9, 10.0.0.7, garbage, 10.0.0.8"}, proxies) == "10.0.0.8");
  CHECK(client("10.0.0.1", {"[2001:db8::1"}, proxies) == "10.0.0.1");
  // Only proxies: the left-most is the client.
  CHECK(client("10.0.0.1", {"10.0.0.3, 10.0.0.2"}, proxies) == "10.0.0.3");
}

TEST_CASE("an IPv4 peer on a dual-stack socket is its IPv4 address") {
  CHECK(client("::ffff:198.51.100.4", {}, {}) == "198.51.100.4");
  CHECK(client("::ffff:10.0.0.1", {"203.0.113.9"}, {"10.0.0.0/8"}) == "203.0.113.9");
}

TEST_CASE("the loopback rule: 127/8 and ::1, mapped or not; of names only localhost") {
  using huddle::net::is_loopback;
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost"}) {
    CHECK_MESSAGE(is_loopback(std::string_view(yes)), yes);
    if (std::string_view(yes) != "localhost")
      CHECK_MESSAGE(is_loopback(ip::make_address(yes)), yes);
  }
  for (const char* no : {"0.0.0.0", "::", "192.0.2.1", "::ffff:192.0.2.1", "128.0.0.1",
                         "localhost.example", "ip6-localhost", "", "127.0.0.1:80"}) {
    CHECK_FALSE_MESSAGE(is_loopback(std::string_view(no)), no);
  }
  CHECK_FALSE(is_loopback(ip::make_address("::ffff:192.0.2.1")));
}
