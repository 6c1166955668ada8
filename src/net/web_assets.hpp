// The web client's static files (web/), embedded in the binary at build time so `GET /`
// works from any directory with nothing installed beside the executable.
#pragma once

#include <string_view>

namespace huddle::net {

struct WebAsset {
  std::string_view content_type; // e.g. "text/html; charset=utf-8"
  std::string_view body;
};

// The asset served at `path` ("/" is index.html); nullptr when there is none.
const WebAsset* find_web_asset(std::string_view path) noexcept;

} // namespace huddle::net
