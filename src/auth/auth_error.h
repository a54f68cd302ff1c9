#pragma once

#include <string_view>

namespace herald::auth {

// Why a token was refused. Every value ends the connection with close code 4401.
enum class AuthError {
  kMissingToken,
  kMalformed,
  kAlgorithmNotAllowed,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kWrongIssuer,
  kWrongAudience,
  kMissingSubject,
};

// Short reason sent to the client in the 401 error event, e.g. "token expired". It names the
// failed check only; it never echoes any part of the token.
std::string_view Describe(AuthError error);

// Stable metric label, e.g. "expired". Dashboards depend on these; do not rename.
std::string_view MetricLabel(AuthError error);

}  // namespace herald::auth
