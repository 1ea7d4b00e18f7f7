#include "x509/internal/der.h"

#include <chrono>

namespace autoseal::x509::internal::der {

namespace {

using namespace std::string_view_literals;

size_t LengthOctets(size_t length) {
  if (length < 0x80) return 1;
  size_t n = 1;
  for (size_t l = length; l > 0; l >>= 8) ++n;
  return n;
}

void PutLength(uint8_t* p, size_t length, size_t octets) {
  if (octets == 1) {
    *p = static_cast<uint8_t>(length);
    return;
  }
  p[0] = static_cast<uint8_t>(0x80 | (octets - 1));
  for (size_t i = octets - 1; i > 0; --i, length >>= 8) p[i] = static_cast<uint8_t>(length);
}

void PutDigits(uint8_t*& p, unsigned value, int digits) {
  for (int i = digits - 1; i >= 0; --i, value /= 10) p[i] = static_cast<uint8_t>('0' + value % 10);
  p += digits;
}

bool OidIs(ByteView contents, std::string_view oid) { return AsString(contents) == oid; }

constexpr std::string_view kIdEcPublicKey = "\x2a\x86\x48\xce\x3d\x02\x01"sv;
constexpr std::string_view kPrime256v1 = "\x2a\x86\x48\xce\x3d\x03\x01\x07"sv;
constexpr std::string_view kSecp384r1 = "\x2b\x81\x04\x00\x22"sv;
constexpr std::string_view kSm2Curve = "\x2a\x81\x1c\xcf\x55\x01\x82\x2d"sv;
constexpr std::string_view kRsaEncryption = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"sv;
constexpr std::string_view kEd25519 = "\x2b\x65\x70"sv;

}  // namespace

size_t EncodedSize(size_t content_length) {
  return 1 + LengthOctets(content_length) + content_length;
}

size_t Writer::Begin(uint8_t tag) {
  out_.push_back(tag);
  out_.push_back(0);  // room for a short-form length; End widens it when needed
  return out_.size();
}

void Writer::End(size_t handle) {
  size_t length = out_.size() - handle;
  size_t octets = LengthOctets(length);
  if (octets > 1) out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(handle), octets - 1, 0);
  PutLength(out_.data() + handle - 1, length, octets);
}

void Writer::Tlv(uint8_t tag, ByteView contents) {
  size_t octets = LengthOctets(contents.size());
  size_t at = out_.size();
  out_.resize(at + 1 + octets);
  out_[at] = tag;
  PutLength(out_.data() + at + 1, contents.size(), octets);
  Raw(contents);
}

void Writer::UnsignedInteger(ByteView magnitude) {
  while (magnitude.size() > 1 && magnitude[0] == 0) magnitude = magnitude.subspan(1);
  if (magnitude.empty() || !(magnitude[0] & 0x80)) {
    if (magnitude.empty()) {
      static constexpr uint8_t kZero = 0;
      Tlv(kInteger, ByteView(&kZero, 1));
    } else {
      Tlv(kInteger, magnitude);
    }
    return;
  }
  size_t h = Begin(kInteger);
  out_.push_back(0);
  Raw(magnitude);
  End(h);
}

void Writer::Boolean(bool value) {
  const uint8_t contents = value ? 0xff : 0x00;  // X.690 §11.1: TRUE is all ones in DER
  Tlv(kBoolean, ByteView(&contents, 1));
}

void Writer::NamedBits(uint32_t bits) {
  uint8_t contents[5] = {0};
  int highest = -1;
  for (int bit = 0; bit < 32; ++bit) {
    if (!(bits & (1u << bit))) continue;
    highest = bit;
    contents[1 + bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  }
  if (highest < 0) {
    Tlv(kBitString, ByteView(contents, 1));
    return;
  }
  size_t octets = static_cast<size_t>(highest / 8 + 1);
  contents[0] = static_cast<uint8_t>(7 - highest % 8);  // unused bits in the last octet
  Tlv(kBitString, ByteView(contents, 1 + octets));
}

Status Writer::Time(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd(day);
  const hh_mm_ss hms(secs - day);
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999)
    return Fail(ErrorCode::kInvalidArgument, "certificate time outside years 0000-9999");
  const bool utc = year >= 1950 && year <= 2049;
  uint8_t text[15];
  uint8_t* p = text;
  if (utc)
    PutDigits(p, static_cast<unsigned>(year % 100), 2);
  else
    PutDigits(p, static_cast<unsigned>(year), 4);
  PutDigits(p, static_cast<unsigned>(ymd.month()), 2);
  PutDigits(p, static_cast<unsigned>(ymd.day()), 2);
  PutDigits(p, static_cast<unsigned>(hms.hours().count()), 2);
  PutDigits(p, static_cast<unsigned>(hms.minutes().count()), 2);
  PutDigits(p, static_cast<unsigned>(hms.seconds().count()), 2);
  *p++ = 'Z';
  Tlv(utc ? kUtcTime : kGeneralizedTime, ByteView(text, static_cast<size_t>(p - text)));
  return Ok();
}

