#pragma once

// JWT (RFC 7519) verification for client connections, and HS256 minting for `herald token`.
// Only the JWS compact serialization (RFC 7515 §7.1) with the algorithms in algorithm.h.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/algorithm.h"
#include "auth/auth_error.h"
#include "auth/base64url.h"

namespace herald::auth {

// Upper bound on a token's length. Real tokens are well under 2 KiB; the bound caps the
// base64 and JSON work any unauthenticated client can make the gateway do.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;

// Upper bound on VerifierConfig::leeway_s. Clock skew is seconds; a leeway of more than a
// day would quietly turn exp into a suggestion.
inline constexpr std::int64_t kMaxLeewayS = 24 * 60 * 60;

struct VerifierConfig {
  std::vector<Algorithm> algorithms;  // Pinned; empty is an error at Create.
  std::string secret;                 // For HS*.
  std::string public_key_pem;         // "-----BEGIN PUBLIC KEY-----" text for RS*/PS*/ES*.
  std::int64_t leeway_s = 30;         // Allowed clock skew for exp/nbf, 0..kMaxLeewayS.
  std::string issuer;                 // Empty = "iss" not checked.
  std::string audience;               // Empty = "aud" not checked ("aud" may be string or array).
};

struct Claims {
  std::string sub;                  // Never empty.
  std::optional<std::int64_t> exp;  // Unix seconds; the session closes the connection then.
};

class VerificationKeys;  // verification_keys.h; keeps OpenSSL out of this header.
struct ClaimSet;         // jose_json.h; keeps simdjson out of this header.

// Checks client tokens against one pinned configuration.
// Built once at startup and shared by every thread: Verify is const and thread-safe. Keys are
// parsed at Create and only read afterwards; each Verify call uses its own OpenSSL contexts
// and a thread-local JSON parser.
class JwtVerifier {
 public:
  // Returns nullptr and sets *error (if non-null) when the config is unusable: no algorithms,
  // an HS algorithm without a secret, an asymmetric one without a parseable PEM public key,
  // a key of another family or curve than a pinned algorithm, an RSA key under 2048 bits,
  // or a leeway outside 0..kMaxLeewayS.
  static std::unique_ptr<JwtVerifier> Create(const VerifierConfig& config, std::string* error);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Verifies `token` (the bare JWS, without "Bearer ") at unix time `now_s`.
  // Never throws. Checks, in order: shape and size, header, algorithm, signature, claims.
  std::variant<Claims, AuthError> Verify(std::string_view token, std::int64_t now_s) const;

 private:
  JwtVerifier(const VerifierConfig& config, std::unique_ptr<const VerificationKeys> keys);

  std::optional<AuthError> CheckClaims(const ClaimSet& claims, std::int64_t now_s) const;

  std::unique_ptr<const VerificationKeys> keys_;
  std::array<bool, kAlgorithmCount> allowed_{};  // Pinned and matching its key; by IndexOf.
  std::int64_t leeway_s_;
  std::string issuer_;
  std::string audience_;
};

// Mints an HS256 token with "sub", "iat" = now_s and, when ttl_s > 0, "exp" = now_s + ttl_s;
// "iss" and "aud" only when non-empty. For `herald token` and tests. `sub`, `issuer` and
// `audience` must be UTF-8.
std::string MintHs256(std::string_view secret, std::string_view sub, std::int64_t now_s,
                      std::int64_t ttl_s, std::string_view issuer = {},
                      std::string_view audience = {});

}  // namespace herald::auth
