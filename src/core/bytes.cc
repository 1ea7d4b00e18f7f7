#include "core/bytes.h"

#include <array>

namespace autoseal {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::array<int8_t, 256> DecodeTable(const char* alphabet) {
  std::array<int8_t, 256> t;
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}

std::string Encode64(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Decodes groups of 4 symbols (the caller has removed padding and whitespace).
Result<Bytes> Decode64(std::string_view symbols, const std::array<int8_t, 256>& table) {
  if (symbols.size() % 4 == 1) return Fail(ErrorCode::kParse, "base64: truncated input");
  Bytes out;
  out.reserve(symbols.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : symbols) {
    int v = table[static_cast<uint8_t>(c)];
    if (v < 0) return Fail(ErrorCode::kParse, "base64: invalid character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  // RFC 4648 §3.5: the unused bits of the last symbol must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return Fail(ErrorCode::kParse, "base64: non-canonical trailing bits");
  return out;
}

}  // namespace

std::string HexEncode(ByteView data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out += kHexDigits[b >> 4];
    out += kHexDigits[b & 15];
  }
  return out;
}

Result<Bytes> HexDecode(std::string_view hex) {
  Bytes out;
  size_t i = 0;
  while (i < hex.size()) {
    if (hex[i] == ':' && !out.empty()) {
      ++i;
      continue;
    }
    if (i + 1 >= hex.size()) return Fail(ErrorCode::kParse, "hex: odd number of digits");
    int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return Fail(ErrorCode::kParse, "hex: invalid digit");
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

std::string Base64Encode(ByteView data) { return Encode64(data, kB64, true); }

Result<Bytes> Base64Decode(std::string_view text) {
  static const auto table = DecodeTable(kB64);
  std::string symbols;
  symbols.reserve(text.size());
  size_t padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return Fail(ErrorCode::kParse, "base64: data after padding");
    symbols += c;
  }
  if (padding > 2 || (padding > 0 && (symbols.size() + padding) % 4 != 0))
    return Fail(ErrorCode::kParse, "base64: bad padding");
  if (padding == 0 && symbols.size() % 4 != 0)
    return Fail(ErrorCode::kParse, "base64: missing padding");
  return Decode64(symbols, table);
}

std::string Base64UrlEncode(ByteView data) { return Encode64(data, kB64Url, false); }

Result<Bytes> Base64UrlDecode(std::string_view text) {
  static const auto table = DecodeTable(kB64Url);
  return Decode64(text, table);
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace autoseal
