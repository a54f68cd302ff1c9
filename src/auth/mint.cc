#include <openssl/evp.h>

#include <cstdio>
#include <string>

#include "auth/jwt.h"

namespace herald::auth {
namespace {

// Appends `text` as a JSON string (RFC 8259 §7). `text` is taken to be UTF-8 already.
void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
      out->append(escaped);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendMember(std::string_view name, std::string_view value, std::string* out) {
  out->push_back(',');
  AppendJsonString(name, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

void AppendMember(std::string_view name, std::int64_t value, std::string* out) {
  out->push_back(',');
  AppendJsonString(name, out);
  out->push_back(':');
  out->append(std::to_string(value));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, sizeof mac,
                &mac_len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

}  // namespace

std::string MintHs256(std::string_view secret, std::string_view sub, std::int64_t now_s,
                      std::int64_t ttl_s, std::string_view issuer, std::string_view audience) {
  std::string payload = "{";
  AppendJsonString("sub", &payload);
  payload.push_back(':');
  AppendJsonString(sub, &payload);
  AppendMember("iat", now_s, &payload);
  if (ttl_s > 0) AppendMember("exp", now_s + ttl_s, &payload);
  if (!issuer.empty()) AppendMember("iss", issuer, &payload);
  if (!audience.empty()) AppendMember("aud", audience, &payload);
  payload.push_back('}');

  std::string token = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})");
  token.push_back('.');
  token += Base64UrlEncode(payload);
  const std::string signature = HmacSha256(secret, token);
  token.push_back('.');
  token += Base64UrlEncode(signature);
  return token;
}

}  // namespace herald::auth
