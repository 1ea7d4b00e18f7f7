#include "crypto/prepared.h"

#include "crypto/sign_context.h"
#include "crypto/signature.h"

namespace autoseal::crypto {

struct PreparedSigner::State {
  DigestContext prototype;  // initialised, never used directly
  DigestAlgorithm digest;
  size_t max_signature = 0;
};

PreparedSigner::PreparedSigner(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedSigner::~PreparedSigner() = default;
DigestAlgorithm PreparedSigner::digest() const { return state_->digest; }

Result<std::shared_ptr<const PreparedSigner>> PreparedSigner::Create(const PrivateKey& key,
                                                                     std::optional<DigestAlgorithm> digest) {
  auto state = std::make_unique<State>();
  state->digest = digest.value_or(DefaultDigest(key));
  state->prototype = TRY(NewSignContext(key, state->digest));
  state->max_signature = static_cast<size_t>(EVP_PKEY_get_size(key.evp()));
  if (state->max_signature == 0) return Fail(OpenSslError("EVP_PKEY_get_size"));
  return std::shared_ptr<const PreparedSigner>(new PreparedSigner(std::move(state)));
}

Result<Bytes> PreparedSigner::Sign(ByteView data) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  // Copies the digest state and duplicates the provider's signature context (the key and, for
  // SM2, the ID); the prototype is only read, so concurrent copies are safe.
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(OpenSslError("EVP_MD_CTX_copy_ex"));
  Bytes sig(state_->max_signature);
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return Fail(OpenSslError("signing failed"));
  sig.resize(len);
  return sig;
}

struct PreparedVerifier::State {
  DigestContext prototype;
  DigestAlgorithm digest;
};

PreparedVerifier::PreparedVerifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedVerifier::~PreparedVerifier() = default;
DigestAlgorithm PreparedVerifier::digest() const { return state_->digest; }

Result<std::shared_ptr<const PreparedVerifier>> PreparedVerifier::Create(const PublicKey& key,
                                                                         std::optional<DigestAlgorithm> digest) {
  auto state = std::make_unique<State>();
  state->digest = digest.value_or(DefaultDigest(key));
  state->prototype = TRY(NewVerifyContext(key, state->digest));
  return std::shared_ptr<const PreparedVerifier>(new PreparedVerifier(std::move(state)));
}

Status PreparedVerifier::Verify(ByteView data, ByteView signature) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(OpenSslError("EVP_MD_CTX_copy_ex"));
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) != 1) {
    ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "signature does not verify");
  }
  return Ok();
}

}  // namespace autoseal::crypto
