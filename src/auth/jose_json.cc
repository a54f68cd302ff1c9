#include "auth/jose_json.h"

#include <simdjson.h>

#include <cmath>
#include <limits>
#include <string_view>

namespace herald::auth {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// One parser per thread: parsers are not thread-safe, and reusing one keeps its buffers, so
// a Verify call does not allocate them again. Note: an element is only valid until the next
// parse on the same thread.
simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// RFC 7519 §7.2 steps 3-4 and 9-10: the header and the claims set must each be one JSON
// object. simdjson also rejects invalid UTF-8 (RFC 7515 §5.2 step 3, RFC 7519 §7.2 step 10).
bool ParseObject(const std::string& json, object* out) {
  element root;
  if (ThreadParser().parse(json).get(root) != simdjson::SUCCESS) return false;
  return root.get_object().get(*out) == simdjson::SUCCESS;
}

// Member names must be unique (RFC 7515 §4, RFC 7519 §4); a JSON parser that keeps the
// first of two would read another claim than one that keeps the last, so a repeated member
// that Herald reads makes the token malformed.
bool ReadString(element value, std::optional<std::string>* out) {
  std::string_view text;
  if (out->has_value() || value.get_string().get(text) != simdjson::SUCCESS) return false;
  *out = std::string(text);
  return true;
}

std::int64_t ClampToInt64(double value) {
  constexpr double kLimit = 9.2e18;  // Just inside the int64 range.
  if (value >= kLimit) return std::numeric_limits<std::int64_t>::max();
  if (value <= -kLimit) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(value);
}

enum class Rounding { kDown, kUp };

// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional. Anything else
// (strings such as "1700000000", null, booleans) is malformed.
bool ReadNumericDate(element value, Rounding rounding, std::optional<std::int64_t>* out) {
  if (out->has_value()) return false;
  switch (value.type()) {
    case element_type::INT64:
      *out = value.get_int64().value_unsafe();
      return true;
    case element_type::UINT64:  // Only values above INT64_MAX land here.
      *out = std::numeric_limits<std::int64_t>::max();
      return true;
    case element_type::DOUBLE: {
      const double seconds = value.get_double().value_unsafe();
      *out = ClampToInt64(rounding == Rounding::kDown ? std::floor(seconds) : std::ceil(seconds));
      return true;
    }
    default:
      return false;
  }
}

// RFC 7519 §4.1.3: "aud" is one StringOrURI or an array of them.
bool ReadAudience(element value, ClaimSet* claims) {
  if (claims->has_aud) return false;
  claims->has_aud = true;
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    claims->aud.emplace_back(text);
    return true;
  }

  simdjson::dom::array entries;
  if (value.get_array().get(entries) != simdjson::SUCCESS) return false;
  for (element entry : entries) {
    if (entry.get_string().get(text) != simdjson::SUCCESS) return false;
    claims->aud.emplace_back(text);
  }
  return true;
}

bool ReadClaim(std::string_view name, element value, ClaimSet* claims) {
  if (name == "sub") return ReadString(value, &claims->sub);  // RFC 7519 §4.1.2
  if (name == "exp") return ReadNumericDate(value, Rounding::kDown, &claims->exp);  // §4.1.4
  if (name == "nbf") return ReadNumericDate(value, Rounding::kUp, &claims->nbf);    // §4.1.5
  if (name == "iss") return ReadString(value, &claims->iss);  // RFC 7519 §4.1.1
  if (name == "aud") return ReadAudience(value, claims);      // RFC 7519 §4.1.3
  return true;
}

}  // namespace

std::variant<Algorithm, AuthError> ParseJoseHeader(const std::string& json) {
  object header;
  if (!ParseObject(json, &header)) return AuthError::kMalformed;

  std::optional<std::string_view> alg;
  for (simdjson::dom::key_value_pair member : header) {
    // RFC 7515 §4.1.11: a recipient must reject "crit" extensions it does not understand,
    // and Herald understands none.
    if (member.key == "crit") return AuthError::kMalformed;
    if (member.key != "alg") continue;

    std::string_view name;
    if (alg.has_value() || member.value.get_string().get(name) != simdjson::SUCCESS) {
      return AuthError::kMalformed;
    }
    alg = name;
  }

  // RFC 7515 §4.1.1: "alg" MUST be present.
  if (!alg.has_value()) return AuthError::kMalformed;

  // RFC 7518 §3.6 / RFC 7519 §6: unsecured JWTs ("none") are never accepted, whatever the
  // case; ParseAlgorithm has no value for them.
  const std::optional<Algorithm> algorithm = ParseAlgorithm(*alg);
  if (!algorithm.has_value()) return AuthError::kAlgorithmNotAllowed;
  return *algorithm;
}

std::variant<ClaimSet, AuthError> ParseClaimSet(const std::string& json) {
  object payload;
  if (!ParseObject(json, &payload)) return AuthError::kMalformed;

  ClaimSet claims;
  for (simdjson::dom::key_value_pair member : payload) {
    if (!ReadClaim(member.key, member.value, &claims)) return AuthError::kMalformed;
  }
  return claims;
}

}  // namespace herald::auth
