#include "crypto/signature.h"

#include <openssl/ec.h>

#include "crypto/sign_context.h"

namespace autoseal::crypto {
namespace {

Result<DigestContext> NewContext(const PublicKey& key, std::optional<DigestAlgorithm> digest,
                                 bool sign) {
  DigestAlgorithm alg = digest.value_or(DefaultDigest(key));
  TRY(CheckDigestForKey(key, alg));
  DigestContext ctx;
  ctx.md_ctx.reset(EVP_MD_CTX_new());
  if (!ctx.md_ctx) return Fail(OpenSslError("EVP_MD_CTX_new"));
  EVP_PKEY* pkey = key.evp();
  if (key.Family() == KeyFamily::kSm2) {
    ctx.pkey_ctx.reset(EVP_PKEY_CTX_new(pkey, nullptr));
    if (!ctx.pkey_ctx) return Fail(OpenSslError("EVP_PKEY_CTX_new"));
    if (EVP_PKEY_CTX_set1_id(ctx.pkey_ctx.get(), kSm2DefaultId.data(), kSm2DefaultId.size()) <= 0)
      return Fail(OpenSslError("cannot set the SM2 ID"));
    EVP_MD_CTX_set_pkey_ctx(ctx.md_ctx.get(), ctx.pkey_ctx.get());
  }
  int ok = sign ? EVP_DigestSignInit(ctx.md_ctx.get(), nullptr, EvpMd(alg), nullptr, pkey)
                : EVP_DigestVerifyInit(ctx.md_ctx.get(), nullptr, EvpMd(alg), nullptr, pkey);
  if (ok != 1)
    return Fail(OpenSslError(sign ? "cannot initialise signing" : "cannot initialise verification"));
  return ctx;
}

}  // namespace

DigestAlgorithm DefaultDigest(const PublicKey& key) {
  switch (key.Family()) {
    case KeyFamily::kSm2: return DigestAlgorithm::kSm3;
    case KeyFamily::kEd25519: return DigestAlgorithm::kNone;
    case KeyFamily::kRsa: return DigestAlgorithm::kSha256;
    case KeyFamily::kEcdsa: {
      int bits = key.Bits();
      if (bits > 384) return DigestAlgorithm::kSha512;
      if (bits > 256) return DigestAlgorithm::kSha384;
      return DigestAlgorithm::kSha256;
    }
  }
  return DigestAlgorithm::kSha256;
}

Status CheckDigestForKey(const PublicKey& key, DigestAlgorithm digest) {
  KeyFamily f = key.Family();
  if (f == KeyFamily::kEd25519 && digest != DigestAlgorithm::kNone)
    return Fail(ErrorCode::kPolicy, "Ed25519 signs without a separate digest");
  if (f != KeyFamily::kEd25519 && digest == DigestAlgorithm::kNone)
    return Fail(ErrorCode::kPolicy, key.Description() + " needs a digest");
  if (f == KeyFamily::kSm2 && digest != DigestAlgorithm::kSm3)
    return Fail(ErrorCode::kPolicy, "SM2 signs only with SM3");
  if (f != KeyFamily::kSm2 && digest == DigestAlgorithm::kSm3)
    return Fail(ErrorCode::kPolicy, "SM3 is used only with SM2 keys");
  if (digest == DigestAlgorithm::kSha1)
    return Fail(ErrorCode::kPolicy, "SHA-1 signatures are not allowed");
  return Ok();
}

Result<DigestContext> NewSignContext(const PrivateKey& key, std::optional<DigestAlgorithm> digest) {
  return NewContext(key, digest, true);
}

Result<DigestContext> NewVerifyContext(const PublicKey& key, std::optional<DigestAlgorithm> digest) {
  return NewContext(key, digest, false);
}

Asn1OctetStringPtr NewSm2IdOctetString() {
  Asn1OctetStringPtr id(ASN1_OCTET_STRING_new());
  CHECK(id != nullptr);
  CHECK(ASN1_OCTET_STRING_set(id.get(), reinterpret_cast<const unsigned char*>(kSm2DefaultId.data()),
                              static_cast<int>(kSm2DefaultId.size())) == 1);
  return id;
}

Result<Bytes> Sign(const PrivateKey& key, ByteView data, std::optional<DigestAlgorithm> digest) {
  auto ctx = TRY(NewSignContext(key, digest));
  size_t len = 0;
  if (EVP_DigestSign(ctx.md_ctx.get(), nullptr, &len, data.data(), data.size()) != 1)
    return Fail(OpenSslError("signing failed"));
  Bytes sig(len);
  if (EVP_DigestSign(ctx.md_ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return Fail(OpenSslError("signing failed"));
  sig.resize(len);
  return sig;
}

Status Verify(const PublicKey& key, ByteView data, ByteView signature,
              std::optional<DigestAlgorithm> digest) {
  auto ctx = TRY(NewVerifyContext(key, digest));
  int rc = EVP_DigestVerify(ctx.md_ctx.get(), signature.data(), signature.size(), data.data(),
                            data.size());
  if (rc != 1) {
    ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "signature does not verify");
  }
  return Ok();
}

Result<Bytes> EcdsaSignatureToRaw(ByteView der, size_t field_bytes) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) return Fail(OpenSslError("malformed ECDSA signature", ErrorCode::kParse));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  Bytes out(2 * field_bytes);
  bool ok = BN_bn2binpad(r, out.data(), static_cast<int>(field_bytes)) > 0 &&
            BN_bn2binpad(s, out.data() + field_bytes, static_cast<int>(field_bytes)) > 0;
  ECDSA_SIG_free(sig);
  if (!ok) return Fail(ErrorCode::kParse, "ECDSA signature integer too large");
  return out;
}

Result<Bytes> EcdsaSignatureFromRaw(ByteView raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 132)
    return Fail(ErrorCode::kParse, "ECDSA signature of " + std::to_string(raw.size()) + " bytes");
  size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return Fail(OpenSslError("cannot encode ECDSA signature"));
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (n <= 0) return Fail(OpenSslError("cannot encode ECDSA signature"));
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
  Bytes out(32);
  size_t len = 0;
  CHECK(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                  data.size(), out.data(), out.size(), &len) != nullptr);
  CHECK(len == 32);
  return out;
}

}  // namespace autoseal::crypto
