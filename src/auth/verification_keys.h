#pragma once

// Internal to src/auth: the OpenSSL side of JwtVerifier.

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "auth/algorithm.h"
#include "auth/jwt.h"

namespace herald::auth {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdPtr = std::unique_ptr<EVP_MD, MdFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// The secret and/or public key of one verifier, with the OpenSSL digests and keyed HMAC
// states prepared for each pinned algorithm.
// Immutable after Load and shared read-only by all threads: OpenSSL 3 allows concurrent
// read-only use of an EVP_PKEY, EVP_MD and (for EVP_MAC_CTX_dup) EVP_MAC_CTX. Every Verify
// call works on its own contexts.
class VerificationKeys {
 public:
  // Parses the keys the pinned algorithms need. Returns nullptr and sets *error when a
  // needed key is absent or unparseable, or when an RSA key is under 2048 bits.
  static std::unique_ptr<VerificationKeys> Load(const VerifierConfig& config, std::string* error);

  // Whether the configured key can check `algorithm`: an HS secret for HS*, an RSA key for
  // RS*/PS*, an EC key on the algorithm's own curve for ES* (RFC 7518 §3.4).
  bool Supports(Algorithm algorithm) const;

  // True iff `signature` (already base64url-decoded) is a valid `algorithm` signature of
  // `signing_input`. The caller must have checked Supports(algorithm).
  bool Verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const;

 private:
  VerificationKeys() = default;

  bool LoadSecret(const VerifierConfig& config, std::string* error);
  bool LoadPublicKey(const VerifierConfig& config, std::string* error);
  bool VerifyHmac(Algorithm algorithm, std::string_view signing_input,
                  std::string_view signature) const;
  bool VerifyRsa(Algorithm algorithm, std::string_view signing_input,
                 std::string_view signature) const;
  bool VerifyEcdsa(Algorithm algorithm, std::string_view signing_input,
                   std::string_view signature) const;
  bool DigestVerify(Algorithm algorithm, std::string_view signing_input,
                    std::string_view signature) const;

  std::string secret_;
  PkeyPtr public_key_;
  std::array<MdPtr, kAlgorithmCount> digests_;         // Fetched once; implicit fetch is slow.
  std::array<MacCtxPtr, kAlgorithmCount> hmac_keyed_;  // HMAC states already keyed, to dup.
};

}  // namespace herald::auth
