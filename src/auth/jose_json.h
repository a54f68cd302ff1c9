#pragma once

// Internal to src/auth: reading the JOSE header and the JWT claims set with simdjson.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "auth/algorithm.h"
#include "auth/auth_error.h"

namespace herald::auth {

// The registered claims Herald reads (RFC 7519 §4.1); everything else is ignored.
struct ClaimSet {
  std::optional<std::string> sub;
  std::optional<std::int64_t> exp;  // Rounded down: a fractional exp never lasts longer.
  std::optional<std::int64_t> nbf;  // Rounded up: a fractional nbf never starts earlier.
  std::optional<std::string> iss;
  bool has_aud = false;
  std::vector<std::string> aud;  // A string "aud" becomes one element.
};

// Reads the header's "alg". kMalformed when `json` is not one JSON object, "alg" is absent,
// not a string or repeated, or "crit" is present; kAlgorithmNotAllowed when "alg" names no
// supported algorithm (this covers "none" in any spelling).
std::variant<Algorithm, AuthError> ParseJoseHeader(const std::string& json);

// Reads the claims. kMalformed when `json` is not one JSON object, or when a claim Herald
// reads has the wrong type or appears twice. Does not judge the values.
std::variant<ClaimSet, AuthError> ParseClaimSet(const std::string& json);

}  // namespace herald::auth
