// TokenService on libjwt 1.10.2. That version checks signatures but no claims (it has no
// jwt_valid_* API), and it trusts the token's own header for the algorithm: given an RS256
// public key and a token saying "HS256", it happily checks an HMAC keyed with the PEM text
// (the algorithm-confusion attack), and "alg":"none" skips the signature. So verify() reads the
// header's alg itself before libjwt sees the token, checks jwt_get_alg() again afterwards, and
// checks exp/nbf/iss/aud/sub/groups on the claims libjwt verified (jwt_get_grants_json).
// Every libjwt and OpenSSL allocation is owned by a unique_ptr.
#include "auth/token.hpp"

#include "core/user_name.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace huddle::auth {

namespace {

// Far above any real token (a few hundred bytes); bounds the JSON work an anonymous caller
// can ask for.
constexpr std::size_t k_max_token_bytes = 16 * 1024;
// About the year 2255: later `exp` values are clamped so the conversion to a system_clock
// time_point (int64 nanoseconds on libstdc++, which end in 2262) cannot overflow.
constexpr std::int64_t k_max_exp = 9'000'000'000;
constexpr std::size_t k_min_rsa_bits = 2048; // RFC 7518 §3.3

struct JwtFree {
  void operator()(jwt_t* jwt) const noexcept { jwt_free(jwt); }
};
struct CFree {
  void operator()(char* text) const noexcept { std::free(text); }
};
struct BioFree {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
using CString = std::unique_ptr<char, CFree>;

bool is_base64url(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int base64url_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return c == '-' ? 62 : 63;
}

// Unpadded base64url (RFC 7515 §2); nullopt for any other character or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    if (!is_base64url(c)) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(base64url_value(c));
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  return out;
}

// The JSON object a base64url segment holds, or nullopt.
std::optional<boost::json::object> decode_segment(std::string_view segment) {
  const auto json = base64url_decode(segment);
  if (!json) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(*json, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

// A NumericDate (RFC 7519 §2) as whole seconds, rounded down and clamped to k_max_exp; nullopt
// when the claim is not a number.
std::optional<std::int64_t> numeric_date(const boost::json::value& claim) {
  if (claim.is_int64()) return std::min(claim.as_int64(), k_max_exp);
  if (claim.is_uint64()) return k_max_exp; // above INT64_MAX, so above k_max_exp
  if (claim.is_double()) {
    const double seconds = std::floor(claim.as_double());
    if (!std::isfinite(seconds)) return std::nullopt;
    if (seconds >= static_cast<double>(k_max_exp)) return k_max_exp;
    if (seconds <= 0) return 0;
    return static_cast<std::int64_t>(seconds);
  }
  return std::nullopt;
}

std::int64_t epoch_seconds(Clock::time_point when) {
  return std::chrono::floor<std::chrono::seconds>(when.time_since_epoch()).count();
}

bool audience_matches(const boost::json::value& claim, std::string_view audience) {
  if (claim.is_string()) return claim.as_string() == audience;
  if (!claim.is_array()) return false;
  for (const auto& entry : claim.as_array())
    if (entry.is_string() && entry.as_string() == audience) return true;
  return false;
}

// Whether the space-separated `scopes` (RFC 8693 §4.2) hold `wanted`.
bool has_scope(std::string_view scopes, std::string_view wanted) {
  while (!scopes.empty()) {
    const auto space = scopes.find(' ');
    if (scopes.substr(0, space) == wanted) return true;
    if (space == std::string_view::npos) break;
    scopes.remove_prefix(space + 1);
  }
  return false;
}

// The `groups` claim as ids, or nullopt when it is not an array of positive integers.
std::optional<std::vector<std::int64_t>> group_ids(const boost::json::value& claim) {
  if (!claim.is_array()) return std::nullopt;
  std::vector<std::int64_t> ids;
  ids.reserve(claim.as_array().size());
  for (const auto& entry : claim.as_array()) {
    if (entry.is_int64() && entry.as_int64() > 0)
      ids.push_back(entry.as_int64());
    else
      return std::nullopt; // zero, negative, fractional, too large or not a number
  }
  return ids;
}

// Throws std::invalid_argument unless `pem` is an RSA public key ("BEGIN PUBLIC KEY", the form
// libjwt reads) of at least k_min_rsa_bits.
void check_rsa_public_key(const std::string& pem) {
  if (pem.size() > INT_MAX) throw std::invalid_argument("RS256 public key: too large");
  const std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::bad_alloc();
  const std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error(); // a failed parse leaves its reasons on this thread's queue
  if (!key) throw std::invalid_argument("RS256 public key: not a PEM public key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
    throw std::invalid_argument("RS256 public key: not an RSA key");
  if (EVP_PKEY_get_bits(key.get()) < static_cast<int>(k_min_rsa_bits))
    throw std::invalid_argument("RS256 public key: shorter than 2048 bits");
}

} // namespace

std::string_view to_string(TokenError error) noexcept {
  switch (error) {
  case TokenError::malformed:
    return "malformed";
  case TokenError::wrong_algorithm:
    return "wrong_algorithm";
  case TokenError::bad_signature:
    return "bad_signature";
  case TokenError::expired:
    return "expired";
  case TokenError::wrong_issuer:
    return "wrong_issuer";
  case TokenError::wrong_audience:
    return "wrong_audience";
  case TokenError::no_subject:
    return "no_subject";
  }
  return "unknown";
}

TokenService::TokenService(TokenConfig config) : config_(std::move(config)) {
  const bool hs256 = !config_.hs256_secret.empty();
  const bool rs256 = !config_.rs256_public_key_pem.empty();
  if (hs256 == rs256)
    throw std::invalid_argument("TokenService: give exactly one of an HS256 secret and an RS256 "
                                "public key");
  if (hs256 && config_.hs256_secret.size() > INT_MAX)
    throw std::invalid_argument("TokenService: HS256 secret too large");
  if (hs256 && config_.ttl <= std::chrono::seconds::zero())
    throw std::invalid_argument("TokenService: ttl must be positive");
  if (rs256) check_rsa_public_key(config_.rs256_public_key_pem);
}

bool TokenService::can_issue() const noexcept {
  return !config_.hs256_secret.empty();
}

IssuedToken TokenService::issue(std::string_view user, Clock::time_point now) const {
  return issue_with(user, config_.ttl, nullptr, now);
}

IssuedToken TokenService::issue_publisher(std::string_view name,
                                          const std::optional<std::vector<std::int64_t>>& groups,
                                          std::chrono::seconds ttl, Clock::time_point now) const {
  if (ttl <= std::chrono::seconds::zero())
    throw std::invalid_argument("TokenService::issue_publisher: ttl must be positive");
  std::string extra = R"({"publish":true)";
  if (groups) {
    extra += R"(,"groups":[)";
    for (std::size_t i = 0; i < groups->size(); ++i) {
      if ((*groups)[i] < 1)
        throw std::invalid_argument("TokenService::issue_publisher: a group id must be positive");
      if (i > 0) extra += ',';
      extra += std::to_string((*groups)[i]);
    }
    extra += ']';
  }
  extra += '}';
  return issue_with(name, ttl, extra.c_str(), now);
}

IssuedToken TokenService::issue_with(std::string_view user, std::chrono::seconds ttl,
                                     const char* extra_claims, Clock::time_point now) const {
  if (!can_issue()) throw std::logic_error("TokenService::issue: RS256 mode only verifies");
  if (!core::is_valid_user_name(user))
    throw std::invalid_argument("TokenService::issue: invalid user name");

  jwt_t* raw = nullptr;
  if (const int rc = jwt_new(&raw); rc != 0)
    throw std::system_error(rc, std::generic_category(), "jwt_new");
  const JwtPtr jwt(raw);

  const std::int64_t issued_at = epoch_seconds(now);
  // ttl > 0 (constructor); clamped without computing a sum that could overflow.
  const std::int64_t expires =
      ttl.count() >= k_max_exp - issued_at ? k_max_exp : issued_at + ttl.count();
  const std::string subject(user);
  auto check = [](int rc, const char* what) {
    if (rc != 0) throw std::system_error(rc, std::generic_category(), what);
  };
  check(jwt_add_grant(jwt.get(), "sub", subject.c_str()), "jwt_add_grant sub");
  check(jwt_add_grant_int(jwt.get(), "iat", issued_at), "jwt_add_grant_int iat");
  check(jwt_add_grant_int(jwt.get(), "exp", expires), "jwt_add_grant_int exp");
  if (!config_.issuer.empty())
    check(jwt_add_grant(jwt.get(), "iss", config_.issuer.c_str()), "jwt_add_grant iss");
  if (!config_.audience.empty())
    check(jwt_add_grant(jwt.get(), "aud", config_.audience.c_str()), "jwt_add_grant aud");
  if (extra_claims != nullptr)
    check(jwt_add_grants_json(jwt.get(), extra_claims), "jwt_add_grants_json");
  check(jwt_set_alg(jwt.get(), JWT_ALG_HS256,
                    reinterpret_cast<const unsigned char*>(config_.hs256_secret.data()),
                    static_cast<int>(config_.hs256_secret.size())),
        "jwt_set_alg");

  const CString encoded(jwt_encode_str(jwt.get()));
  if (!encoded) throw std::runtime_error("jwt_encode_str failed");
  return IssuedToken{encoded.get(), Clock::time_point(std::chrono::seconds(expires))};
}

std::variant<Identity, TokenError> TokenService::verify(std::string_view token,
                                                        Clock::time_point now) const {
  const bool rs256 = !can_issue();
  const jwt_alg_t expected_alg = rs256 ? JWT_ALG_RS256 : JWT_ALG_HS256;
  const std::string_view expected_name = rs256 ? "RS256" : "HS256";
  const std::string& key = rs256 ? config_.rs256_public_key_pem : config_.hs256_secret;

  // Shape: three base64url segments (RFC 7515 §7.1). Anything else, an embedded NUL included,
  // never reaches libjwt.
  if (token.size() > k_max_token_bytes) return TokenError::malformed;
  const auto first_dot = token.find('.');
  const auto second_dot = first_dot == token.npos ? token.npos : token.find('.', first_dot + 1);
  if (second_dot == token.npos || token.find('.', second_dot + 1) != token.npos)
    return TokenError::malformed;
  const auto header = decode_segment(token.substr(0, first_dot));
  const auto payload = decode_segment(token.substr(first_dot + 1, second_dot - first_dot - 1));
  for (char c : token.substr(second_dot + 1))
    if (!is_base64url(c)) return TokenError::malformed;
  if (!header) return TokenError::malformed;
  const auto* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return TokenError::malformed;
  // Before any key is used: "none", the other family (HS256 keyed with an RSA public key) and
  // every other algorithm stop here.
  if (alg->as_string() != expected_name) return TokenError::wrong_algorithm;
  // We understand no header extension, so one marked critical must be refused (RFC 7515 §4.1.11).
  if (header->contains("crit")) return TokenError::malformed;
  if (!payload) return TokenError::malformed;

  jwt_t* raw = nullptr;
  const std::string terminated(token);
  const int rc =
      jwt_decode(&raw, terminated.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                 static_cast<int>(key.size()));
  const JwtPtr jwt(raw);
  // The shape was checked above, so a failure here is the signature (libjwt says EINVAL for
  // both); ENOMEM is reported the same way: the token is refused either way.
  if (rc != 0 || !jwt) return TokenError::bad_signature;
  if (jwt_get_alg(jwt.get()) != expected_alg) return TokenError::wrong_algorithm;

  // The claims as libjwt verified them.
  const CString grants_json(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants_json) return TokenError::malformed;
  boost::system::error_code ec;
  const boost::json::value grants_value = boost::json::parse(grants_json.get(), ec);
  if (ec || !grants_value.is_object()) return TokenError::malformed;
  const boost::json::object& claims = grants_value.as_object();

  const std::int64_t now_seconds = epoch_seconds(now);
  // No exp means a token that never expires: never accepted.
  const auto* exp_claim = claims.if_contains("exp");
  if (exp_claim == nullptr) return TokenError::expired;
  const auto exp = numeric_date(*exp_claim);
  if (!exp) return TokenError::malformed;
  if (*exp <= now_seconds) return TokenError::expired;
  // Not yet valid is reported as expired: outside its validity window either way.
  if (const auto* nbf_claim = claims.if_contains("nbf")) {
    const auto nbf = numeric_date(*nbf_claim);
    if (!nbf) return TokenError::malformed;
    if (*nbf > now_seconds) return TokenError::expired;
  }

  if (!config_.issuer.empty()) {
    const auto* iss = claims.if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->as_string() != config_.issuer)
      return TokenError::wrong_issuer;
  }
  if (!config_.audience.empty()) {
    const auto* aud = claims.if_contains("aud");
    if (aud == nullptr || !audience_matches(*aud, config_.audience))
      return TokenError::wrong_audience;
  }

  const auto* sub = claims.if_contains("sub");
  if (sub == nullptr || !sub->is_string() || !core::is_valid_user_name(sub->as_string()))
    return TokenError::no_subject;

  Identity identity;
  identity.user = std::string(sub->as_string());
  identity.expires_at = Clock::time_point(std::chrono::seconds(*exp));
  if (const auto* groups = claims.if_contains("groups")) {
    auto ids = group_ids(*groups);
    if (!ids) return TokenError::malformed;
    identity.groups = std::move(ids);
  }
  if (const auto* publish = claims.if_contains("publish")) {
    if (!publish->is_bool()) return TokenError::malformed;
    identity.publish = publish->as_bool();
  }
  // Another issuer's scopes: only ours is looked at, and a scope of another shape is theirs.
  if (const auto* scope = claims.if_contains("scope"); scope != nullptr && scope->is_string())
    identity.publish = identity.publish || has_scope(scope->as_string(), "publish");
  return identity;
}

} // namespace huddle::auth
