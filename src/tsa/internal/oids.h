#pragma once

// DER contents (no tag, no length) of the object identifiers the TSA writes and reads.

#include <cstdint>
#include <algorithm>
#include <optional>

#include "core/bytes.h"
#include "crypto/digest.h"

namespace autoseal::tsa::oid {

#define AUTOSEAL_OID(name, ...)                               \
  inline constexpr uint8_t name##_bytes[] = {__VA_ARGS__};    \
  inline constexpr ByteView name{name##_bytes, sizeof(name##_bytes)};

// Digests (RFC 5754; GM/T 0006 for SM3) and SHA-1 (recognised only to reject it).
AUTOSEAL_OID(kSha1, 0x2b, 0x0e, 0x03, 0x02, 0x1a)                                    // 1.3.14.3.2.26
AUTOSEAL_OID(kSha256, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01)          // 2.16.840.1.101.3.4.2.1
AUTOSEAL_OID(kSha384, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02)
AUTOSEAL_OID(kSha512, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03)
AUTOSEAL_OID(kSm3, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11)                   // 1.2.156.10197.1.401
// Signature algorithms.
AUTOSEAL_OID(kEcdsaWithSha256, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02)       // 1.2.840.10045.4.3.2
AUTOSEAL_OID(kEcdsaWithSha384, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03)
AUTOSEAL_OID(kEcdsaWithSha512, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04)
AUTOSEAL_OID(kRsaEncryption, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01)   // 1.2.840.113549.1.1.1
AUTOSEAL_OID(kSha256WithRsa, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b)
AUTOSEAL_OID(kSha384WithRsa, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c)
AUTOSEAL_OID(kSha512WithRsa, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d)
AUTOSEAL_OID(kSm2Sign, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x01)         // 1.2.156.10197.1.301.1 (GM/T 0010 sm2-1)
AUTOSEAL_OID(kSm2WithSm3, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75)            // 1.2.156.10197.1.501
// CMS (RFC 5652), PKCS #9, ESS (RFC 2634, 5035), RFC 3161.
AUTOSEAL_OID(kSignedData, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02)      // 1.2.840.113549.1.7.2
AUTOSEAL_OID(kTstInfo, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04)  // 1.2.840.113549.1.9.16.1.4
AUTOSEAL_OID(kContentType, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03)     // 1.2.840.113549.1.9.3
AUTOSEAL_OID(kMessageDigest, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04)   // 1.2.840.113549.1.9.4
AUTOSEAL_OID(kSigningCertificate, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0c)    // ...9.16.2.12
AUTOSEAL_OID(kSigningCertificateV2, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f)  // ...9.16.2.47
#undef AUTOSEAL_OID

inline bool Equal(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The digest an OID names (SHA-1 included), or nullopt.
inline std::optional<crypto::DigestAlgorithm> DigestFromOid(ByteView o) {
  using crypto::DigestAlgorithm;
  if (Equal(o, kSha256)) return DigestAlgorithm::kSha256;
  if (Equal(o, kSha384)) return DigestAlgorithm::kSha384;
  if (Equal(o, kSha512)) return DigestAlgorithm::kSha512;
  if (Equal(o, kSm3)) return DigestAlgorithm::kSm3;
  if (Equal(o, kSha1)) return DigestAlgorithm::kSha1;
  return std::nullopt;
}

inline ByteView OidForDigest(crypto::DigestAlgorithm d) {
  using crypto::DigestAlgorithm;
  switch (d) {
    case DigestAlgorithm::kSha1: return kSha1;
    case DigestAlgorithm::kSha384: return kSha384;
    case DigestAlgorithm::kSha512: return kSha512;
    case DigestAlgorithm::kSm3: return kSm3;
    default: return kSha256;
  }
}

}  // namespace autoseal::tsa::oid
