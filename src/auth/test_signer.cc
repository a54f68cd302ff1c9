#include "auth/test_signer.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>
#include <vector>

namespace herald::auth::testing {
namespace {

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

std::string DigestSign(EVP_PKEY* key, const char* digest, bool pss, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  Check(EVP_DigestSignInit_ex(ctx.get(), &pkey_ctx, digest, nullptr, nullptr, key, nullptr) == 1,
        "DigestSignInit");
  if (pss) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) == 1, "pss");
    Check(EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST) == 1, "saltlen");
  }
  std::size_t len = 0;
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, Bytes(input), input.size()) == 1, "size");
  std::string out(len, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, Bytes(input),
                       input.size()) == 1,
        "DigestSign");
  out.resize(len);
  return out;
}

std::string DerToJose(const std::string& der, std::size_t half_len) {
  const unsigned char* p = Bytes(der);
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free);
  Check(sig != nullptr, "d2i_ECDSA_SIG");
  std::string out(2 * half_len, '\0');
  auto* raw = reinterpret_cast<unsigned char*>(out.data());
  Check(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, static_cast<int>(half_len)) > 0, "r");
  Check(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + half_len, static_cast<int>(half_len)) > 0,
        "s");
  return out;
}

}  // namespace

KeyPtr GenerateRsaKey(unsigned bits) {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
  Check(key != nullptr, "RSA keygen");
  return key;
}

KeyPtr GenerateEcKey(const char* curve) {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  Check(key != nullptr, "EC keygen");
  return key;
}

std::string PublicKeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  Check(PEM_write_bio_PUBKEY(bio.get(), key) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string EncodeB64Url(std::string_view bytes) {
  std::vector<unsigned char> out(4 * ((bytes.size() + 2) / 3) + 1);
  const int len = EVP_EncodeBlock(out.data(), Bytes(bytes), static_cast<int>(bytes.size()));
  std::string text(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(len));
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

std::string DecodeB64Url(std::string_view text) {
  std::string padded(text);
  for (char& c : padded) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  const std::size_t pad = (4 - padded.size() % 4) % 4;
  padded.append(pad, '=');
  std::vector<unsigned char> out(padded.size() / 4 * 3 + 3);
  const int len = EVP_DecodeBlock(out.data(), Bytes(padded), static_cast<int>(padded.size()));
  Check(len >= 0, "EVP_DecodeBlock");
  // EVP_DecodeBlock counts the padding as zero bytes.
  return std::string(reinterpret_cast<const char*>(out.data()),
                     static_cast<std::size_t>(len) - pad);
}

Signer HmacSigner(std::string secret, const char* digest) {
  return [secret = std::move(secret), digest](std::string_view input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    Check(HMAC(EVP_get_digestbyname(digest), secret.data(), static_cast<int>(secret.size()),
               Bytes(input), input.size(), mac, &len) != nullptr,
          "HMAC");
    return std::string(reinterpret_cast<const char*>(mac), len);
  };
}

Signer RsaSigner(EVP_PKEY* key, const char* digest, bool pss) {
  return [=](std::string_view input) { return DigestSign(key, digest, pss, input); };
}

Signer EcdsaSigner(EVP_PKEY* key, const char* digest, std::size_t half_len) {
  return [=](std::string_view input) {
    return DerToJose(DigestSign(key, digest, false, input), half_len);
  };
}

Signer DerEcdsaSigner(EVP_PKEY* key, const char* digest) {
  return [=](std::string_view input) { return DigestSign(key, digest, false, input); };
}

std::string MakeToken(std::string_view header_json, std::string_view payload_json,
                      const Signer& sign) {
  std::string token = EncodeB64Url(header_json) + "." + EncodeB64Url(payload_json);
  const std::string signature = sign(token);
  return token + "." + EncodeB64Url(signature);
}

}  // namespace herald::auth::testing
