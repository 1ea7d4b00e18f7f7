#pragma once

// Private to x509/: the DER helpers of core/der.h, and the one x509-specific read the issuance
// fast path needs.

#include <optional>

#include "core/der.h"
#include "crypto/key.h"

namespace autoseal::x509::internal::der {

using namespace ::autoseal::der;

// Classifies a SubjectPublicKeyInfo by its algorithm and parameters alone, as
// crypto::PublicKey::Type() would for the key it encodes: id-ecPublicKey on P-256, P-384 or the
// SM2 curve, rsaEncryption of 2048, 3072 or 4096 bits, Ed25519. nullopt for anything else or
// for malformed DER (the caller then asks OpenSSL).
std::optional<crypto::KeyType> ClassifySubjectPublicKeyInfo(ByteView spki);

}  // namespace autoseal::x509::internal::der
