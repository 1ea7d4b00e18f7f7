#include "tsa/internal/signer.h"

#include "crypto/sign_context.h"

namespace autoseal::tsa::internal {

struct PrecomputedSigner::State {
  crypto::DigestContext prototype;  // initialised, never used to sign directly
  size_t max_signature = 0;
};

PrecomputedSigner::PrecomputedSigner(std::unique_ptr<State> state) : state_(std::move(state)) {}
PrecomputedSigner::~PrecomputedSigner() = default;

Result<std::unique_ptr<PrecomputedSigner>> PrecomputedSigner::Create(
    const crypto::PrivateKey& key, crypto::DigestAlgorithm digest) {
  auto state = std::make_unique<State>();
  state->prototype = TRY(crypto::NewSignContext(key, digest));
  state->max_signature = static_cast<size_t>(EVP_PKEY_get_size(key.evp()));
  if (state->max_signature == 0) return Fail(crypto::OpenSslError("EVP_PKEY_get_size"));
  return std::unique_ptr<PrecomputedSigner>(new PrecomputedSigner(std::move(state)));
}

Result<Bytes> PrecomputedSigner::Sign(ByteView data) const {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return Fail(crypto::OpenSslError("EVP_MD_CTX_new"));
  // Copies the digest state and duplicates the provider's signature context (which holds the
  // key and, for SM2, the ID); the prototype is only read, so concurrent copies are safe.
  if (EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(crypto::OpenSslError("EVP_MD_CTX_copy_ex"));
  Bytes sig(state_->max_signature);
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return Fail(crypto::OpenSslError("signing failed"));
  sig.resize(len);
  return sig;
}

}  // namespace autoseal::tsa::internal
