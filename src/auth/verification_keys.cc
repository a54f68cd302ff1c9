#include "auth/verification_keys.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <optional>
#include <utility>

namespace herald::auth {
namespace {

// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
constexpr int kMinRsaKeyBits = 2048;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};

bool Pins(const VerifierConfig& config, KeyFamily family) {
  return std::any_of(config.algorithms.begin(), config.algorithms.end(),
                     [family](Algorithm a) { return FamilyOf(a) == family; });
}

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  ERR_clear_error();
  return false;
}

// Length of R and of S in an ES signature (RFC 7518 §3.4): 32 for P-256, 48 for P-384.
std::size_t EcdsaHalfLength(Algorithm algorithm) {
  return algorithm == Algorithm::kES256 ? 32 : 48;
}

int CurveNid(Algorithm algorithm) {
  return algorithm == Algorithm::kES256 ? NID_X9_62_prime256v1 : NID_secp384r1;
}

int KeyCurveNid(const EVP_PKEY* key) {
  char name[64] = {};
  std::size_t name_len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &name_len) != 1) return NID_undef;
  const int nid = OBJ_txt2nid(name);
  return nid != NID_undef ? nid : EC_curve_nist2nid(name);
}

// JWS carries ECDSA signatures as fixed-length R||S (RFC 7518 §3.4); OpenSSL wants the DER
// SEQUENCE of two INTEGERs. The caller has checked the length.
std::optional<std::string> JoseToDer(std::string_view raw) {
  const std::size_t half = raw.size() / 2;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<BIGNUM, BnFree> r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
  std::unique_ptr<BIGNUM, BnFree> s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // Now owned by sig.
  s.release();

  const int der_len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_len <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(der_len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != der_len) return std::nullopt;
  return der;
}

// RFC 7518 §3.3 (RSASSA-PKCS1-v1_5) and §3.5 (RSASSA-PSS: MGF1 with the same hash, salt as
// long as the hash output). ECDSA needs no settings.
bool ConfigurePadding(Algorithm algorithm, const EVP_MD* md, EVP_PKEY_CTX* pkey_ctx) {
  if (FamilyOf(algorithm) != KeyFamily::kRsa) return true;
  if (algorithm != Algorithm::kPS256) {
    return EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) == 1;
  }
  return EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, md) == 1;
}

}  // namespace

std::unique_ptr<VerificationKeys> VerificationKeys::Load(const VerifierConfig& config,
                                                         std::string* error) {
  std::unique_ptr<VerificationKeys> keys(new VerificationKeys());
  for (Algorithm algorithm : config.algorithms) {
    const std::string digest(DigestName(algorithm));
    MdPtr& md = keys->digests_[IndexOf(algorithm)];
    if (!md) md.reset(EVP_MD_fetch(nullptr, digest.c_str(), nullptr));
    if (!md) {
      Fail(error, "OpenSSL has no " + digest);
      return nullptr;
    }
  }
  if (!keys->LoadSecret(config, error) || !keys->LoadPublicKey(config, error)) return nullptr;
  return keys;
}

bool VerificationKeys::LoadSecret(const VerifierConfig& config, std::string* error) {
  if (!Pins(config, KeyFamily::kHmac)) return true;
  if (config.secret.empty()) return Fail(error, "an HS algorithm is pinned but no secret is set");
  secret_ = config.secret;

  std::unique_ptr<EVP_MAC, MacFree> hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!hmac) return Fail(error, "OpenSSL has no HMAC");
  for (Algorithm algorithm : config.algorithms) {
    if (FamilyOf(algorithm) != KeyFamily::kHmac) continue;
    std::string digest(DigestName(algorithm));
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_end()};
    MacCtxPtr ctx(EVP_MAC_CTX_new(hmac.get()));
    if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret_.data()),
                             secret_.size(), params) != 1) {
      return Fail(error, "cannot key HMAC-" + digest);
    }
    hmac_keyed_[IndexOf(algorithm)] = std::move(ctx);
  }
  return true;
}

