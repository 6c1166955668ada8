// libFuzzer target: the request-target parsers of src/net/target.cpp, parse_ws_target() for
// `/ws/{group}?name=…&echo=…&since=…&token=…` and parse_api_target() for
// `/api/groups/{group}/messages?since=…&limit=…` and `…/members`, with the helpers they use.
// Input: what follows the prefix, e.g. `7?name=al%20ice&since=3` (the server only calls
// them on targets that start with their prefix). Checked beyond "no crash": what is
// accepted is within the documented ranges.
#include "net/target.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace net = huddle::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view rest(reinterpret_cast<const char*>(data), size);

  const auto ws = net::parse_ws_target(std::string(net::k_ws_prefix) + std::string(rest));
  if (const auto* target = std::get_if<net::WsTarget>(&ws)) {
    if (target->group < 1) std::abort();
    if (target->name && !net::is_valid_name(*target->name)) std::abort();
    if (target->since && *target->since < 0) std::abort();
  } else if (net::info(std::get<net::TargetError>(ws).code).status != 400) {
    std::abort();
  }

  const auto api = net::parse_api_target(std::string(net::k_api_groups_prefix) + std::string(rest));
  if (api) {
    if (const auto* target = std::get_if<net::ApiTarget>(&*api)) {
      if (target->group < 1) std::abort();
      if (target->limit < 1 || target->limit > net::k_max_history_limit) std::abort();
      if (target->since && *target->since < 0) std::abort();
    } else if (net::info(std::get<net::TargetError>(*api).code).status != 400) {
      std::abort();
    }
  }

  // Every escape shortens the text; '+' keeps its length.
  if (const auto decoded = net::percent_decode(rest); decoded && decoded->size() > rest.size())
    std::abort();
  (void)net::is_valid_name(rest);
  return 0;
}
