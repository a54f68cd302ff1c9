#include "auth/base64url.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace herald::auth {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::int8_t kInvalid = -1;

constexpr std::array<std::int8_t, 256> MakeDecodeTable() {
  std::array<std::int8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr std::array<std::int8_t, 256> kDecodeTable = MakeDecodeTable();

std::string RandomBytes(std::size_t bytes) {
  std::string out(bytes, '\0');
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1) {
    std::abort();
  }
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t accumulator = 0;
  int bit_count = 0;
  for (unsigned char byte : bytes) {
    accumulator = (accumulator << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out.push_back(kAlphabet[(accumulator >> bit_count) & 0x3F]);
    }
  }
  if (bit_count > 0) out.push_back(kAlphabet[(accumulator << (6 - bit_count)) & 0x3F]);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;

  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bit_count = 0;
  for (char c : text) {
    const std::int8_t value = kDecodeTable[static_cast<unsigned char>(c)];
    if (value == kInvalid) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((accumulator >> bit_count) & 0xFF));
    }
  }

  // The 2 or 4 leftover bits are padding; a canonical encoder leaves them zero.
  if ((accumulator & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

std::string RandomToken(std::size_t bytes) { return Base64UrlEncode(RandomBytes(bytes)); }

std::string RandomHex(std::size_t bytes) {
  constexpr std::string_view kHexDigits = "0123456789abcdef";
  const std::string raw = RandomBytes(bytes);
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char byte : raw) {
    out.push_back(kHexDigits[byte >> 4]);
    out.push_back(kHexDigits[byte & 0x0F]);
  }
  return out;
}

}  // namespace herald::auth
