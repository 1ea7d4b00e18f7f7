#include "crypto/digest.h"

#include <array>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/ossl.h"

namespace autoseal::crypto {

std::string_view DigestName(DigestAlgorithm alg) {
  switch (alg) {
    case DigestAlgorithm::kNone: return "none";
    case DigestAlgorithm::kSha1: return "SHA-1";
    case DigestAlgorithm::kSha256: return "SHA-256";
    case DigestAlgorithm::kSha384: return "SHA-384";
    case DigestAlgorithm::kSha512: return "SHA-512";
    case DigestAlgorithm::kSm3: return "SM3";
  }
  return "unknown";
}

Result<DigestAlgorithm> ParseDigestName(std::string_view name) {
  std::string n;
  for (char c : name)
    if (c != '-' && c != '_') n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "sha1") return DigestAlgorithm::kSha1;
  if (n == "sha256") return DigestAlgorithm::kSha256;
  if (n == "sha384") return DigestAlgorithm::kSha384;
  if (n == "sha512") return DigestAlgorithm::kSha512;
  if (n == "sm3") return DigestAlgorithm::kSm3;
  return Fail(ErrorCode::kInvalidArgument, "unknown digest '" + std::string(name) + "'");
}

size_t DigestSize(DigestAlgorithm alg) {
  switch (alg) {
    case DigestAlgorithm::kNone: return 0;
    case DigestAlgorithm::kSha1: return 20;
    case DigestAlgorithm::kSha256: return 32;
    case DigestAlgorithm::kSha384: return 48;
    case DigestAlgorithm::kSha512: return 64;
    case DigestAlgorithm::kSm3: return 32;
  }
  return 0;
}

namespace {

const EVP_MD* LegacyMd(DigestAlgorithm alg) {
  switch (alg) {
    case DigestAlgorithm::kNone: return nullptr;
    case DigestAlgorithm::kSha1: return EVP_sha1();
    case DigestAlgorithm::kSha256: return EVP_sha256();
    case DigestAlgorithm::kSha384: return EVP_sha384();
    case DigestAlgorithm::kSha512: return EVP_sha512();
    case DigestAlgorithm::kSm3: return EVP_sm3();
  }
  return nullptr;
}

}  // namespace

// The digest implementation fetched from the provider once per process. OpenSSL 3.0 fetches a
// legacy EVP_sha256() again inside every EVP_DigestInit_ex / EVP_DigestSignInit (about 2 µs of
// a 2.5 µs digest of a small input); a fetched EVP_MD is used as is. Never freed: it lives as
// long as the process.
const EVP_MD* EvpMd(DigestAlgorithm alg) {
  static const std::array<const EVP_MD*, 6> fetched = [] {
    std::array<const EVP_MD*, 6> out{};
    for (auto a : {DigestAlgorithm::kSha1, DigestAlgorithm::kSha256, DigestAlgorithm::kSha384,
                   DigestAlgorithm::kSha512, DigestAlgorithm::kSm3}) {
      const EVP_MD* md = EVP_MD_fetch(nullptr, EVP_MD_get0_name(LegacyMd(a)), nullptr);
      out[static_cast<size_t>(a)] = md != nullptr ? md : LegacyMd(a);  // the legacy one works too
    }
    ERR_clear_error();
    return out;
  }();
  size_t i = static_cast<size_t>(alg);
  return i < fetched.size() ? fetched[i] : nullptr;
}

Bytes Digest(DigestAlgorithm alg, ByteView data) {
  CHECK(alg != DigestAlgorithm::kNone);
  Bytes out(DigestSize(alg));
  unsigned int len = 0;
  CHECK(EVP_Digest(data.data(), data.size(), out.data(), &len, EvpMd(alg), nullptr) == 1);
  CHECK(len == out.size());
  return out;
}

Hasher::Hasher(DigestAlgorithm alg) : alg_(alg), ctx_(EVP_MD_CTX_new()) {
  CHECK(alg != DigestAlgorithm::kNone);
  CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EvpMd(alg), nullptr) == 1);
}
Hasher::~Hasher() { EVP_MD_CTX_free(ctx_); }
Hasher::Hasher(Hasher&& o) noexcept : alg_(o.alg_), ctx_(o.ctx_) { o.ctx_ = nullptr; }
Hasher& Hasher::operator=(Hasher&& o) noexcept {
  std::swap(alg_, o.alg_);
  std::swap(ctx_, o.ctx_);
  return *this;
}

void Hasher::Update(ByteView data) {
  CHECK(EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1);
}

Bytes Hasher::Finish() {
  Bytes out(DigestSize(alg_));
  unsigned int len = 0;
  CHECK(EVP_DigestFinal_ex(ctx_, out.data(), &len) == 1);
  CHECK(EVP_DigestInit_ex(ctx_, EvpMd(alg_), nullptr) == 1);
  return out;
}

Result<Bytes> RandomBytes(size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
    return Fail(OpenSslError("random number generator failed"));
  return out;
}

}  // namespace autoseal::crypto
