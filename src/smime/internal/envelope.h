#pragma once

// OpenSSL primitives for EnvelopedData / AuthEnvelopedData: content ciphers fetched once, the
// ANSI X9.63 KDF of RFC 5753, AES key wrap (RFC 3394), and the prepared recipient state.
// Private to smime/.

#include <optional>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/ossl.h"
#include "smime/cms.h"

namespace autoseal::smime::internal {

// The EVP cipher for a content cipher, fetched on first use and kept (thread-safe). kUnsupported,
// naming the cipher, when the loaded providers lack it (SM4 in some builds).
Result<const EVP_CIPHER*> EvpCipher(ContentCipher c);
// AES-{128,192,256}-WRAP for a KEK length (16, 24, 32), fetched on first use.
Result<const EVP_CIPHER*> EvpWrapCipher(size_t kek_length);

// RFC 5753 §7.2 / SEC 1 §3.6.1 (ANSI X9.63) KDF: Hash(Z || counter || SharedInfo) blocks.
Bytes X963Kdf(crypto::DigestAlgorithm digest, ByteView z, ByteView shared_info, size_t length);
// ECC-CMS-SharedInfo DER (RFC 5753 §7.2): keyInfo = the wrap AlgorithmIdentifier, optional
// entityUInfo (ukm), suppPubInfo = KEK length in bits.
Bytes EccCmsSharedInfo(ByteView wrap_algorithm, std::optional<ByteView> ukm, size_t kek_length);

// AES key wrap without padding (RFC 3394). kCrypto on failure (unwrap: integrity check failed).
Result<Bytes> AesWrap(ByteView kek, ByteView key);
Result<Bytes> AesUnwrap(ByteView kek, ByteView wrapped);

// ECDH of our (private or ephemeral) key with a peer public key: the shared x coordinate Z.
Result<Bytes> EcdhDerive(EVP_PKEY* ours, EVP_PKEY* peer);

}  // namespace autoseal::smime::internal

namespace autoseal::smime {

struct PreparedRecipient::State {
  Recipient recipient;
  crypto::KeyFamily family = crypto::KeyFamily::kRsa;
  Bytes rid;                        // IssuerAndSerialNumber DER
  // Prototypes, only ever duplicated (EVP_PKEY_CTX_dup), so Create's result is shareable.
  crypto::EvpPkeyCtxPtr pkcs1;      // RSA: initialised for PKCS#1 v1.5 encryption
  crypto::EvpPkeyCtxPtr oaep;       // RSA: initialised for OAEP SHA-256 encryption
  crypto::EvpPkeyCtxPtr sm2;        // SM2: initialised for encryption
};

}  // namespace autoseal::smime
