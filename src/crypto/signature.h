#pragma once

#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"

namespace autoseal::crypto {

// The SM2 signer ID every autoseal SM2 signature and verification uses (GM/T 0009 default).
// OpenSSL 3.0's own default is empty, so it is always set explicitly.
inline constexpr std::string_view kSm2DefaultId = "1234567812345678";

// The digest a key signs with unless told otherwise: RSA and P-256 → SHA-256, P-384 → SHA-384,
// SM2 → SM3, Ed25519 → none (pure EdDSA).
DigestAlgorithm DefaultDigest(const PublicKey& key);

// Checks that digest is allowed with key: SM2 only with SM3 (and SM3 only with SM2), Ed25519 only
// with kNone. kPolicy otherwise.
Status CheckDigestForKey(const PublicKey& key, DigestAlgorithm digest);

// Signs data: RSA PKCS#1 v1.5, ECDSA (DER Ecdsa-Sig-Value), Ed25519, or SM2 with SM3 and the
// ID 1234567812345678. Thread-safe. kCrypto with OpenSSL's text on failure.
Result<Bytes> Sign(const PrivateKey& key, ByteView data,
                   std::optional<DigestAlgorithm> digest = std::nullopt);

// Verifies a signature made as by Sign. Ok if valid, kCrypto "signature does not verify" if not.
Status Verify(const PublicKey& key, ByteView data, ByteView signature,
              std::optional<DigestAlgorithm> digest = std::nullopt);

// Converts an ECDSA signature between DER (Ecdsa-Sig-Value, what OpenSSL produces) and the
// fixed-size r||s form JWS uses (RFC 7518 §3.4), field_bytes per integer (32, 48, 66).
Result<Bytes> EcdsaSignatureToRaw(ByteView der, size_t field_bytes);
Result<Bytes> EcdsaSignatureFromRaw(ByteView raw);

// HMAC-SHA-256 (JWS HS256, RFC 7518 §3.2; ACME External Account Binding).
Bytes HmacSha256(ByteView key, ByteView data);

}  // namespace autoseal::crypto
