#pragma once

// Signing and verification contexts initialised once and copied per operation. In OpenSSL 3.0,
// EVP_DigestSignInit / EVP_DigestVerifyInit (provider fetch, key export) cost about as much as a
// P-256 signature; the log signs every SCT with one key and verifies every leaf with a few cached
// issuer keys. Same results as crypto::Sign / crypto::Verify (SM2: SM3 and the standard ID).
// The same technique as tsa/internal/signer.h; both belong in crypto/ once it offers them.
// Private to ct/. Thread-safe after construction (the prototype is only read).

#include <memory>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"

namespace autoseal::ct::internal {

class PrecomputedSigner {
 public:
  static Result<std::shared_ptr<const PrecomputedSigner>> Create(const crypto::PrivateKey& key,
                                                                 crypto::DigestAlgorithm digest);
  ~PrecomputedSigner();
  Result<Bytes> Sign(ByteView data) const;

 private:
  struct State;
  explicit PrecomputedSigner(std::unique_ptr<State> s);
  std::unique_ptr<State> state_;
};

class PrecomputedVerifier {
 public:
  static Result<std::shared_ptr<const PrecomputedVerifier>> Create(const crypto::PublicKey& key,
                                                                   crypto::DigestAlgorithm digest);
  ~PrecomputedVerifier();
  crypto::DigestAlgorithm digest() const;
  // Ok if signature verifies over data; kCrypto otherwise.
  Status Verify(ByteView data, ByteView signature) const;

 private:
  struct State;
  explicit PrecomputedVerifier(std::unique_ptr<State> s);
  std::unique_ptr<State> state_;
};

}  // namespace autoseal::ct::internal
