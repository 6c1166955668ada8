// Which address a request comes from, for the per-address limits, the login throttle and the
// logs: the TCP peer, unless the peer is one of the operator's reverse proxies
// (ServerConfig::trusted_proxies), in which case X-Forwarded-For says who the proxy serves.
//
// X-Forwarded-For lists the client, then each proxy that passed the request on, each
// appending the address it received the request from. Only the entries added by trusted
// proxies can be believed: anything to their left may be forged by the client. So the list
// is read from the right, skipping trusted proxies, and the first address that is not one is
// the client (nginx's real_ip_recursive, docs/operations.md "Behind a proxy").
// Pure functions, unit-tested without sockets.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace huddle::net {

// An IPv4 or IPv6 CIDR range ("10.0.0.0/8", "2001:db8::/32"); a bare address is a range of one.
struct AddressRange {
  boost::asio::ip::address network;
  unsigned prefix_length = 0;

  bool contains(const boost::asio::ip::address& address) const noexcept;
};

// Parses one range; throws std::invalid_argument saying what is wrong with `text`.
AddressRange parse_address_range(std::string_view text);
std::vector<AddressRange> parse_address_ranges(const std::vector<std::string>& texts);

// An IPv4 address seen on a dual-stack socket arrives as ::ffff:a.b.c.d: it is a.b.c.d.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address) noexcept;

// The loopback rule, decided here only. It says where AuthMode::none may listen (without
// ServerConfig::allow_anonymous_on_network) and which clients GET /metrics answers without
// a metrics token: 127.0.0.0/8 and ::1, an IPv4 one also as ::ffff:127.x.y.z.
bool is_loopback(const boost::asio::ip::address& address) noexcept;
// The same for an address as configured: a literal, or "localhost". Any other name is not
// loopback, since it may resolve to more than loopback.
bool is_loopback(std::string_view address) noexcept;

// The client of a request that reached us from `peer` with these X-Forwarded-For values (each
// header line a comma-separated list, in the order received). `peer` itself when it is not a
// trusted proxy. An entry that is not an address ("unknown", garbage) ends the search: the
// trusted proxy that forwarded it is taken as the client.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::span<const std::string_view> forwarded_for,
                                        std::span<const AddressRange> trusted_proxies);

} // namespace huddle::net
