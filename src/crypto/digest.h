#pragma once

#include <memory>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace autoseal::crypto {

// Message digests autoseal uses. kNone is for signature schemes that hash internally (Ed25519).
enum class DigestAlgorithm { kNone, kSha1, kSha256, kSha384, kSha512, kSm3 };

std::string_view DigestName(DigestAlgorithm alg);  // "SHA-256", "SM3", ...
Result<DigestAlgorithm> ParseDigestName(std::string_view name);  // "sha256", "SHA-256", "sm3"
size_t DigestSize(DigestAlgorithm alg);
// The OpenSSL method (nullptr for kNone), fetched from the provider once per process (OpenSSL
// 3.0 fetches a legacy EVP_sha256() again on every init). For crypto/, x509/ and other
// OpenSSL-facing code.
const EVP_MD* EvpMd(DigestAlgorithm alg);

// One-shot digest of data.
Bytes Digest(DigestAlgorithm alg, ByteView data);

// Incremental digest. Not thread-safe; movable.
class Hasher {
 public:
  explicit Hasher(DigestAlgorithm alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  void Update(ByteView data);
  // Returns the digest; the Hasher is then reset for reuse.
  Bytes Finish();

 private:
  DigestAlgorithm alg_;
  EVP_MD_CTX* ctx_;
};

// Cryptographically secure random bytes from OpenSSL's DRBG. kCrypto if it cannot be seeded.
Result<Bytes> RandomBytes(size_t n);

}  // namespace autoseal::crypto
