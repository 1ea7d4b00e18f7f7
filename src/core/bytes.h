#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace autoseal {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Lower-case hex of the bytes.
std::string HexEncode(ByteView data);
// Accepts upper or lower case; optional ':' separators between bytes. kParse on anything else.
Result<Bytes> HexDecode(std::string_view hex);

// RFC 4648 §4 base64 with padding.
std::string Base64Encode(ByteView data);
// Strict RFC 4648 §4 decoding; ignores ASCII whitespace (PEM bodies). kParse on bad input.
Result<Bytes> Base64Decode(std::string_view text);
// RFC 4648 §5 base64url without padding (JOSE, RFC 7515 §2).
std::string Base64UrlEncode(ByteView data);
// Rejects padding, whitespace and non-alphabet characters.
Result<Bytes> Base64UrlDecode(std::string_view text);

// Compares in time independent of where the inputs differ (length is not secret).
bool ConstantTimeEqual(ByteView a, ByteView b);

}  // namespace autoseal
