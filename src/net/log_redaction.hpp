// Secrets kept out of the logs. A WebSocket client in a browser cannot set headers, so its
// token travels in the request target (`/ws/7?token=…`): every log line that shows a target
// shows redact_target(target) instead, and no log line shows a header's value
// (Authorization, Cookie). Pure, unit-tested (test/unit/net/log_redaction_test.cpp).
#pragma once

#include <string>
#include <string_view>

namespace huddle::net {

inline constexpr std::string_view k_redacted = "<redacted>";

// `target` with the value of each secret query parameter replaced by k_redacted. Secret are
// the parameters whose name, percent-decoded and in any case, ends in "token" (token,
// access_token, id_token…) or is "password" or "secret". Everything else is kept as sent.
std::string redact_target(std::string_view target);

} // namespace huddle::net
