// libFuzzer target: permessage-deflate (src/net/permessage_deflate.cpp), what a client
// controls of it: the Sec-WebSocket-Extensions offers it sends, and the compressed messages.
// Input: byte 0 selects; 0-127: the rest is a header value for negotiate_deflate(); 128-255:
// the rest is a compressed message's payload for MessageInflater (limit 4 KiB), and is also
// compressed and inflated back. Checked beyond "no crash": an accepted offer is answered with
// no context takeover either way; inflation never writes past the limit + 1, ok stays within
// it; what deflate_message() makes inflates back to its input.
#include "net/permessage_deflate.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace net = huddle::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] < 128) {
    const auto offers = net::parse_extension_offers(rest);
    const auto answer = net::negotiate_deflate(rest);
    if (answer && !offers) std::abort();
    if (answer && !answer->starts_with(
                      "permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
      std::abort();
    return 0;
  }
  constexpr std::size_t k_limit = 4096;
  net::MessageInflater& inflater = net::MessageInflater::for_this_thread();
  const auto status = inflater.inflate(rest, k_limit);
  if (inflater.payload().size() > k_limit + 1) std::abort();
  if (status == net::MessageInflater::Status::ok && inflater.payload().size() > k_limit)
    std::abort();
  const std::string compressed = net::deflate_message(rest);
  if (!compressed.empty()) {
    if (compressed.size() >= rest.size()) std::abort();
    if (inflater.inflate(compressed, rest.size()) != net::MessageInflater::Status::ok ||
        inflater.payload() != rest)
      std::abort();
  }
  inflater.shrink();
  return 0;
}
