#include "net/client_address.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>

namespace huddle::net {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::optional<ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  const ip::address address = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(address);
}

// An X-Forwarded-For entry: an address, possibly with a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"), which some proxies add.
std::optional<ip::address> parse_forwarded_entry(std::string_view entry) {
  entry = trim(entry);
  if (entry.starts_with('[')) {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return parse_address(entry.substr(1, close - 1));
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos)
    entry = entry.substr(0, colon); // IPv4 with a port
  return parse_address(entry);
}

} // namespace

ip::address unmapped(const ip::address& address) noexcept {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

bool is_loopback(const ip::address& address) noexcept {
  return unmapped(address).is_loopback();
}

bool is_loopback(std::string_view address) noexcept {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  const ip::address parsed = ip::make_address(address, ec);
  return !ec && is_loopback(parsed);
}

bool AddressRange::contains(const ip::address& address) const noexcept {
  const ip::address candidate = unmapped(address);
  if (candidate.is_v4() != network.is_v4()) return false;
  auto compare = [&](const auto& a, const auto& b) {
    unsigned bits = prefix_length;
    for (std::size_t i = 0; bits > 0; ++i) {
      const unsigned take = bits < 8 ? bits : 8;
      const auto mask = static_cast<unsigned char>(0xFF00u >> take);
      if ((a[i] & mask) != (b[i] & mask)) return false;
      bits -= take;
    }
    return true;
  };
  if (candidate.is_v4()) return compare(candidate.to_v4().to_bytes(), network.to_v4().to_bytes());
  return compare(candidate.to_v6().to_bytes(), network.to_v6().to_bytes());
}

AddressRange parse_address_range(std::string_view text) {
  const std::string_view trimmed = trim(text);
  const auto slash = trimmed.find('/');
  auto address = parse_address(trimmed.substr(0, slash));
  if (!address)
    throw std::invalid_argument("\"" + std::string(text) + "\" is not an IPv4 or IPv6 address");
  const unsigned max_length = address->is_v4() ? 32 : 128;
  AddressRange range{*address, max_length};
  if (slash != std::string_view::npos) {
    const std::string_view digits = trimmed.substr(slash + 1);
    unsigned length = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        length > max_length)
      throw std::invalid_argument("\"" + std::string(text) + "\": the prefix length must be 0 to " +
                                  std::to_string(max_length));
    range.prefix_length = length;
  }
  return range;
}

std::vector<AddressRange> parse_address_ranges(const std::vector<std::string>& texts) {
  std::vector<AddressRange> ranges;
  ranges.reserve(texts.size());
  for (const auto& text : texts)
    ranges.push_back(parse_address_range(text));
  return ranges;
}

ip::address client_address(const ip::address& peer, std::span<const std::string_view> forwarded_for,
                           std::span<const AddressRange> trusted_proxies) {
  auto trusted = [&](const ip::address& address) {
    for (const AddressRange& range : trusted_proxies)
      if (range.contains(address)) return true;
    return false;
  };
  ip::address client = unmapped(peer);
  if (!trusted(client)) return client;
  // Right to left over every header line's entries, the last line first.
  for (auto line = forwarded_for.rbegin(); line != forwarded_for.rend(); ++line) {
    std::string_view rest = *line;
    while (!rest.empty()) {
      const auto comma = rest.rfind(',');
      const std::string_view entry =
          comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
      if (trim(entry).empty()) continue;
      const auto address = parse_forwarded_entry(entry);
      if (!address) return client;
      client = *address;
      if (!trusted(client)) return client;
    }
  }
  return client; // every hop was a trusted proxy: the left-most is the client
}

} // namespace huddle::net
