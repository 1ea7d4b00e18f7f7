#pragma once

// OpenSSL-facing: digest-sign/verify contexts configured per algorithm (SM2 ID included), for
// code that hands an EVP_MD_CTX to OpenSSL (X509_sign_ctx, X509_CRL_sign_ctx, CMS).

#include "crypto/digest.h"
#include "crypto/key.h"
#include "crypto/ossl.h"

namespace autoseal::crypto {

// Owns an EVP_MD_CTX initialised for signing or verifying, and, for SM2, the EVP_PKEY_CTX that
// carries the ID (EVP_MD_CTX_set_pkey_ctx does not transfer ownership). Destroys mctx first.
struct DigestContext {
  EvpPkeyCtxPtr pkey_ctx;  // only set for SM2
  EvpMdCtxPtr md_ctx;
};

// Initialises a signing context with the key's default digest (or the given one).
Result<DigestContext> NewSignContext(const PrivateKey& key,
                                     std::optional<DigestAlgorithm> digest = std::nullopt);
// Initialises a verification context likewise.
Result<DigestContext> NewVerifyContext(const PublicKey& key,
                                       std::optional<DigestAlgorithm> digest = std::nullopt);

// A new ASN1_OCTET_STRING holding kSm2DefaultId, for X509_set0_distinguishing_id and friends.
Asn1OctetStringPtr NewSm2IdOctetString();

}  // namespace autoseal::crypto
