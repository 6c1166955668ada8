// Unit tests of TokenService (src/auth/token.cpp): huddle's own HS256 tokens, externally minted
// HS256/RS256 tokens (signed here with libjwt, as another issuer would), and the attacks the
// service must refuse: alg "none", algorithm confusion (HS256 keyed with the RSA public key),
// tampering, wrong keys, expiry, issuer, audience and subject checks.
// The RSA key pairs are made at test time with the openssl command line; nothing is timed.
#include "auth/token.hpp"

#include "base64url.hpp"

#include <doctest/doctest.h>
#include <jwt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

using namespace huddle::auth;
using namespace std::chrono_literals;

namespace {

const std::string k_secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
// 2023-11-14T22:13:20Z: tokens are checked against this instant, not the wall clock.
const Clock::time_point k_now{std::chrono::seconds(1'700'000'000)};

using huddle::test::base64url;

std::string base64url_decode(std::string_view text) {
  auto value = [](char c) -> unsigned {
    if (c >= 'A' && c <= 'Z') return static_cast<unsigned>(c - 'A');
    if (c >= 'a' && c <= 'z') return static_cast<unsigned>(c - 'a' + 26);
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0' + 52);
    return c == '-' ? 62u : 63u;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    bits = (bits << 6) | value(c);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

std::vector<std::string> segments(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

// Signs `claims` (a JSON object) the way another issuer would, with libjwt.
std::string sign(jwt_alg_t alg, const std::string& key, const std::string& claims) {
  jwt_t* raw = nullptr;
  REQUIRE(jwt_new(&raw) == 0);
  const std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt(raw, jwt_free);
  REQUIRE(jwt_add_grants_json(jwt.get(), claims.c_str()) == 0);
  REQUIRE(jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                      static_cast<int>(key.size())) == 0);
  const std::unique_ptr<char, void (*)(void*)> encoded(jwt_encode_str(jwt.get()), std::free);
  REQUIRE(encoded != nullptr);
  return encoded.get();
}

// exp one hour after k_now, plus `more` (a JSON fragment starting with a comma, or "").
std::string claims_with(const std::string& more) {
  return R"({"exp":1700003600)" + more + "}";
}

TokenService hs256_service(std::string issuer = "", std::string audience = "") {
  TokenConfig config;
  config.hs256_secret = k_secret;
  config.issuer = std::move(issuer);
  config.audience = std::move(audience);
  config.ttl = 3600s;
  return TokenService(config);
}

TokenError error_of(const std::variant<Identity, TokenError>& result) {
  REQUIRE_MESSAGE(std::holds_alternative<TokenError>(result), "the token was accepted");
  return std::get<TokenError>(result);
}

Identity identity_of(const std::variant<Identity, TokenError>& result) {
  if (const auto* error = std::get_if<TokenError>(&result))
    FAIL("the token was refused: " << std::string(to_string(*error)));
  return std::get<Identity>(result);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};

// A throwaway 2048-bit pair from the openssl command line, in a temporary directory.
RsaKeyPair make_rsa_key_pair() {
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "huddle-token-test-XXXXXX").string();
  REQUIRE(::mkdtemp(dir_template.data()) != nullptr);
  const std::filesystem::path dir = dir_template;
  const auto private_file = dir / "private.pem";
  const auto public_file = dir / "public.pem";
  const std::string generate =
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '" +
      private_file.string() + "' 2>/dev/null";
  const std::string extract = "openssl pkey -in '" + private_file.string() + "' -pubout -out '" +
                              public_file.string() + "' 2>/dev/null";
  const int generated = std::system(generate.c_str());
  const int extracted = generated == 0 ? std::system(extract.c_str()) : -1;
  RsaKeyPair pair{read_file(private_file), read_file(public_file)};
  std::filesystem::remove_all(dir);
  REQUIRE_MESSAGE(generated == 0, "openssl genpkey failed (is the openssl command installed?)");
  REQUIRE(extracted == 0);
  REQUIRE(pair.private_pem.find("PRIVATE KEY") != std::string::npos);
  REQUIRE(pair.public_pem.find("BEGIN PUBLIC KEY") != std::string::npos);
  return pair;
}

const RsaKeyPair& rsa_keys() {
  static const RsaKeyPair pair = make_rsa_key_pair();
  return pair;
}

TokenService rs256_service(const std::string& public_pem) {
  TokenConfig config;
  config.rs256_public_key_pem = public_pem;
  return TokenService(config);
}

} // namespace

TEST_CASE("issue then verify: the subject, the expiry, no groups") {
  const auto service = hs256_service();
  REQUIRE(service.can_issue());
  const IssuedToken issued = service.issue("alice", k_now);
  CHECK(issued.expires_at == k_now + 3600s);
  CHECK(segments(issued.token).size() == 3);

  const Identity identity = identity_of(service.verify(issued.token, k_now));
  CHECK(identity.user == "alice");
  CHECK(identity.expires_at == issued.expires_at);
  CHECK_FALSE(identity.groups.has_value());
  // The claims are what a JWT library elsewhere would read: sub, iat, exp.
  const std::string payload = base64url_decode(segments(issued.token)[1]);
  CHECK(payload.find(R"("sub":"alice")") != std::string::npos);
  CHECK(payload.find(R"("iat":1700000000)") != std::string::npos);
  CHECK(payload.find(R"("exp":1700003600)") != std::string::npos);
}

TEST_CASE("a token is valid until exp, then expired") {
  const auto service = hs256_service();
  const IssuedToken issued = service.issue("alice", k_now);
  CHECK(std::holds_alternative<Identity>(service.verify(issued.token, issued.expires_at - 1s)));
  CHECK(error_of(service.verify(issued.token, issued.expires_at)) == TokenError::expired);
  CHECK(error_of(service.verify(issued.token, issued.expires_at + 24h)) == TokenError::expired);
}

TEST_CASE("a token without exp is refused as expired; a non-numeric exp is malformed") {
  const auto service = hs256_service();
  CHECK(error_of(service.verify(sign(JWT_ALG_HS256, k_secret, R"({"sub":"alice"})"), k_now)) ==
        TokenError::expired);
  CHECK(error_of(service.verify(
            sign(JWT_ALG_HS256, k_secret, R"({"sub":"alice","exp":"1700003600"})"), k_now)) ==
        TokenError::malformed);
}

TEST_CASE("a token that is not valid yet (nbf in the future) is refused") {
  const auto service = hs256_service();
  const std::string token =
      sign(JWT_ALG_HS256, k_secret, claims_with(R"(,"sub":"alice","nbf":1700000060)"));
  CHECK(error_of(service.verify(token, k_now)) == TokenError::expired);
  CHECK(std::holds_alternative<Identity>(service.verify(token, k_now + 60s)));
}

TEST_CASE("a token signed with another secret is a bad signature") {
  const auto ours = hs256_service();
  const std::string token =
      sign(JWT_ALG_HS256, std::string(64, 'x'), claims_with(R"(,"sub":"alice")"));
  CHECK(error_of(ours.verify(token, k_now)) == TokenError::bad_signature);
}

TEST_CASE("a tampered payload or header is a bad signature") {
  const auto service = hs256_service();
  const std::string token = service.issue("alice", k_now).token;
  const auto parts = segments(token);

  SUBCASE("one character of the subject changed") {
    std::string payload = base64url_decode(parts[1]);
    const auto at = payload.find("alice");
    REQUIRE(at != std::string::npos);
    payload[at + 4] = 'f'; // "alicf"
    const std::string forged = parts[0] + "." + base64url(payload) + "." + parts[2];
    CHECK(error_of(service.verify(forged, k_now)) == TokenError::bad_signature);
  }
  SUBCASE("a later exp") {
    std::string payload = base64url_decode(parts[1]);
    const auto at = payload.find("1700003600");
    REQUIRE(at != std::string::npos);
    payload.replace(at, 10, "1800003600");
    const std::string forged = parts[0] + "." + base64url(payload) + "." + parts[2];
    CHECK(error_of(service.verify(forged, k_now)) == TokenError::bad_signature);
  }
  SUBCASE("an extra header field") {
    const std::string header = base64url(R"({"alg":"HS256","typ":"JWT","kid":"x"})");
    const std::string forged = header + "." + parts[1] + "." + parts[2];
    CHECK(error_of(service.verify(forged, k_now)) == TokenError::bad_signature);
  }
  SUBCASE("the signature changed") {
    std::string signature = parts[2];
    signature[3] = signature[3] == 'A' ? 'B' : 'A';
    CHECK(error_of(service.verify(parts[0] + "." + parts[1] + "." + signature, k_now)) ==
          TokenError::bad_signature);
  }
}

TEST_CASE("alg none and every other algorithm are refused as wrong_algorithm") {
  const auto service = hs256_service();
  const std::string payload = base64url(claims_with(R"(,"sub":"alice")"));
  const std::string real = service.issue("alice", k_now).token;

  SUBCASE("none with an empty signature") {
    const std::string token = base64url(R"({"alg":"none"})") + "." + payload + ".";
    CHECK(error_of(service.verify(token, k_now)) == TokenError::wrong_algorithm);
  }
  SUBCASE("none keeping a real signature") {
    const std::string token =
        base64url(R"({"alg":"none","typ":"JWT"})") + "." + payload + "." + segments(real)[2];
    CHECK(error_of(service.verify(token, k_now)) == TokenError::wrong_algorithm);
  }
  SUBCASE("None, spelled otherwise") {
    const std::string token = base64url(R"({"alg":"None"})") + "." + payload + ".";
    CHECK(error_of(service.verify(token, k_now)) == TokenError::wrong_algorithm);
  }
  SUBCASE("HS512 with the right secret") {
    const std::string token = sign(JWT_ALG_HS512, k_secret, claims_with(R"(,"sub":"alice")"));
    CHECK(error_of(service.verify(token, k_now)) == TokenError::wrong_algorithm);
  }
  SUBCASE("RS256 when HS256 is configured") {
    const std::string token =
        sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with(R"(,"sub":"alice")"));
    CHECK(error_of(service.verify(token, k_now)) == TokenError::wrong_algorithm);
  }
}

TEST_CASE("what is not a JWT is malformed") {
  const auto service = hs256_service();
  const std::string token = service.issue("alice", k_now).token;
  const auto parts = segments(token);
  CHECK(error_of(service.verify("", k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify("not a token", k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify(parts[0] + "." + parts[1], k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify(token + ".x", k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify(base64url("[1,2]") + "." + parts[1] + "." + parts[2], k_now)) ==
        TokenError::malformed);
  CHECK(error_of(service.verify(base64url(R"({"typ":"JWT"})") + "." + parts[1] + "." + parts[2],
                                k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify(parts[0] + ".!!!." + parts[2], k_now)) == TokenError::malformed);
  CHECK(error_of(service.verify(parts[0] + "." + base64url("not json") + "." + parts[2], k_now)) ==
        TokenError::malformed);
  // A NUL would end the token early for C code: the part after it must not be ignored.
  CHECK(error_of(service.verify(token + std::string(1, '\0') + "x", k_now)) ==
        TokenError::malformed);
  CHECK(error_of(service.verify(std::string(20'000, 'a'), k_now)) == TokenError::malformed);
}

TEST_CASE("issuer and audience are set and checked when configured") {
  const auto service = hs256_service("https://login.example", "huddle");
  const IssuedToken issued = service.issue("alice", k_now);
  CHECK(identity_of(service.verify(issued.token, k_now)).user == "alice");
  // Without iss/aud configured, the same claims are ignored.
  CHECK(std::holds_alternative<Identity>(hs256_service().verify(issued.token, k_now)));

  auto verify_claims = [&](const std::string& more) {
    return service.verify(sign(JWT_ALG_HS256, k_secret, claims_with(R"(,"sub":"alice")" + more)),
                          k_now);
  };
  CHECK(error_of(verify_claims(R"(,"iss":"https://evil.example","aud":"huddle")")) ==
        TokenError::wrong_issuer);
  CHECK(error_of(verify_claims(R"(,"aud":"huddle")")) == TokenError::wrong_issuer);
  CHECK(error_of(verify_claims(R"(,"iss":"https://login.example","aud":"other")")) ==
        TokenError::wrong_audience);
  CHECK(error_of(verify_claims(R"(,"iss":"https://login.example")")) == TokenError::wrong_audience);
  CHECK(error_of(verify_claims(R"(,"iss":"https://login.example","aud":["a","b"])")) ==
        TokenError::wrong_audience);
  CHECK(std::holds_alternative<Identity>(
      verify_claims(R"(,"iss":"https://login.example","aud":["other","huddle"])")));
}

TEST_CASE("a missing or invalid subject is no_subject") {
  const auto service = hs256_service();
  auto verify_claims = [&](const std::string& more) {
    return service.verify(sign(JWT_ALG_HS256, k_secret, claims_with(more)), k_now);
  };
  CHECK(error_of(verify_claims("")) == TokenError::no_subject);
  CHECK(error_of(verify_claims(R"(,"sub":"")")) == TokenError::no_subject);
  CHECK(error_of(verify_claims(R"(,"sub":"alice smith")")) == TokenError::no_subject);
  CHECK(error_of(verify_claims(R"(,"sub":"../etc")")) == TokenError::no_subject);
  CHECK(error_of(verify_claims(R"(,"sub":")" + std::string(33, 'a') + "\"")) ==
        TokenError::no_subject);
  CHECK(error_of(verify_claims(R"(,"sub":42)")) == TokenError::no_subject);
  CHECK(identity_of(verify_claims(R"(,"sub":"a.b-c_9")")).user == "a.b-c_9");
  CHECK_THROWS_AS(service.issue("alice smith", k_now), std::invalid_argument);
}

TEST_CASE("an external token's groups claim becomes Identity::groups") {
  const auto service = hs256_service();
  auto verify_claims = [&](const std::string& more) {
    return service.verify(sign(JWT_ALG_HS256, k_secret, claims_with(R"(,"sub":"bob")" + more)),
                          k_now);
  };
  const Identity identity = identity_of(verify_claims(R"(,"groups":[1,2])"));
  REQUIRE(identity.groups.has_value());
  CHECK(*identity.groups == std::vector<std::int64_t>{1, 2});
  const Identity none = identity_of(verify_claims(R"(,"groups":[])"));
  REQUIRE(none.groups.has_value());
  CHECK(none.groups->empty());

  CHECK(error_of(verify_claims(R"(,"groups":"1,2")")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"groups":{"1":true})")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"groups":[1,"2"])")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"groups":[0])")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"groups":[-3])")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"groups":[1.5])")) == TokenError::malformed);
}

TEST_CASE("RS256: a token signed with the issuer's private key verifies with its public key") {
  const RsaKeyPair& keys = rsa_keys();
  const auto service = rs256_service(keys.public_pem);
  CHECK_FALSE(service.can_issue());
  const std::string token =
      sign(JWT_ALG_RS256, keys.private_pem, claims_with(R"(,"sub":"carol","groups":[7])"));
  const Identity identity = identity_of(service.verify(token, k_now));
  CHECK(identity.user == "carol");
  CHECK(identity.expires_at == Clock::time_point(std::chrono::seconds(1'700'003'600)));
  REQUIRE(identity.groups.has_value());
  CHECK(*identity.groups == std::vector<std::int64_t>{7});
  CHECK(error_of(service.verify(token, k_now + 2h)) == TokenError::expired);

  SUBCASE("tampered payload") {
    const auto parts = segments(token);
    std::string payload = base64url_decode(parts[1]);
    payload.replace(payload.find("carol"), 5, "admin");
    CHECK(error_of(service.verify(parts[0] + "." + base64url(payload) + "." + parts[2], k_now)) ==
          TokenError::bad_signature);
  }
  SUBCASE("another key pair's signature") {
    const RsaKeyPair other = make_rsa_key_pair();
    const std::string forged =
        sign(JWT_ALG_RS256, other.private_pem, claims_with(R"(,"sub":"carol")"));
    CHECK(error_of(service.verify(forged, k_now)) == TokenError::bad_signature);
  }
}

TEST_CASE("RS256: HS256 keyed with the public key (algorithm confusion) is refused") {
  const RsaKeyPair& keys = rsa_keys();
  const auto service = rs256_service(keys.public_pem);
  // Anyone can make this token: the public key is public. libjwt alone would accept it.
  const std::string forged = sign(JWT_ALG_HS256, keys.public_pem, claims_with(R"(,"sub":"root")"));
  CHECK(error_of(service.verify(forged, k_now)) == TokenError::wrong_algorithm);
  const std::string none =
      base64url(R"({"alg":"none"})") + "." + base64url(claims_with(R"(,"sub":"root")")) + ".";
  CHECK(error_of(service.verify(none, k_now)) == TokenError::wrong_algorithm);
}

TEST_CASE("RS256 mode only verifies: issue() is a logic error") {
  const auto service = rs256_service(rsa_keys().public_pem);
  CHECK_THROWS_AS(service.issue("alice", k_now), std::logic_error);
}

TEST_CASE("the configuration needs exactly one usable key") {
  CHECK_THROWS_AS(TokenService{TokenConfig{}}, std::invalid_argument);
  TokenConfig both;
  both.hs256_secret = k_secret;
  both.rs256_public_key_pem = rsa_keys().public_pem;
  CHECK_THROWS_AS(TokenService{both}, std::invalid_argument);
  TokenConfig garbage;
  garbage.rs256_public_key_pem =
      "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n";
  CHECK_THROWS_AS(TokenService{garbage}, std::invalid_argument);
  TokenConfig private_key;
  private_key.rs256_public_key_pem = rsa_keys().private_pem;
  CHECK_THROWS_AS(TokenService{private_key}, std::invalid_argument);
  TokenConfig no_ttl;
  no_ttl.hs256_secret = k_secret;
  no_ttl.ttl = 0s;
  CHECK_THROWS_AS(TokenService{no_ttl}, std::invalid_argument);
  CHECK_NOTHROW(rs256_service(rsa_keys().public_pem));
}

TEST_CASE("to_string names each error") {
  CHECK(to_string(TokenError::malformed) == "malformed");
  CHECK(to_string(TokenError::wrong_algorithm) == "wrong_algorithm");
  CHECK(to_string(TokenError::bad_signature) == "bad_signature");
  CHECK(to_string(TokenError::expired) == "expired");
  CHECK(to_string(TokenError::wrong_issuer) == "wrong_issuer");
  CHECK(to_string(TokenError::wrong_audience) == "wrong_audience");
  CHECK(to_string(TokenError::no_subject) == "no_subject");
}

TEST_CASE("the publish right: \"publish\": true or a scope with the word publish") {
  const auto service = hs256_service();
  auto verify_claims = [&](const std::string& more) {
    return service.verify(sign(JWT_ALG_HS256, k_secret, claims_with(R"(,"sub":"crm")" + more)),
                          k_now);
  };
  CHECK_FALSE(identity_of(verify_claims("")).publish);
  CHECK(identity_of(verify_claims(R"(,"publish":true)")).publish);
  CHECK_FALSE(identity_of(verify_claims(R"(,"publish":false)")).publish);
  CHECK(identity_of(verify_claims(R"(,"scope":"read publish")")).publish);
  CHECK(identity_of(verify_claims(R"(,"scope":"publish")")).publish);
  CHECK_FALSE(identity_of(verify_claims(R"(,"scope":"publisher read")")).publish);
  CHECK_FALSE(identity_of(verify_claims(R"(,"scope":["publish"])")).publish); // not RFC 8693's
  CHECK(error_of(verify_claims(R"(,"publish":"yes")")) == TokenError::malformed);
  CHECK(error_of(verify_claims(R"(,"publish":1)")) == TokenError::malformed);
}

TEST_CASE("issue_publisher: a service token with the publish right, its groups and its ttl") {
  const auto service = hs256_service();
  const IssuedToken everywhere = service.issue_publisher("crm", std::nullopt, 30 * 24h, k_now);
  CHECK(everywhere.expires_at == k_now + 30 * 24h);
  const Identity any = identity_of(service.verify(everywhere.token, k_now));
  CHECK(any.user == "crm");
  CHECK(any.publish);
  CHECK_FALSE(any.groups.has_value());

  const IssuedToken two =
      service.issue_publisher("crm", std::vector<std::int64_t>{7, 9}, 60s, k_now);
  const Identity some = identity_of(service.verify(two.token, k_now));
  CHECK(some.publish);
  REQUIRE(some.groups.has_value());
  CHECK(*some.groups == std::vector<std::int64_t>{7, 9});
  // A login's token carries no publish right.
  CHECK_FALSE(identity_of(service.verify(service.issue("alice", k_now).token, k_now)).publish);

  CHECK_THROWS_AS(service.issue_publisher("crm", std::nullopt, 0s, k_now), std::invalid_argument);
  CHECK_THROWS_AS(service.issue_publisher("crm", std::vector<std::int64_t>{0}, 60s, k_now),
                  std::invalid_argument);
  CHECK_THROWS_AS(service.issue_publisher("a b", std::nullopt, 60s, k_now), std::invalid_argument);
}
