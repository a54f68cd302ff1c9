#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

// base64url without padding (RFC 4648 §5, as JWS uses it: RFC 7515 §2 and Appendix C).
std::string Base64UrlEncode(std::string_view bytes);

// Strict inverse of Base64UrlEncode. Returns nullopt on any character outside the base64url
// alphabet (including '=' padding and the '+' '/' of plain base64), on a length that no
// encoding can have (4n+1), and on non-zero unused trailing bits, so each byte string has
// exactly one accepted spelling.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// `bytes` bytes from the OpenSSL CSPRNG, base64url-encoded; for generated secrets and keys.
// Note: aborts the process if the CSPRNG fails: a gateway that cannot make strong secrets
// must not hand out weak ones.
std::string RandomToken(std::size_t bytes);

// As RandomToken, but lower-case hex (2 characters per byte).
std::string RandomHex(std::size_t bytes);

}  // namespace herald::auth
