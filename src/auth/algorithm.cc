#include "auth/algorithm.h"

#include <array>

namespace herald::auth {
namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  std::string_view name;
  KeyFamily family;
  std::string_view digest;
};

// Ordered like the enum so that IndexOf() indexes it.
constexpr std::array<AlgorithmInfo, kAlgorithmCount> kAlgorithms = {{
    {Algorithm::kHS256, "HS256", KeyFamily::kHmac, "SHA256"},
    {Algorithm::kHS384, "HS384", KeyFamily::kHmac, "SHA384"},
    {Algorithm::kHS512, "HS512", KeyFamily::kHmac, "SHA512"},
    {Algorithm::kRS256, "RS256", KeyFamily::kRsa, "SHA256"},
    {Algorithm::kRS384, "RS384", KeyFamily::kRsa, "SHA384"},
    {Algorithm::kRS512, "RS512", KeyFamily::kRsa, "SHA512"},
    {Algorithm::kPS256, "PS256", KeyFamily::kRsa, "SHA256"},
    {Algorithm::kES256, "ES256", KeyFamily::kEcdsa, "SHA256"},
    {Algorithm::kES384, "ES384", KeyFamily::kEcdsa, "SHA384"},
}};

static_assert([] {
  for (std::size_t i = 0; i < kAlgorithms.size(); ++i) {
    if (IndexOf(kAlgorithms[i].algorithm) != i) return false;
  }
  return true;
}());

const AlgorithmInfo& InfoOf(Algorithm algorithm) { return kAlgorithms[IndexOf(algorithm)]; }

}  // namespace

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.name == name) return info.algorithm;
  }
  return std::nullopt;
}

std::string_view AlgorithmName(Algorithm algorithm) { return InfoOf(algorithm).name; }

KeyFamily FamilyOf(Algorithm algorithm) { return InfoOf(algorithm).family; }

std::string_view DigestName(Algorithm algorithm) { return InfoOf(algorithm).digest; }

}  // namespace herald::auth
