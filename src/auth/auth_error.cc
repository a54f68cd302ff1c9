#include "auth/auth_error.h"

namespace herald::auth {

std::string_view Describe(AuthError error) {
  switch (error) {
    case AuthError::kMissingToken:
      return "missing token";
    case AuthError::kMalformed:
      return "malformed token";
    case AuthError::kAlgorithmNotAllowed:
      return "algorithm not allowed";
    case AuthError::kBadSignature:
      return "bad signature";
    case AuthError::kExpired:
      return "token expired";
    case AuthError::kNotYetValid:
      return "token not yet valid";
    case AuthError::kWrongIssuer:
      return "wrong issuer";
    case AuthError::kWrongAudience:
      return "wrong audience";
    case AuthError::kMissingSubject:
      return "missing subject";
  }
  return "invalid token";
}

std::string_view MetricLabel(AuthError error) {
  switch (error) {
    case AuthError::kMissingToken:
      return "missing_token";
    case AuthError::kMalformed:
      return "malformed";
    case AuthError::kAlgorithmNotAllowed:
      return "algorithm_not_allowed";
    case AuthError::kBadSignature:
      return "bad_signature";
    case AuthError::kExpired:
      return "expired";
    case AuthError::kNotYetValid:
      return "not_yet_valid";
    case AuthError::kWrongIssuer:
      return "wrong_issuer";
    case AuthError::kWrongAudience:
      return "wrong_audience";
    case AuthError::kMissingSubject:
      return "missing_subject";
  }
  return "unknown";
}

}  // namespace herald::auth
