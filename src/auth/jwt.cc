#include "auth/jwt.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "auth/jose_json.h"
#include "auth/verification_keys.h"

namespace herald::auth {
namespace {

// The three parts of a JWS compact serialization, still base64url-encoded.
struct CompactParts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header '.' payload, what the signature covers.
};

struct DecodedParts {
  std::string header;
  std::string payload;
  std::string signature;
};

// RFC 7515 §7.1, RFC 7519 §7.2 step 1: exactly three parts separated by two '.'. A JWE
// (five parts) or a detached payload is not a token Herald accepts.
std::optional<CompactParts> SplitCompact(std::string_view token) {
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  return CompactParts{token.substr(0, first), token.substr(first + 1, second - first - 1),
                      token.substr(second + 1), token.substr(0, second)};
}

// RFC 7519 §7.2 steps 2 and 7, RFC 7515 §5.2 steps 2, 6 and 7: every part must be strict
// base64url. Decoding all three before any crypto keeps "malformed" independent of the key.
std::optional<DecodedParts> DecodeParts(const CompactParts& parts) {
  std::optional<std::string> header = Base64UrlDecode(parts.header);
  std::optional<std::string> payload = Base64UrlDecode(parts.payload);
  std::optional<std::string> signature = Base64UrlDecode(parts.signature);
  if (!header || !payload || !signature) return std::nullopt;
  return DecodedParts{std::move(*header), std::move(*payload), std::move(*signature)};
}

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

std::unique_ptr<JwtVerifier> Refuse(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return nullptr;
}

std::string KeyRequirement(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kES256:
      return "an EC key on P-256";
    case Algorithm::kES384:
      return "an EC key on P-384";
    default:
      return FamilyOf(algorithm) == KeyFamily::kRsa ? "an RSA key" : "a secret";
  }
}

}  // namespace

std::unique_ptr<JwtVerifier> JwtVerifier::Create(const VerifierConfig& config, std::string* error) {
  if (config.algorithms.empty()) return Refuse(error, "no JWT algorithm is configured");
  if (config.leeway_s < 0 || config.leeway_s > kMaxLeewayS) {
    return Refuse(error, "JWT leeway must be between 0 and 86400 seconds");
  }

  std::unique_ptr<VerificationKeys> keys = VerificationKeys::Load(config, error);
  if (!keys) return nullptr;

  // RFC 8725 §3.1: each algorithm must fit its key; a mismatch is a configuration error,
  // found now rather than as every client failing later.
  for (Algorithm algorithm : config.algorithms) {
    if (!keys->Supports(algorithm)) {
      return Refuse(error, std::string(AlgorithmName(algorithm)) + " needs " +
                               KeyRequirement(algorithm) + " but the configured key is not one");
    }
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(config, std::move(keys)));
}

JwtVerifier::JwtVerifier(const VerifierConfig& config, std::unique_ptr<const VerificationKeys> keys)
    : keys_(std::move(keys)),
      leeway_s_(config.leeway_s),
      issuer_(config.issuer),
      audience_(config.audience) {
  for (Algorithm algorithm : config.algorithms) allowed_[IndexOf(algorithm)] = true;
}

JwtVerifier::~JwtVerifier() = default;

std::variant<Claims, AuthError> JwtVerifier::Verify(std::string_view token,
                                                    std::int64_t now_s) const {
  if (token.empty()) return AuthError::kMissingToken;
  if (token.size() > kMaxTokenBytes) return AuthError::kMalformed;

  const std::optional<CompactParts> parts = SplitCompact(token);
  if (!parts) return AuthError::kMalformed;
  const std::optional<DecodedParts> decoded = DecodeParts(*parts);
  if (!decoded) return AuthError::kMalformed;

  const std::variant<Algorithm, AuthError> header = ParseJoseHeader(decoded->header);
  if (const AuthError* error = std::get_if<AuthError>(&header)) return *error;
  const Algorithm algorithm = std::get<Algorithm>(header);

  // RFC 8725 §2.1 and §3.1, RFC 7515 §5.2 step 8: the token's alg must be pinned by the
  // operator, and every pinned alg was checked against its key family at Create. This runs
  // before any signature work, so an HS256 token "signed" with the RSA public key never
  // reaches HMAC.
  if (!allowed_[IndexOf(algorithm)]) return AuthError::kAlgorithmNotAllowed;

  // RFC 7515 §5.2 step 8, RFC 7519 §7.2 step 7: the claims are only read once signed.
  if (!keys_->Verify(algorithm, parts->signing_input, decoded->signature)) {
    return AuthError::kBadSignature;
  }

  std::variant<ClaimSet, AuthError> claim_set = ParseClaimSet(decoded->payload);
  if (const AuthError* error = std::get_if<AuthError>(&claim_set)) return *error;
  ClaimSet& claims = std::get<ClaimSet>(claim_set);
  if (const std::optional<AuthError> error = CheckClaims(claims, now_s)) return *error;
  return Claims{std::move(*claims.sub), claims.exp};
}

std::optional<AuthError> JwtVerifier::CheckClaims(const ClaimSet& claims,
                                                  std::int64_t now_s) const {
  // RFC 7519 §4.1.4: reject on or after exp; leeway covers clock skew between issuer and us.
  if (claims.exp && now_s >= SaturatingAdd(*claims.exp, leeway_s_)) return AuthError::kExpired;

  // RFC 7519 §4.1.5: reject before nbf, with the same leeway.
  if (claims.nbf && SaturatingAdd(now_s, leeway_s_) < *claims.nbf) {
    return AuthError::kNotYetValid;
  }

  // RFC 7519 §4.1.1: when an issuer is configured, "iss" must be present and equal.
  if (!issuer_.empty() && claims.iss != issuer_) return AuthError::kWrongIssuer;

  // RFC 7519 §4.1.3: when an audience is configured, "aud" must name it.
  if (!audience_.empty() &&
      std::find(claims.aud.begin(), claims.aud.end(), audience_) == claims.aud.end()) {
    return AuthError::kWrongAudience;
  }

  // RFC 7519 §4.1.2 makes "sub" optional, but Herald takes the user ID from it.
  if (!claims.sub || claims.sub->empty()) return AuthError::kMissingSubject;
  return std::nullopt;
}

}  // namespace herald::auth
