#include "crypto/key.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>

#include "core/file.h"
#include "crypto/ossl.h"

namespace autoseal::crypto {
namespace {

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free); }

std::string GroupName(EVP_PKEY* pkey) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) {
    ClearOpenSslErrors();
    return "";
  }
  return std::string(name, len);
}

// Passphrase callback that never prompts on a terminal: with no passphrase given, it fails.
struct PassArg {
  std::optional<std::string_view> pass;
  bool asked = false;
};
int PassCallback(char* buf, int size, int /*rwflag*/, void* u) {
  auto* arg = static_cast<PassArg*>(u);
  arg->asked = true;
  if (!arg->pass || static_cast<int>(arg->pass->size()) > size) return -1;
  std::memcpy(buf, arg->pass->data(), arg->pass->size());
  return static_cast<int>(arg->pass->size());
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa2048: return "rsa2048";
    case KeyType::kRsa3072: return "rsa3072";
    case KeyType::kRsa4096: return "rsa4096";
    case KeyType::kEcdsaP256: return "ecdsa-p256";
    case KeyType::kEcdsaP384: return "ecdsa-p384";
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kSm2: return "sm2";
  }
  return "unknown";
}

Result<KeyType> ParseKeyType(std::string_view name) {
  for (KeyType t : {KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096, KeyType::kEcdsaP256,
                    KeyType::kEcdsaP384, KeyType::kEd25519, KeyType::kSm2}) {
    if (KeyTypeName(t) == name) return t;
  }
  if (name == "rsa") return KeyType::kRsa2048;
  if (name == "ecdsa" || name == "ec" || name == "p256") return KeyType::kEcdsaP256;
  if (name == "p384") return KeyType::kEcdsaP384;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown key type '" + std::string(name) +
                  "' (expected rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384, ed25519 or sm2)");
}

KeyFamily FamilyOf(KeyType type) {
  switch (type) {
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096: return KeyFamily::kRsa;
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384: return KeyFamily::kEcdsa;
    case KeyType::kEd25519: return KeyFamily::kEd25519;
    case KeyType::kSm2: return KeyFamily::kSm2;
  }
  return KeyFamily::kRsa;
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  auto bio = MemoryBio(pem);
  EVP_PKEY* p = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (p == nullptr) return Fail(OpenSslError("cannot parse public key PEM", ErrorCode::kParse));
  return PublicKey(Share(p));
}

Result<PublicKey> PublicKey::FromDer(ByteView der) {
  const unsigned char* in = der.data();
  EVP_PKEY* p = d2i_PUBKEY(nullptr, &in, static_cast<long>(der.size()));
  if (p == nullptr) return Fail(OpenSslError("cannot parse public key DER", ErrorCode::kParse));
  if (in != der.data() + der.size()) {
    EVP_PKEY_free(p);
    return Fail(ErrorCode::kParse, "trailing data after public key DER");
  }
  return PublicKey(Share(p));
}

Result<PublicKey> PublicKey::FromEvp(EVP_PKEY* pkey) {
  CHECK(pkey != nullptr);
  if (EVP_PKEY_up_ref(pkey) != 1) return Fail(OpenSslError("EVP_PKEY_up_ref"));
  return PublicKey(Share(pkey));
}

KeyFamily PublicKey::Family() const {
  EVP_PKEY* p = pkey_.get();
  if (EVP_PKEY_is_a(p, "SM2")) return KeyFamily::kSm2;
  if (EVP_PKEY_is_a(p, "RSA")) return KeyFamily::kRsa;
  if (EVP_PKEY_is_a(p, "ED25519")) return KeyFamily::kEd25519;
  // An EC key on the SM2 curve that was built as type "EC" is still an SM2 key.
  if (GroupName(p) == "SM2") return KeyFamily::kSm2;
  return KeyFamily::kEcdsa;
}

int PublicKey::Bits() const { return EVP_PKEY_get_bits(pkey_.get()); }

Result<KeyType> PublicKey::Type() const {
  EVP_PKEY* p = pkey_.get();
  switch (Family()) {
    case KeyFamily::kSm2: return KeyType::kSm2;
    case KeyFamily::kEd25519: return KeyType::kEd25519;
    case KeyFamily::kRsa:
      switch (Bits()) {
        case 2048: return KeyType::kRsa2048;
        case 3072: return KeyType::kRsa3072;
        case 4096: return KeyType::kRsa4096;
      }
      return Fail(ErrorCode::kUnsupported,
                  "RSA key of " + std::to_string(Bits()) + " bits (allowed: 2048, 3072, 4096)");
    case KeyFamily::kEcdsa: {
      if (!EVP_PKEY_is_a(p, "EC"))
        return Fail(ErrorCode::kUnsupported, std::string("unsupported key algorithm ") +
                                                 EVP_PKEY_get0_type_name(p));
      std::string group = GroupName(p);
      if (group == "prime256v1" || group == "P-256") return KeyType::kEcdsaP256;
      if (group == "secp384r1" || group == "P-384") return KeyType::kEcdsaP384;
      return Fail(ErrorCode::kUnsupported,
                  "EC key on curve " + (group.empty() ? std::string("(explicit parameters)") : group) +
                      " (allowed: P-256, P-384, SM2)");
    }
  }
  return Fail(ErrorCode::kUnsupported, "unsupported key");
}

