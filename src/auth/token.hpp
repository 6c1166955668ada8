// Access tokens: JWTs through libjwt (never hand-parsed). huddle issues HS256 tokens for its
// own logins (`--auth builtin`) and accepts tokens minted elsewhere (`--auth jwt`): HS256 with a
// shared secret, or RS256 checked with the issuer's public key, as the original dashboard's
// login did. Claims: `sub` (user name), `exp`, optional `groups` (array of group ids) for
// externally minted tokens, optional `iss`/`aud` checked when configured, and the publish
// right of a backend (docs/protocol.md, "Publishing from a backend"): `"publish": true`, or a
// `scope` string (RFC 8693 §4.2) with the word `publish`.
// A token whose header names any algorithm but the configured one (`none` above all) is
// refused, whatever its signature.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace huddle::auth {

using Clock = std::chrono::system_clock;

enum class TokenError {
  malformed,       // not a JWT, bad base64/JSON
  wrong_algorithm, // header alg is not the configured one (e.g. "none")
  bad_signature,   // signature does not verify (tampered header/payload, wrong key)
  expired,         // exp <= now (or exp missing)
  wrong_issuer,    // iss configured and not equal
  wrong_audience,  // aud configured and not present
  no_subject,      // sub missing or not a valid user name
};
std::string_view to_string(TokenError error) noexcept; // "expired", "bad_signature", ...

struct Identity {
  std::string user;
  Clock::time_point expires_at;
  // The token's own `groups` claim, when it has one: then it, not the database, says which
  // groups the user may enter.
  std::optional<std::vector<std::int64_t>> groups;
  // The token may publish (POST /api/groups/{id}/messages) to its groups: those of `groups`,
  // or every group when it has no `groups` claim.
  bool publish = false;
};

struct IssuedToken {
  std::string token;
  Clock::time_point expires_at;
};

struct TokenConfig {
  std::string hs256_secret;         // HS256: issue and verify with this secret...
  std::string rs256_public_key_pem; // ...or RS256: verify only, with this public key
  std::string issuer;               // "" : neither set nor checked
  std::string audience;             // "" : neither set nor checked
  std::chrono::seconds ttl{12 * 3600};
};

class TokenService {
public:
  // Throws std::invalid_argument when neither or both keys are given, or the PEM is unusable.
  explicit TokenService(TokenConfig config);

  bool can_issue() const noexcept; // HS256 only
  // Throws std::logic_error when !can_issue().
  IssuedToken issue(std::string_view user, Clock::time_point now = Clock::now()) const;
  // A backend's service token (`huddle token mint`): `name` as its subject, `"publish": true`,
  // the `groups` claim when `groups` is given (else it may publish to every group), valid for
  // `ttl` instead of the configured one. Throws as issue() does.
  IssuedToken issue_publisher(std::string_view name,
                              const std::optional<std::vector<std::int64_t>>& groups,
                              std::chrono::seconds ttl, Clock::time_point now = Clock::now()) const;
  std::variant<Identity, TokenError> verify(std::string_view token,
                                            Clock::time_point now = Clock::now()) const;

  const TokenConfig& config() const noexcept { return config_; }

private:
  // `extra_claims`: a JSON object whose members are added to the claims (may be null).
  IssuedToken issue_with(std::string_view user, std::chrono::seconds ttl, const char* extra_claims,
                         Clock::time_point now) const;

  TokenConfig config_;
};

} // namespace huddle::auth
