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

// When a PreparedVerifier for an ECDSA P-256 key builds its fixed-base table for the key: ~150 KB
// and 30–40 ms of CPU once (as much as ~400 verifications), after which a verification costs ~40%
// of one through EVP (bench/crypto_bench.cc; docs/PERFORMANCE.md "Signature verification").
enum class VerifyTablePolicy {
  // Lazily, right after the key's 1,000th successful verification, which takes 30–40 ms longer
  // (one thread builds; the others keep verifying without the table meanwhile). Failed
  // verifications do not count, so a sender of forged signatures cannot make a key build one. By then the key has spent
  // about what the table costs, so building it never costs more than twice the better choice in
  // hindsight; keys used a few times (most ACME accounts) never pay for it.
  kAfterRepeatedUse,
  kNow,    // at Create (the caller knows the key will verify often); lazily if over budget
  kNever,  // never; P-256 still takes the direct path below, without the table
};

// The verifying counterpart: Verify(data, signature) as crypto::Verify does, for keys that verify
// often (issuer keys of a CT log, ACME account keys). Thread-safe.
//
// ECDSA P-256 keys do not go through EVP: the verifier hashes, then checks SEC1 §4.1.4 itself
// with OpenSSL's EC arithmetic, u1·G from OpenSSL's built-in table for G and u2·Q from a table of
// multiples of Q (EC_GROUP_precompute_mult on a copy of the group whose generator is Q). Its
// verdicts equal OpenSSL's (tests/crypto/p256_verify_test.cc, tests/fuzz/p256_verify_fuzz.cc).
// Table policy: built as `table_policy` says, and never more than 256 tables (~38 MB) alive in
// the process at once; a key that finds the budget spent verifies without a table (about as fast
// as EVP) and tries again 1,000 verifications later. A table lives as long as its verifier, so
// callers bound memory by bounding how many verifiers they keep. All other keys (P-384, P-521,
// RSA, SM2, Ed25519) verify through EVP exactly as before.
class PreparedVerifier {
 public:
  // kPolicy if digest is not allowed with key (CheckDigestForKey); other errors from OpenSSL.
  static Result<std::shared_ptr<const PreparedVerifier>> Create(
      const PublicKey& key, std::optional<DigestAlgorithm> digest = std::nullopt,
      VerifyTablePolicy table_policy = VerifyTablePolicy::kAfterRepeatedUse);
  ~PreparedVerifier();
  // Ok if signature verifies over data; kCrypto "signature does not verify" otherwise.
  Status Verify(ByteView data, ByteView signature) const;
  // The same for an ECDSA signature in the fixed-width r||s form of JWS (RFC 7518 §3.4): 64
  // bytes for P-256, 96 for P-384, 132 for P-521; any other length does not verify. P-256 skips
  // the DER round trip. kInvalidArgument for keys that are not ECDSA.
  Status VerifyEcdsaRaw(ByteView data, ByteView raw_signature) const;
  DigestAlgorithm digest() const;
  // Whether verification takes the P-256 path, and whether its table is built (tests, benchmark).
  bool IsP256() const;
  bool HasP256Table() const;

 private:
  struct State;
  explicit PreparedVerifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace autoseal::crypto
