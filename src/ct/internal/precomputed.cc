#include "ct/internal/precomputed.h"

#include "crypto/sign_context.h"

namespace autoseal::ct::internal {

struct PrecomputedSigner::State {
  crypto::DigestContext prototype;
  size_t max_signature = 0;
};

PrecomputedSigner::PrecomputedSigner(std::unique_ptr<State> s) : state_(std::move(s)) {}
PrecomputedSigner::~PrecomputedSigner() = default;

Result<std::shared_ptr<const PrecomputedSigner>> PrecomputedSigner::Create(const crypto::PrivateKey& key,
                                                                           crypto::DigestAlgorithm digest) {
  auto s = std::make_unique<State>();
  s->prototype = TRY(crypto::NewSignContext(key, digest));
  int size = EVP_PKEY_get_size(key.evp());
  if (size <= 0) return Fail(crypto::OpenSslError("EVP_PKEY_get_size"));
  s->max_signature = static_cast<size_t>(size);
  return std::shared_ptr<const PrecomputedSigner>(new PrecomputedSigner(std::move(s)));
}

Result<Bytes> PrecomputedSigner::Sign(ByteView data) const {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(crypto::OpenSslError("EVP_MD_CTX_copy_ex"));
  Bytes sig(state_->max_signature);
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return Fail(crypto::OpenSslError("signing failed"));
  sig.resize(len);
  return sig;
}

struct PrecomputedVerifier::State {
  crypto::DigestContext prototype;
  crypto::DigestAlgorithm digest;
};

PrecomputedVerifier::PrecomputedVerifier(std::unique_ptr<State> s) : state_(std::move(s)) {}
PrecomputedVerifier::~PrecomputedVerifier() = default;

Result<std::shared_ptr<const PrecomputedVerifier>> PrecomputedVerifier::Create(const crypto::PublicKey& key,
                                                                               crypto::DigestAlgorithm digest) {
  auto s = std::make_unique<State>();
  s->prototype = TRY(crypto::NewVerifyContext(key, digest));
  s->digest = digest;
  return std::shared_ptr<const PrecomputedVerifier>(new PrecomputedVerifier(std::move(s)));
}

crypto::DigestAlgorithm PrecomputedVerifier::digest() const { return state_->digest; }

Status PrecomputedVerifier::Verify(ByteView data, ByteView signature) const {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(crypto::OpenSslError("EVP_MD_CTX_copy_ex"));
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) != 1) {
    crypto::ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "signature does not verify");
  }
  return Ok();
}

}  // namespace autoseal::ct::internal
