// Differential fuzzing of PreparedVerifier's ECDSA P-256 path against OpenSSL's EVP verification
// (crypto::Verify): for every input, both verdicts must be equal. Input layout:
//   byte 0   flags: bits 0-1 key (d = 1, 2, n-1, a fixed random scalar; the last verifies with
//            its fixed-base table), bit 2 signature in JWS r||s form (VerifyEcdsaRaw), bit 3
//            sign the message first and XOR the signature bytes below into that signature,
//            bits 4-5 digest (SHA-256, SHA-384, SHA-512, SHA-256)
//   byte 1   message length L (cut to what is left), then L bytes of message
//   rest     the signature (DER Ecdsa-Sig-Value, or r||s with bit 2), or the XOR mask (bit 3)
// Seeds: tests/fuzz/corpus/make_p256_verify_corpus.sh (valid signatures made by `openssl dgst`),
// plus what a 7-minute libFuzzer run (1.3 M inputs, no disagreement) added, named by hash.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "crypto/prepared.h"
#include "crypto/signature.h"

using namespace autoseal;
using namespace autoseal::crypto;

namespace {

// SEC1 ECPrivateKey without the public key (OpenSSL derives it) for d = 1, 2, n-1 and
// SHA-256("p256_verify_fuzz") mod n.
constexpr const char* kKeys[4] = {
    "MDECAQEEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABoAoGCCqGSM49AwEH",
    "MDECAQEEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACoAoGCCqGSM49AwEH",
    "MDECAQEEIP////8AAAAA//////////+85vqtpxeehPO5ysL8YyVQoAoGCCqGSM49AwEH",
    "MDECAQEEIElu2TvTlvQRcYWzx1EWv5IaIOuJZehtCNN/zD4pQl96oAoGCCqGSM49AwEH",
};
constexpr DigestAlgorithm kDigests[4] = {DigestAlgorithm::kSha256, DigestAlgorithm::kSha384,
                                        DigestAlgorithm::kSha512, DigestAlgorithm::kSha256};

struct Fixture {
  std::unique_ptr<PrivateKey> keys[4];
  std::shared_ptr<const PreparedVerifier> verifiers[4][4];  // [key][digest]
};

const Fixture& GetFixture() {
  static const Fixture* f = [] {
    auto* out = new Fixture;
    for (int k = 0; k < 4; ++k) {
      auto key = PrivateKey::FromPem(std::string("-----BEGIN EC PRIVATE KEY-----\n") + kKeys[k] +
                                     "\n-----END EC PRIVATE KEY-----\n");
      CHECK(key.has_value());
      out->keys[k] = std::make_unique<PrivateKey>(*key);
      for (int d = 0; d < 4; ++d) {
        // One table (key 3, SHA-256) keeps start-up cheap; the others verify without one.
        auto policy = k == 3 && d == 0 ? VerifyTablePolicy::kNow : VerifyTablePolicy::kNever;
        auto v = PreparedVerifier::Create(key->Public(), kDigests[d], policy);
        CHECK(v.has_value() && (*v)->IsP256());
        out->verifiers[k][d] = *v;
      }
    }
    CHECK(out->verifiers[3][0]->HasP256Table());
    return out;
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const Fixture& f = GetFixture();
  uint8_t flags = data[0];
  int key = flags & 3, digest = (flags >> 4) & 3;
  bool raw_form = flags & 4, sign_first = flags & 8;
  size_t msg_len = std::min<size_t>(data[1], size - 2);
  ByteView msg(data + 2, msg_len);
  ByteView rest(data + 2 + msg_len, size - 2 - msg_len);
  const PrivateKey& priv = *f.keys[key];
  const PreparedVerifier& verifier = *f.verifiers[key][digest];

  Bytes sig(rest.begin(), rest.end());
  if (sign_first) {
    auto signed_der = Sign(priv, msg, kDigests[digest]);
    CHECK(signed_der.has_value());
    sig = *signed_der;
    if (raw_form) sig = *EcdsaSignatureToRaw(sig, 32);
    for (size_t i = 0; i < rest.size() && i < sig.size(); ++i) sig[i] ^= rest[i];
  }

  bool ours, evp;
  if (raw_form) {
    ours = verifier.VerifyEcdsaRaw(msg, sig).has_value();
    // What ACME did before: only 64-byte r||s reaches OpenSSL, as DER.
    auto der = sig.size() == 64 ? EcdsaSignatureFromRaw(sig) : Result<Bytes>(Fail(ErrorCode::kParse, "length"));
    evp = der && Verify(priv.Public(), msg, *der, kDigests[digest]).has_value();
  } else {
    ours = verifier.Verify(msg, sig).has_value();
    evp = Verify(priv.Public(), msg, sig, kDigests[digest]).has_value();
  }
  CHECK(ours == evp);
  // Unmodified fresh signatures always verify.
  if (sign_first && rest.empty()) CHECK(ours);
  return 0;
}
