#pragma once

// DER contents (no tag, no length) of the object identifiers the CMS layer writes and reads.
// Private to smime/.

#include <algorithm>
#include <cstdint>

#include "core/bytes.h"

namespace autoseal::smime::oid {

#define AUTOSEAL_SMIME_OID(name, ...)                      \
  inline constexpr uint8_t name##_bytes[] = {__VA_ARGS__}; \
  inline constexpr ByteView name{name##_bytes, sizeof(name##_bytes)};

#define PKCS 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01
#define NIST 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04
#define GM 0x2a, 0x81, 0x1c, 0xcf, 0x55

// Content types: RFC 5652 §4-§6, RFC 5083 §1, RFC 3161 §2.4.2, GM/T 0010-2012 §5.
AUTOSEAL_SMIME_OID(kData, PKCS, 0x07, 0x01)                       // 1.2.840.113549.1.7.1
AUTOSEAL_SMIME_OID(kSignedData, PKCS, 0x07, 0x02)                 // 1.2.840.113549.1.7.2
AUTOSEAL_SMIME_OID(kEnvelopedData, PKCS, 0x07, 0x03)              // 1.2.840.113549.1.7.3
AUTOSEAL_SMIME_OID(kAuthEnvelopedData, PKCS, 0x09, 0x10, 0x01, 0x17)  // 1.2.840.113549.1.9.16.1.23
AUTOSEAL_SMIME_OID(kTstInfo, PKCS, 0x09, 0x10, 0x01, 0x04)        // 1.2.840.113549.1.9.16.1.4
AUTOSEAL_SMIME_OID(kGmData, GM, 0x06, 0x01, 0x04, 0x02, 0x01)     // 1.2.156.10197.6.1.4.2.1
AUTOSEAL_SMIME_OID(kGmSignedData, GM, 0x06, 0x01, 0x04, 0x02, 0x02)     // 1.2.156.10197.6.1.4.2.2
AUTOSEAL_SMIME_OID(kGmEnvelopedData, GM, 0x06, 0x01, 0x04, 0x02, 0x03)  // 1.2.156.10197.6.1.4.2.3

// Attributes: PKCS #9 (RFC 2985), RFC 8551 §2.5.2, RFC 5035, RFC 3161 Appendix A.
AUTOSEAL_SMIME_OID(kContentType, PKCS, 0x09, 0x03)                // 1.2.840.113549.1.9.3
AUTOSEAL_SMIME_OID(kMessageDigest, PKCS, 0x09, 0x04)              // 1.2.840.113549.1.9.4
AUTOSEAL_SMIME_OID(kSigningTime, PKCS, 0x09, 0x05)                // 1.2.840.113549.1.9.5
AUTOSEAL_SMIME_OID(kSmimeCapabilities, PKCS, 0x09, 0x0f)          // 1.2.840.113549.1.9.15
AUTOSEAL_SMIME_OID(kSigningCertificateV2, PKCS, 0x09, 0x10, 0x02, 0x2f)  // 1.2.840.113549.1.9.16.2.47
AUTOSEAL_SMIME_OID(kTimeStampToken, PKCS, 0x09, 0x10, 0x02, 0x0e)  // 1.2.840.113549.1.9.16.2.14

// Digests (RFC 5754; GM/T 0006 for SM3).
AUTOSEAL_SMIME_OID(kSha1, 0x2b, 0x0e, 0x03, 0x02, 0x1a)           // 1.3.14.3.2.26
AUTOSEAL_SMIME_OID(kSha256, NIST, 0x02, 0x01)                     // 2.16.840.1.101.3.4.2.1
AUTOSEAL_SMIME_OID(kSha384, NIST, 0x02, 0x02)
AUTOSEAL_SMIME_OID(kSha512, NIST, 0x02, 0x03)
AUTOSEAL_SMIME_OID(kSm3, GM, 0x01, 0x83, 0x11)                    // 1.2.156.10197.1.401

// Signature and key algorithms.
AUTOSEAL_SMIME_OID(kRsaEncryption, PKCS, 0x01, 0x01)              // 1.2.840.113549.1.1.1
AUTOSEAL_SMIME_OID(kRsaesOaep, PKCS, 0x01, 0x07)                  // 1.2.840.113549.1.1.7
AUTOSEAL_SMIME_OID(kMgf1, PKCS, 0x01, 0x08)                       // 1.2.840.113549.1.1.8
AUTOSEAL_SMIME_OID(kRsassaPss, PKCS, 0x01, 0x0a)                  // 1.2.840.113549.1.1.10
AUTOSEAL_SMIME_OID(kSha256WithRsa, PKCS, 0x01, 0x0b)
AUTOSEAL_SMIME_OID(kSha384WithRsa, PKCS, 0x01, 0x0c)
AUTOSEAL_SMIME_OID(kSha512WithRsa, PKCS, 0x01, 0x0d)
AUTOSEAL_SMIME_OID(kEcPublicKey, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01)  // 1.2.840.10045.2.1
AUTOSEAL_SMIME_OID(kEcdsaWithSha256, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02)
AUTOSEAL_SMIME_OID(kEcdsaWithSha384, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03)
AUTOSEAL_SMIME_OID(kEcdsaWithSha512, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04)
AUTOSEAL_SMIME_OID(kEd25519, 0x2b, 0x65, 0x70)                    // 1.3.101.112
AUTOSEAL_SMIME_OID(kSm2Curve, GM, 0x01, 0x82, 0x2d)               // 1.2.156.10197.1.301
AUTOSEAL_SMIME_OID(kSm2Sign, GM, 0x01, 0x82, 0x2d, 0x01)          // 1.2.156.10197.1.301.1 (sm2-1)
AUTOSEAL_SMIME_OID(kSm2Encrypt, GM, 0x01, 0x82, 0x2d, 0x03)       // 1.2.156.10197.1.301.3 (sm2-3)
AUTOSEAL_SMIME_OID(kSm2WithSm3, GM, 0x01, 0x83, 0x75)             // 1.2.156.10197.1.501

// ECDH key agreement schemes (RFC 5753 §7.1.4, SEC 1).
AUTOSEAL_SMIME_OID(kEcdhSha1Kdf, 0x2b, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3f, 0x00, 0x02)  // 1.3.133.16.840.63.0.2
AUTOSEAL_SMIME_OID(kEcdhSha224Kdf, 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x00)  // 1.3.132.1.11.0
AUTOSEAL_SMIME_OID(kEcdhSha256Kdf, 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x01)  // 1.3.132.1.11.1
AUTOSEAL_SMIME_OID(kEcdhSha384Kdf, 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x02)  // 1.3.132.1.11.2
AUTOSEAL_SMIME_OID(kEcdhSha512Kdf, 0x2b, 0x81, 0x04, 0x01, 0x0b, 0x03)  // 1.3.132.1.11.3

// Content ciphers and key wrap (RFC 3565, RFC 5084, RFC 3394; GM/T 0006 for SM4).
AUTOSEAL_SMIME_OID(kAes128Cbc, NIST, 0x01, 0x02)                  // 2.16.840.1.101.3.4.1.2
AUTOSEAL_SMIME_OID(kAes192Cbc, NIST, 0x01, 0x16)
AUTOSEAL_SMIME_OID(kAes256Cbc, NIST, 0x01, 0x2a)
AUTOSEAL_SMIME_OID(kAes128Gcm, NIST, 0x01, 0x06)
AUTOSEAL_SMIME_OID(kAes192Gcm, NIST, 0x01, 0x1a)
AUTOSEAL_SMIME_OID(kAes256Gcm, NIST, 0x01, 0x2e)
AUTOSEAL_SMIME_OID(kAes128Wrap, NIST, 0x01, 0x05)
AUTOSEAL_SMIME_OID(kAes192Wrap, NIST, 0x01, 0x19)
AUTOSEAL_SMIME_OID(kAes256Wrap, NIST, 0x01, 0x2d)
AUTOSEAL_SMIME_OID(kSm4Cbc, GM, 0x01, 0x68, 0x02)                 // 1.2.156.10197.1.104.2

#undef GM
#undef NIST
#undef PKCS
#undef AUTOSEAL_SMIME_OID

inline bool Equal(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace autoseal::smime::oid
