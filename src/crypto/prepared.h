#pragma once

#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"

namespace autoseal::crypto {

// A signing context initialised once and copied per signature. In OpenSSL 3.0,
// EVP_DigestSignInit (provider fetch, key export) costs about as much as a P-256 signature, so a
// service that signs with one key forever (TSA tokens, SCTs, tree heads) prepares it once.
// Produces exactly what Sign(key, data, digest) produces (SM2: SM3 and the standard ID).
// Immutable after Create; Sign is thread-safe (the prototype is only read).
class PreparedSigner {
 public:
  static Result<std::shared_ptr<const PreparedSigner>> Create(
      const PrivateKey& key, std::optional<DigestAlgorithm> digest = std::nullopt);
  ~PreparedSigner();
  Result<Bytes> Sign(ByteView data) const;
  DigestAlgorithm digest() const;

 private:
  struct State;
  explicit PreparedSigner(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The verifying counterpart: Verify(data, signature) as crypto::Verify does, for keys that verify
// often (issuer keys of a CT log, ACME account keys). Thread-safe.
class PreparedVerifier {
 public:
  static Result<std::shared_ptr<const PreparedVerifier>> Create(
      const PublicKey& key, std::optional<DigestAlgorithm> digest = std::nullopt);
  ~PreparedVerifier();
  // Ok if signature verifies over data; kCrypto "signature does not verify" otherwise.
  Status Verify(ByteView data, ByteView signature) const;
  DigestAlgorithm digest() const;

 private:
  struct State;
  explicit PreparedVerifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace autoseal::crypto
