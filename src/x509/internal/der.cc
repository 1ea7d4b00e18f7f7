#include "x509/internal/der.h"

namespace autoseal::x509::internal::der {

namespace {

using namespace std::string_view_literals;

bool OidIs(ByteView contents, std::string_view oid) { return AsString(contents) == oid; }

constexpr std::string_view kIdEcPublicKey = "\x2a\x86\x48\xce\x3d\x02\x01"sv;
constexpr std::string_view kPrime256v1 = "\x2a\x86\x48\xce\x3d\x03\x01\x07"sv;
constexpr std::string_view kSecp384r1 = "\x2b\x81\x04\x00\x22"sv;
constexpr std::string_view kSm2Curve = "\x2a\x81\x1c\xcf\x55\x01\x82\x2d"sv;
constexpr std::string_view kRsaEncryption = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"sv;
constexpr std::string_view kEd25519 = "\x2b\x65\x70"sv;

}  // namespace

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
