#include "smime/internal/envelope.h"

#include <openssl/core_names.h>

#include "core/der.h"

namespace autoseal::smime::internal {
namespace {

// Each cipher is fetched on first use only (thread-safe static initialisation) and kept: a
// provider without one cipher (SM4 is missing from some FIPS and distribution builds) fails
// only the messages that need it, with an error naming it, instead of every encryption.
Result<const EVP_CIPHER*> Fetched(const EVP_CIPHER* cipher, const char* name) {
  if (cipher == nullptr)
    return Fail(ErrorCode::kUnsupported,
                std::string("the cipher ") + name + " is not available from the OpenSSL providers");
  return cipher;
}

#define AUTOSEAL_FETCH(name)                                                     \
  do {                                                                           \
    static const EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, name, nullptr); \
    if (fetched == nullptr) crypto::ClearOpenSslErrors();                        \
    return Fetched(fetched, name);                                               \
  } while (0)

}  // namespace

Result<const EVP_CIPHER*> EvpCipher(ContentCipher c) {
  switch (c) {
    case ContentCipher::kAes128Cbc:
      AUTOSEAL_FETCH("AES-128-CBC");
    case ContentCipher::kAes192Cbc:
      AUTOSEAL_FETCH("AES-192-CBC");
    case ContentCipher::kAes256Cbc:
      AUTOSEAL_FETCH("AES-256-CBC");
    case ContentCipher::kAes128Gcm:
      AUTOSEAL_FETCH("AES-128-GCM");
    case ContentCipher::kAes256Gcm:
      AUTOSEAL_FETCH("AES-256-GCM");
    case ContentCipher::kSm4Cbc:
      AUTOSEAL_FETCH("SM4-CBC");
  }
  return Fail(ErrorCode::kUnsupported, "unknown content cipher");
}

Result<const EVP_CIPHER*> EvpWrapCipher(size_t kek_length) {
  switch (kek_length) {
    case 16:
      AUTOSEAL_FETCH("AES-128-WRAP");
    case 24:
      AUTOSEAL_FETCH("AES-192-WRAP");
    case 32:
      AUTOSEAL_FETCH("AES-256-WRAP");
  }
  return Fail(ErrorCode::kCrypto, "key wrap: bad KEK length");
}

#undef AUTOSEAL_FETCH

Bytes X963Kdf(crypto::DigestAlgorithm digest, ByteView z, ByteView shared_info, size_t length) {
  Bytes out;
  crypto::Hasher h(digest);
  for (uint32_t counter = 1; out.size() < length; ++counter) {
    const uint8_t c[4] = {static_cast<uint8_t>(counter >> 24), static_cast<uint8_t>(counter >> 16),
                          static_cast<uint8_t>(counter >> 8), static_cast<uint8_t>(counter)};
    h.Update(z);
    h.Update(ByteView(c, 4));
    h.Update(shared_info);
    Bytes block = h.Finish();
    out.insert(out.end(), block.begin(), block.end());
  }
  out.resize(length);
  return out;
}

Bytes EccCmsSharedInfo(ByteView wrap_algorithm, std::optional<ByteView> ukm, size_t kek_length) {
  const uint32_t bits = static_cast<uint32_t>(kek_length * 8);
  const uint8_t supp[4] = {static_cast<uint8_t>(bits >> 24), static_cast<uint8_t>(bits >> 16),
                           static_cast<uint8_t>(bits >> 8), static_cast<uint8_t>(bits)};
  Bytes entity;
  if (ukm) entity = der::Tlv(der::ContextConstructed(0), der::Tlv(der::kOctetString, *ukm));
  return der::Wrap(der::kSequence,
                   {wrap_algorithm, entity,
                    der::Tlv(der::ContextConstructed(2), der::Tlv(der::kOctetString, ByteView(supp, 4)))});
}

namespace {

Result<Bytes> Wrap(ByteView kek, ByteView in, bool encrypt) {
  if (kek.size() != 16 && kek.size() != 24 && kek.size() != 32)
    return Fail(ErrorCode::kCrypto, "key wrap: bad KEK length");
  if (in.size() < 16 || in.size() % 8 != 0 || in.size() > 1024)
    return Fail(ErrorCode::kCrypto, "key wrap: bad wrapped key length");
  const EVP_CIPHER* wrap = TRY(EvpWrapCipher(kek.size()));
  crypto::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return Fail(crypto::OpenSslError("EVP_CIPHER_CTX_new"));
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex(ctx.get(), wrap, nullptr, kek.data(), nullptr, encrypt ? 1 : 0) != 1)
    return Fail(crypto::OpenSslError("key wrap init"));
  Bytes out(in.size() + 16);
  int len = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1 ||
      len <= 0) {
    crypto::ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, encrypt ? "key wrap failed"
                                            : "key unwrap failed (integrity check): wrong key");
  }
  out.resize(static_cast<size_t>(len));
  return out;
}

}  // namespace

Result<Bytes> AesWrap(ByteView kek, ByteView key) { return Wrap(kek, key, true); }
Result<Bytes> AesUnwrap(ByteView kek, ByteView wrapped) { return Wrap(kek, wrapped, false); }

Result<Bytes> EcdhDerive(EVP_PKEY* ours, EVP_PKEY* peer) {
  crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ours, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1)
    return Fail(crypto::OpenSslError("ECDH"));
  size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return Fail(crypto::OpenSslError("ECDH"));
  Bytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) return Fail(crypto::OpenSslError("ECDH"));
  z.resize(len);
  return z;
}

}  // namespace autoseal::smime::internal
