// libFuzzer target: huddle-load's envelope reader (src/load/envelope.cpp), the substring
// search it runs on every frame a server sends it, whatever server that is.
// Input: one frame. Checked beyond "no crash": the ids come only from frames of their kind.
#include "load/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace load = huddle::load;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  const load::FrameKind kind = load::kind_of(frame);
  const auto id = load::message_id(frame);
  const auto last_id = load::welcome_last_id(frame);
  if (id && kind != load::FrameKind::message) std::abort();
  if (last_id && kind != load::FrameKind::welcome) std::abort();
  if (kind == load::FrameKind::message && id != load::uint_field(frame, "id")) std::abort();
  for (const std::string_view key : {"id", "last_id", "group", "ts", "ref", "", "\"", ":"})
    (void)load::uint_field(frame, key);
  return 0;
}
