#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace autoseal::crypto {

// The key types autoseal generates and accepts.
enum class KeyType {
  kRsa2048,
  kRsa3072,
  kRsa4096,
  kEcdsaP256,
  kEcdsaP384,
  kEd25519,
  kSm2,
};

// Key families: what an algorithm family is, independent of size or curve.
enum class KeyFamily { kRsa, kEcdsa, kEd25519, kSm2 };

// "rsa2048", "ecdsa-p256", "ed25519", "sm2", ... (also accepted by ParseKeyType).
std::string_view KeyTypeName(KeyType type);
Result<KeyType> ParseKeyType(std::string_view name);
KeyFamily FamilyOf(KeyType type);

// Raw public key components as JOSE carries them (RFC 7518 §6.2, §6.3; RFC 8037 §2).
struct RsaPublicComponents {
  Bytes n, e;  // big-endian, no leading zeros
};
struct EcPublicComponents {
  std::string curve;  // "P-256", "P-384" or "P-521"
  Bytes x, y;         // big-endian, padded to the field size
};

// A public key (RSA, ECDSA P-256/P-384/P-521, Ed25519 or SM2). Immutable after construction; safe
// to share between threads for verification. Copies share the underlying EVP_PKEY.
class PublicKey {
 public:
  // Parses a SubjectPublicKeyInfo in PEM ("PUBLIC KEY") or DER. kParse on failure.
  static Result<PublicKey> FromPem(std::string_view pem);
  static Result<PublicKey> FromDer(ByteView der);
  // Takes a reference on pkey (public part used only). CHECKs non-null.
  static Result<PublicKey> FromEvp(EVP_PKEY* pkey);

  // Builds keys from raw components (JWK). The EC point is checked to be on the curve; RSA
  // moduli below 2048 bits or above 8192 are refused. kInvalidArgument on bad input.
  static Result<PublicKey> FromRsaComponents(ByteView n, ByteView e);
  static Result<PublicKey> FromEcComponents(std::string_view curve, ByteView x, ByteView y);
  static Result<PublicKey> FromEd25519(ByteView raw);
  // The components of an RSA, EC (P-256/384/521) or Ed25519 key; kUnsupported for others.
  Result<RsaPublicComponents> RsaComponents() const;
  Result<EcPublicComponents> EcComponents() const;
  Result<Bytes> Ed25519Raw() const;

  // Key type when it is one autoseal supports; kUnsupported otherwise (e.g. RSA-1024, P-521).
  Result<KeyType> Type() const;
  KeyFamily Family() const;
  // RSA modulus bits, or EC field bits (256 for P-256 and SM2), 256 for Ed25519.
  int Bits() const;
  // Human-readable: "ECDSA P-256", "RSA 2048", "SM2", "Ed25519".
  std::string Description() const;

  Bytes PublicKeyDer() const;  // SubjectPublicKeyInfo DER
  std::string PublicKeyPem() const;
  bool Equals(const PublicKey& other) const;

  EVP_PKEY* evp() const { return pkey_.get(); }

 protected:
  friend class PrivateKey;
  explicit PublicKey(std::shared_ptr<EVP_PKEY> pkey) : pkey_(std::move(pkey)) {}
  std::shared_ptr<EVP_PKEY> pkey_;
};

// A private key. Immutable; safe to use from several threads for signing. Never logged.
class PrivateKey : public PublicKey {
 public:
  static Result<PrivateKey> Generate(KeyType type);

  // PEM "PRIVATE KEY" / "ENCRYPTED PRIVATE KEY" (PKCS#8), and traditional "EC/RSA PRIVATE KEY".
  // An encrypted key needs the passphrase; a wrong one is kCrypto, garbage is kParse.
  static Result<PrivateKey> FromPem(std::string_view pem, std::optional<std::string_view> passphrase = std::nullopt);
  static Result<PrivateKey> FromDer(ByteView der);  // unencrypted PKCS#8 DER

  // PKCS#8 PEM; with a passphrase, encrypted with AES-256-CBC and PBKDF2 (PKCS#5 v2).
  Result<std::string> PrivateKeyPem(std::optional<std::string_view> passphrase = std::nullopt) const;
  Result<Bytes> PrivateKeyDer() const;  // unencrypted PKCS#8 DER

  PublicKey Public() const { return PublicKey(pkey_); }

 private:
  using PublicKey::PublicKey;
};

// Writes the key as PKCS#8 PEM to path with mode 0600, atomically, never overwriting an existing
// file (kAlreadyExists). Optionally encrypted with passphrase.
Status SavePrivateKey(const std::string& path, const PrivateKey& key,
                      std::optional<std::string_view> passphrase = std::nullopt);
// Reads a private key file (PEM). Errors name the path.
Result<PrivateKey> LoadPrivateKey(const std::string& path,
                                  std::optional<std::string_view> passphrase = std::nullopt);

}  // namespace autoseal::crypto
