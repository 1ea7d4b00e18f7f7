#include "crypto/prepared.h"

#include <openssl/evp.h>

#include "crypto/p256_verify.h"
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
  DigestAlgorithm digest;
  bool ecdsa = false;
  size_t ecdsa_field_bytes = 0;  // ECDSA: bytes per integer of the r||s form
  // Every key but P-256: the EVP context copied per verification.
  DigestContext prototype;
  // P-256: hashed with EvpMd (fetched once per process), then checked by P256Verifier.
  std::unique_ptr<internal::P256Verifier> p256;

  Status VerifyP256(ByteView data, const std::optional<internal::P256Signature>& sig) const {
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    if (sig && EVP_Digest(data.data(), data.size(), hash, &hash_len, EvpMd(digest), nullptr) != 1)
      return Fail(OpenSslError("digest failed"));
    if (!sig || !p256->Verify(ByteView(hash, hash_len), *sig))
      return Fail(ErrorCode::kCrypto, "signature does not verify");
    return Ok();
  }
};

PreparedVerifier::PreparedVerifier(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedVerifier::~PreparedVerifier() = default;
DigestAlgorithm PreparedVerifier::digest() const { return state_->digest; }
bool PreparedVerifier::IsP256() const { return state_->p256 != nullptr; }
bool PreparedVerifier::HasP256Table() const { return state_->p256 && state_->p256->HasTable(); }

Result<std::shared_ptr<const PreparedVerifier>> PreparedVerifier::Create(const PublicKey& key,
                                                                         std::optional<DigestAlgorithm> digest,
                                                                         VerifyTablePolicy table_policy) {
  auto state = std::make_unique<State>();
  state->digest = digest.value_or(DefaultDigest(key));
  TRY(CheckDigestForKey(key, state->digest));
  if (key.Family() == KeyFamily::kEcdsa) {
    state->ecdsa = true;
    state->ecdsa_field_bytes = static_cast<size_t>(key.Bits() + 7) / 8;
    if (auto p256 = internal::P256Verifier::Create(key, table_policy)) {
      state->p256 = std::move(*p256);
      return std::shared_ptr<const PreparedVerifier>(new PreparedVerifier(std::move(state)));
    } else if (p256.error().code() != ErrorCode::kUnsupported) {
      return Fail(p256.error());
    }
  }
  state->prototype = TRY(NewVerifyContext(key, state->digest));
  return std::shared_ptr<const PreparedVerifier>(new PreparedVerifier(std::move(state)));
}

Status PreparedVerifier::Verify(ByteView data, ByteView signature) const {
  if (state_->p256) return state_->VerifyP256(data, internal::ParseDerP256Signature(signature));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), state_->prototype.md_ctx.get()) != 1)
    return Fail(OpenSslError("EVP_MD_CTX_copy_ex"));
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) != 1) {
    ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "signature does not verify");
  }
  return Ok();
}

Status PreparedVerifier::VerifyEcdsaRaw(ByteView data, ByteView raw_signature) const {
  if (!state_->ecdsa) return Fail(ErrorCode::kInvalidArgument, "not an ECDSA key");
  if (state_->p256) return state_->VerifyP256(data, internal::ParseRawP256Signature(raw_signature));
  if (raw_signature.size() != 2 * state_->ecdsa_field_bytes)
    return Fail(ErrorCode::kCrypto, "signature does not verify");
  auto der = EcdsaSignatureFromRaw(raw_signature);
  if (!der) return Fail(ErrorCode::kCrypto, "signature does not verify");
  return Verify(data, *der);
}

}  // namespace autoseal::crypto
