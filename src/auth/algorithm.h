#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace herald::auth {

// JWS "alg" values Herald accepts (RFC 7518 §3.1). "none" is deliberately not representable.
enum class Algorithm { kHS256, kHS384, kHS512, kRS256, kRS384, kRS512, kPS256, kES256, kES384 };

inline constexpr std::size_t kAlgorithmCount = 9;

// The kind of key an algorithm is checked with. A token whose alg belongs to another family
// than the configured key is refused before any signature work, which is what stops the
// classic "HS256 signed with the RSA public key" confusion.
enum class KeyFamily { kHmac, kRsa, kEcdsa };

// Exact, case-sensitive match on the JWS name (RFC 7515 §4.1.1: "alg" is case-sensitive).
// "none" in any spelling, and every unsupported name, give nullopt.
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

// The JWS name, e.g. "HS256".
std::string_view AlgorithmName(Algorithm algorithm);

KeyFamily FamilyOf(Algorithm algorithm);

// OpenSSL digest name of the hash the algorithm uses, e.g. "SHA256".
std::string_view DigestName(Algorithm algorithm);

// Index for per-algorithm tables.
constexpr std::size_t IndexOf(Algorithm algorithm) { return static_cast<std::size_t>(algorithm); }

}  // namespace herald::auth