bool VerificationKeys::LoadPublicKey(const VerifierConfig& config, std::string* error) {
  if (!Pins(config, KeyFamily::kRsa) && !Pins(config, KeyFamily::kEcdsa)) return true;
  if (config.public_key_pem.empty()) {
    return Fail(error, "an RS/PS/ES algorithm is pinned but no public key is set");
  }

  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(
      config.public_key_pem.data(), static_cast<int>(config.public_key_pem.size())));
  if (bio) public_key_.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!public_key_) {
    return Fail(error, "public key is not a PEM \"BEGIN PUBLIC KEY\" block OpenSSL can read");
  }

  if (EVP_PKEY_is_a(public_key_.get(), "RSA") &&
      EVP_PKEY_get_bits(public_key_.get()) < kMinRsaKeyBits) {
    return Fail(error, "RSA public key is shorter than 2048 bits (RFC 7518 section 3.3)");
  }
  return true;
}

bool VerificationKeys::Supports(Algorithm algorithm) const {
  switch (FamilyOf(algorithm)) {
    case KeyFamily::kHmac:
      return hmac_keyed_[IndexOf(algorithm)] != nullptr;
    case KeyFamily::kRsa:
      return public_key_ && EVP_PKEY_is_a(public_key_.get(), "RSA");
    case KeyFamily::kEcdsa:
      return public_key_ && EVP_PKEY_is_a(public_key_.get(), "EC") &&
             KeyCurveNid(public_key_.get()) == CurveNid(algorithm);
  }
  return false;
}

bool VerificationKeys::Verify(Algorithm algorithm, std::string_view signing_input,
                              std::string_view signature) const {
  bool valid = false;
  switch (FamilyOf(algorithm)) {
    case KeyFamily::kHmac:
      valid = VerifyHmac(algorithm, signing_input, signature);
      break;
    case KeyFamily::kRsa:
      valid = VerifyRsa(algorithm, signing_input, signature);
      break;
    case KeyFamily::kEcdsa:
      valid = VerifyEcdsa(algorithm, signing_input, signature);
      break;
  }
  // A failed check leaves entries on this thread's OpenSSL error queue; they are not errors
  // of the gateway, so drop them.
  if (!valid) ERR_clear_error();
  return valid;
}

bool VerificationKeys::VerifyHmac(Algorithm algorithm, std::string_view signing_input,
                                  std::string_view signature) const {
  const EVP_MAC_CTX* keyed = hmac_keyed_[IndexOf(algorithm)].get();
  if (keyed == nullptr) return false;
  MacCtxPtr ctx(EVP_MAC_CTX_dup(keyed));
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  if (!ctx ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &mac_len, sizeof mac) != 1) {
    return false;
  }
  // RFC 7518 §3.2: compare in constant time so timing does not reveal how many leading bytes
  // of a forged MAC were right. The length is public (it follows from alg).
  return signature.size() == mac_len && CRYPTO_memcmp(mac, signature.data(), mac_len) == 0;
}

bool VerificationKeys::VerifyRsa(Algorithm algorithm, std::string_view signing_input,
                                 std::string_view signature) const {
  // RFC 8017 §8.1.2 / §8.2.2 step 1: the signature is exactly as long as the modulus.
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(public_key_.get()))) {
    return false;
  }
  return DigestVerify(algorithm, signing_input, signature);
}

bool VerificationKeys::VerifyEcdsa(Algorithm algorithm, std::string_view signing_input,
                                   std::string_view signature) const {
  // RFC 7518 §3.4: R||S, each zero-padded to the curve size; 64 octets for ES256, 96 for
  // ES384. A DER signature or any other length is refused.
  if (signature.size() != 2 * EcdsaHalfLength(algorithm)) return false;
  const std::optional<std::string> der = JoseToDer(signature);
  return der && DigestVerify(algorithm, signing_input, *der);
}

bool VerificationKeys::DigestVerify(Algorithm algorithm, std::string_view signing_input,
                                    std::string_view signature) const {
  const EVP_MD* md = digests_[IndexOf(algorithm)].get();
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // Owned by ctx.
  if (!ctx || md == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, md, nullptr, public_key_.get()) != 1 ||
      !ConfigurePadding(algorithm, md, pkey_ctx)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

}  // namespace herald::auth
