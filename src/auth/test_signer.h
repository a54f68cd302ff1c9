#pragma once

// Test and benchmark support only: builds signed tokens with OpenSSL directly, on a code
// path independent of JwtVerifier (own base64url, own signing and R||S conversion).

#include <openssl/evp.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace herald::auth::testing {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

KeyPtr GenerateRsaKey(unsigned bits);
KeyPtr GenerateEcKey(const char* curve);  // "P-256", "P-384".

// SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
std::string PublicKeyPem(EVP_PKEY* key);

// base64url without padding, via EVP_EncodeBlock.
std::string EncodeB64Url(std::string_view bytes);
std::string DecodeB64Url(std::string_view text);  // Test inputs only; no validation.

using Signer = std::function<std::string(std::string_view signing_input)>;

// `digest` is an OpenSSL name: "SHA256", "SHA384", "SHA512".
Signer HmacSigner(std::string secret, const char* digest);
Signer RsaSigner(EVP_PKEY* key, const char* digest, bool pss);
// Raw R||S of 2 * half_len bytes, as JWS wants it.
Signer EcdsaSigner(EVP_PKEY* key, const char* digest, std::size_t half_len);

// ECDSA in OpenSSL's DER form, which JWS does not allow; for negative tests.
Signer DerEcdsaSigner(EVP_PKEY* key, const char* digest);

// base64url(header_json) '.' base64url(payload_json) '.' base64url(sign(first two parts)).
std::string MakeToken(std::string_view header_json, std::string_view payload_json,
                      const Signer& sign);

}  // namespace herald::auth::testing
