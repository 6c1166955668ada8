// libFuzzer target: TokenService::verify (src/auth/token.cpp), which every request with a
// token goes through before anything else, with fixed keys and a fixed clock.
// Each input is verified twice:
// - as a token, by an HS256, an HS256-with-iss-and-aud and an RS256 service (the RS256 key
//   below: its private half was used once to sign the seed corpus, then thrown away);
// - when it holds a newline, as `<header JSON>\n<claims JSON>` that this harness signs with
//   the HS256 secret, so the claim checks behind the signature get fuzzed too.
// Checked beyond "no crash": an accepted token names a valid user and has not expired; a
// token the service issued verifies as its user.
#include "auth/token.hpp"
#include "core/user_name.hpp"

#include "base64url.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

namespace {

namespace auth = huddle::auth;
namespace core = huddle::core;

// The seeds' tokens were made with these (test/fuzz/corpus/make_seeds.py).
constexpr std::string_view k_secret =
    "fuzzing-secret-0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr std::string_view k_public_key = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu8VKmCtX9LPRCGbofdKu
jUISEsdiarcJ8GLYyX8FFtIyVTCEj/oFr0geQPJu3bqHR9Ze4+zNG1UTZpAJZ/oz
NDKgLBisP2czrx7HgKfQGa5qgUbUXH2lwz7kh1svN+TIDCSstCIFFA1P8VLE9TiN
PX/V0HOhbounDvayCr2yaSFTieHdihje0iUldC2ZaFtKPnzQuTdeP0QCx/OazG9E
N9Nmhdh3QXFKW7f4QMBRLDiCWSLpJKySfkAgloUHLe9r5JUgpe62cwgOxWeRBQgX
OnMrRIYQAsdCOM2E96uLkcDdxzZjwu0eXaehwm7lMuGeaQNY8E5MHUMgx+McTSfq
JQIDAQAB
-----END PUBLIC KEY-----
)";
// 2023-11-14T22:13:20Z: the seeds expire in 2100, and some have expired already.
const auth::Clock::time_point k_now{std::chrono::seconds(1'700'000'000)};

struct Services {
  auth::TokenService hs256{auth::TokenConfig{.hs256_secret = std::string(k_secret)}};
  auth::TokenService hs256_claims{auth::TokenConfig{.hs256_secret = std::string(k_secret),
                                                    .issuer = "https://issuer.example",
                                                    .audience = "huddle"}};
  auth::TokenService rs256{auth::TokenConfig{.rs256_public_key_pem = std::string(k_public_key)}};
};

const Services& services() {
  static const Services instance;
  return instance;
}

using huddle::test::base64url;

// A JWS (RFC 7515 compact form) of `header` and `claims`, signed with k_secret.
std::string sign_hs256(std::string_view header, std::string_view claims) {
  const std::string signing_input = base64url(header) + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (!HMAC(EVP_sha256(), k_secret.data(), static_cast<int>(k_secret.size()),
            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
            &mac_size))
    std::abort();
  return signing_input + "." +
         base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
}

void check(const std::variant<auth::Identity, auth::TokenError>& verified) {
  const auto* identity = std::get_if<auth::Identity>(&verified);
  if (identity == nullptr) return;
  if (!core::is_valid_user_name(identity->user) || identity->expires_at <= k_now) std::abort();
  if (identity->groups)
    for (const std::int64_t group : *identity->groups)
      if (group < 1) std::abort();
}

void verify_all(std::string_view token) {
  const Services& all = services();
  check(all.hs256.verify(token, k_now));
  check(all.hs256_claims.verify(token, k_now));
  check(all.rs256.verify(token, k_now));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  verify_all(input);

  if (const auto newline = input.find('\n'); newline != std::string_view::npos)
    verify_all(sign_hs256(input.substr(0, newline), input.substr(newline + 1)));

  if (core::is_valid_user_name(input)) {
    const auth::TokenService& hs256 = services().hs256;
    const auto verified = hs256.verify(hs256.issue(input, k_now).token, k_now);
    const auto* identity = std::get_if<auth::Identity>(&verified);
    if (identity == nullptr || identity->user != input) std::abort();
  }
  return 0;
}