std::optional<Element> ReadElement(ByteView input) {
  if (input.size() < 2 || (input[0] & 0x1f) == 0x1f) return std::nullopt;
  size_t pos = 2, length = input[1];
  if (length & 0x80) {
    size_t octets = length & 0x7f;
    if (octets == 0 || octets > sizeof(size_t) || input.size() < 2 + octets || input[2] == 0)
      return std::nullopt;
    length = 0;
    for (size_t i = 0; i < octets; ++i) length = (length << 8) | input[2 + i];
    if (length < 0x80) return std::nullopt;  // not minimal
    pos += octets;
  }
  if (input.size() - pos < length) return std::nullopt;
  return Element{input[0], input.subspan(pos, length), input.subspan(pos + length)};
}

std::optional<crypto::KeyType> ClassifySubjectPublicKeyInfo(ByteView spki) {
  auto outer = ReadElement(spki);
  if (!outer || outer->tag != kSequence || !outer->rest.empty()) return std::nullopt;
  auto alg = ReadElement(outer->contents);
  if (!alg || alg->tag != kSequence) return std::nullopt;
  auto key = ReadElement(alg->rest);
  if (!key || key->tag != kBitString || !key->rest.empty() || key->contents.empty() ||
      key->contents[0] != 0)
    return std::nullopt;
  auto oid = ReadElement(alg->contents);
  if (!oid || oid->tag != kOid) return std::nullopt;
  auto params = oid->rest.empty() ? std::nullopt : ReadElement(oid->rest);
  if (params && !params->rest.empty()) return std::nullopt;

  if (OidIs(oid->contents, kIdEcPublicKey)) {
    if (!params || params->tag != kOid) return std::nullopt;  // named curves only
    if (OidIs(params->contents, kPrime256v1)) return crypto::KeyType::kEcdsaP256;
    if (OidIs(params->contents, kSecp384r1)) return crypto::KeyType::kEcdsaP384;
    if (OidIs(params->contents, kSm2Curve)) return crypto::KeyType::kSm2;
    return std::nullopt;
  }
  if (OidIs(oid->contents, kEd25519)) {
    if (params) return std::nullopt;
    return crypto::KeyType::kEd25519;
  }
  if (OidIs(oid->contents, kRsaEncryption)) {
    if (!params || params->tag != kNull || !params->contents.empty()) return std::nullopt;
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 §A.1.1)
    auto rsa = ReadElement(key->contents.subspan(1));
    if (!rsa || rsa->tag != kSequence || !rsa->rest.empty()) return std::nullopt;
    auto n = ReadElement(rsa->contents);
    if (!n || n->tag != kInteger || n->contents.size() < 2) return std::nullopt;
    ByteView m = n->contents;
    if (m[0] & 0x80) return std::nullopt;  // negative
    if (m[0] == 0) {
      if (!(m[1] & 0x80)) return std::nullopt;  // not minimal
      m = m.subspan(1);
    }
    int bits = static_cast<int>(m.size()) * 8;
    for (uint8_t top = m[0]; !(top & 0x80); top = static_cast<uint8_t>(top << 1)) --bits;
    switch (bits) {
      case 2048: return crypto::KeyType::kRsa2048;
      case 3072: return crypto::KeyType::kRsa3072;
      case 4096: return crypto::KeyType::kRsa4096;
    }
  }
  return std::nullopt;
}

}  // namespace autoseal::x509::internal::der