std::string PublicKey::Description() const {
  auto t = Type();
  if (!t) {
    const char* name = EVP_PKEY_get0_type_name(pkey_.get());
    return std::string(name ? name : "unknown") + " " + std::to_string(Bits());
  }
  switch (*t) {
    case KeyType::kRsa2048: return "RSA 2048";
    case KeyType::kRsa3072: return "RSA 3072";
    case KeyType::kRsa4096: return "RSA 4096";
    case KeyType::kEcdsaP256: return "ECDSA P-256";
    case KeyType::kEcdsaP384: return "ECDSA P-384";
    case KeyType::kEd25519: return "Ed25519";
    case KeyType::kSm2: return "SM2";
  }
  return "unknown";
}

Bytes PublicKey::PublicKeyDer() const {
  unsigned char* out = nullptr;
  int n = i2d_PUBKEY(pkey_.get(), &out);
  CHECK(n > 0);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::string PublicKey::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) == 1);
  return BioContents(bio.get());
}

bool PublicKey::Equals(const PublicKey& other) const {
  return EVP_PKEY_eq(pkey_.get(), other.pkey_.get()) == 1;
}

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* p = nullptr;
  switch (type) {
    case KeyType::kRsa2048: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}); break;
    case KeyType::kRsa3072: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}); break;
    case KeyType::kRsa4096: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096}); break;
    case KeyType::kEcdsaP256: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case KeyType::kEcdsaP384: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
    case KeyType::kEd25519: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    case KeyType::kSm2: p = EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"); break;
  }
  if (p == nullptr)
    return Fail(OpenSslError("cannot generate " + std::string(KeyTypeName(type)) + " key"));
  return PrivateKey(Share(p));
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem,
                                       std::optional<std::string_view> passphrase) {
  auto bio = MemoryBio(pem);
  PassArg arg{passphrase};
  EVP_PKEY* p = PEM_read_bio_PrivateKey(bio.get(), nullptr, PassCallback, &arg);
  if (p == nullptr) {
    bool encrypted = pem.find("ENCRYPTED") != std::string_view::npos;
    if (encrypted && !passphrase) {
      ClearOpenSslErrors();
      return Fail(ErrorCode::kInvalidArgument, "private key is encrypted; a passphrase is needed");
    }
    if (encrypted) return Fail(OpenSslError("cannot decrypt private key (wrong passphrase?)"));
    return Fail(OpenSslError("cannot parse private key PEM", ErrorCode::kParse));
  }
  return PrivateKey(Share(p));
}

Result<PrivateKey> PrivateKey::FromDer(ByteView der) {
  const unsigned char* in = der.data();
  EVP_PKEY* p = d2i_AutoPrivateKey(nullptr, &in, static_cast<long>(der.size()));
  if (p == nullptr) return Fail(OpenSslError("cannot parse private key DER", ErrorCode::kParse));
  return PrivateKey(Share(p));
}

Result<std::string> PrivateKey::PrivateKeyPem(std::optional<std::string_view> passphrase) const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  int ok;
  if (passphrase) {
    if (passphrase->empty()) return Fail(ErrorCode::kInvalidArgument, "empty passphrase");
    std::string pass(*passphrase);
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), EVP_aes_256_cbc(), pass.data(),
                                       static_cast<int>(pass.size()), nullptr, nullptr);
    OPENSSL_cleanse(pass.data(), pass.size());
  } else {
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }
  if (ok != 1) return Fail(OpenSslError("cannot encode private key"));
  return BioContents(bio.get());
}

Result<Bytes> PrivateKey::PrivateKeyDer() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (i2d_PKCS8PrivateKey_bio(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Fail(OpenSslError("cannot encode private key"));
  return ToBytes(BioContents(bio.get()));
}

Status SavePrivateKey(const std::string& path, const PrivateKey& key,
                      std::optional<std::string_view> passphrase) {
  auto pem = TRY(key.PrivateKeyPem(passphrase));
  auto st = WriteFileAtomic(path, pem, 0600, Overwrite::kNo);
  OPENSSL_cleanse(pem.data(), pem.size());
  return st;
}

Result<PrivateKey> LoadPrivateKey(const std::string& path,
                                  std::optional<std::string_view> passphrase) {
  auto pem = TRY(ReadFile(path, 1 << 20));
  auto key = PrivateKey::FromPem(pem, passphrase);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) return Fail(std::move(key).error().WithContext(path));
  return key;
}

}  // namespace autoseal::crypto
