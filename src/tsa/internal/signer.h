#pragma once

// A signer that initialises its OpenSSL signing context once and copies it per signature:
// EVP_DigestSignInit costs about as much as an ECDSA P-256 signature itself in OpenSSL 3.0
// (provider fetch, key export), and the TSA signs with one key forever. Same output as
// crypto::Sign (SM2 with SM3 and the standard ID included). Belongs in crypto/ (proposed as
// crypto::Signer); kept private to tsa/ until then. Thread-safe after construction.

#include <memory>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"

namespace autoseal::tsa::internal {

class PrecomputedSigner {
 public:
  static Result<std::unique_ptr<PrecomputedSigner>> Create(const crypto::PrivateKey& key,
                                                           crypto::DigestAlgorithm digest);
  ~PrecomputedSigner();
  Result<Bytes> Sign(ByteView data) const;

 private:
  struct State;
  explicit PrecomputedSigner(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace autoseal::tsa::internal
