#include "crypto/key.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>

#include "core/der.h"
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


Result<PublicKey> PublicKey::FromEvp(EVP_PKEY* pkey) {
  CHECK(pkey != nullptr);
  if (EVP_PKEY_up_ref(pkey) != 1) return Fail(OpenSslError("EVP_PKEY_up_ref"));
  return PublicKey(Share(pkey));
}

namespace {

struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};

Result<EvpPkeyPtr> FromData(const char* type, OSSL_PARAM* params) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    return Fail(OpenSslError("invalid public key", ErrorCode::kInvalidArgument));
  return EvpPkeyPtr(pkey);
}

Bytes Strip(ByteView v) {
  size_t i = 0;
  while (i + 1 < v.size() && v[i] == 0) ++i;
  return Bytes(v.begin() + static_cast<long>(i), v.end());
}

}  // namespace

namespace {

// The common SubjectPublicKeyInfo forms (RFC 5480 EC on P-256, P-384 and the SM2 curve with an
// uncompressed point; RFC 3279 RSA) built from their components with EVP_PKEY_fromdata, which
// validates the point (on the curve; these curves have cofactor 1) or the RSA numbers. OpenSSL
// 3.0's d2i_PUBKEY runs the provider decoder chain instead, about 150 µs per key on this
// project's machines against about 20 µs here, and a CSR or JWS key is parsed per request.
// nullopt: not one of these forms (the caller falls back to d2i_PUBKEY).
std::optional<EvpPkeyPtr> FromCommonSpki(ByteView der) {
  der::Reader outer(der);
  auto spki = outer.Next();
  if (!spki || spki->tag != der::kSequence || !outer.empty()) return std::nullopt;
  der::Reader r(spki->contents);
  auto alg = r.Next();
  auto bits = r.Next();
  if (!alg || alg->tag != der::kSequence || !bits || bits->tag != der::kBitString || !r.empty() ||
      bits->contents.empty() || bits->contents[0] != 0)
    return std::nullopt;
  ByteView key = bits->contents.subspan(1);
  der::Reader a(alg->contents);
  auto oid = a.Next();
  if (!oid || oid->tag != der::kOid) return std::nullopt;
  auto params = a.Next();
  if (!params || !a.empty()) return std::nullopt;
  static constexpr uint8_t kEcPublicKey[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
  static constexpr uint8_t kRsaEncryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
  static constexpr uint8_t kP256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static constexpr uint8_t kP384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
  static constexpr uint8_t kSm2Curve[] = {0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d};
  auto is = [](ByteView v, auto& oid_bytes) {
    return v.size() == sizeof(oid_bytes) && std::memcmp(v.data(), oid_bytes, sizeof(oid_bytes)) == 0;
  };
  if (is(oid->contents, kEcPublicKey)) {
    if (params->tag != der::kOid) return std::nullopt;
    const char* type = "EC";
    const char* group = nullptr;
    size_t field = 0;
    if (is(params->contents, kP256)) group = "prime256v1", field = 32;
    else if (is(params->contents, kP384)) group = "secp384r1", field = 48;
    else if (is(params->contents, kSm2Curve)) type = "SM2", group = "SM2", field = 32;
    else return std::nullopt;
    if (key.size() != 1 + 2 * field || key[0] != 0x04) return std::nullopt;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          const_cast<uint8_t*>(key.data()), key.size()),
        OSSL_PARAM_construct_end()};
    auto pkey = FromData(type, p);
    if (!pkey) {
      ClearOpenSslErrors();
      return std::nullopt;  // d2i_PUBKEY then reports what is wrong
    }
    return std::move(*pkey);
  }
  if (is(oid->contents, kRsaEncryption)) {
    if (params->tag != der::kNull || !params->contents.empty()) return std::nullopt;
    der::Reader k(key);
    auto seq = k.Next();
    if (!seq || seq->tag != der::kSequence || !k.empty()) return std::nullopt;
    der::Reader nums(seq->contents);
    auto n = nums.Next();
    auto e = nums.Next();
    if (!n || !e || n->tag != der::kInteger || e->tag != der::kInteger || !nums.empty() ||
        !der::CheckPositiveInteger(n->contents, "n") || !der::CheckPositiveInteger(e->contents, "e"))
      return std::nullopt;
    // Keys FromRsaComponents refuses (below 2048 bits, say) go through d2i_PUBKEY, so that
    // policy, not parsing, names what is wrong with them.
    auto rsa = PublicKey::FromRsaComponents(n->contents, e->contents);
    if (!rsa) {
      ClearOpenSslErrors();
      return std::nullopt;
    }
    EVP_PKEY_up_ref(rsa->evp());  // shared with rsa, which goes out of scope
    return EvpPkeyPtr(rsa->evp());
  }
  return std::nullopt;
}

}  // namespace

Result<PublicKey> PublicKey::FromDer(ByteView der) {
  if (auto fast = FromCommonSpki(der)) return PublicKey(Share(fast->release()));
  const unsigned char* in = der.data();
  EVP_PKEY* p = d2i_PUBKEY(nullptr, &in, static_cast<long>(der.size()));
  if (p == nullptr) return Fail(OpenSslError("cannot parse public key DER", ErrorCode::kParse));
  if (in != der.data() + der.size()) {
    EVP_PKEY_free(p);
    return Fail(ErrorCode::kParse, "trailing data after public key DER");
  }
  return PublicKey(Share(p));
}

Result<PublicKey> PublicKey::FromRsaComponents(ByteView n, ByteView e) {
  Bytes nn = Strip(n), ee = Strip(e);
  size_t bits = nn.empty() ? 0 : nn.size() * 8;
  if (bits < 2048 || bits > 8192)
    return Fail(ErrorCode::kInvalidArgument, "RSA modulus of " + std::to_string(bits) + " bits (allowed: 2048-8192)");
  if (ee.empty() || ee.size() > 8) return Fail(ErrorCode::kInvalidArgument, "invalid RSA public exponent");
  BignumPtr bn_n(BN_bin2bn(nn.data(), static_cast<int>(nn.size()), nullptr));
  BignumPtr bn_e(BN_bin2bn(ee.data(), static_cast<int>(ee.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return Fail(OpenSslError("cannot build RSA key"));
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  auto pkey = TRY(FromData("RSA", params.get()));
  if (BN_is_odd(bn_e.get()) == 0 || BN_is_one(bn_e.get()))
    return Fail(ErrorCode::kInvalidArgument, "invalid RSA public exponent");
  return PublicKey(Share(pkey.release()));
}

Result<PublicKey> PublicKey::FromEcComponents(std::string_view curve, ByteView x, ByteView y) {
  const char* group = nullptr;
  size_t field = 0;
  if (curve == "P-256") group = "prime256v1", field = 32;
  else if (curve == "P-384") group = "secp384r1", field = 48;
  else if (curve == "P-521") group = "secp521r1", field = 66;
  else return Fail(ErrorCode::kInvalidArgument, "unsupported curve '" + std::string(curve) + "'");
  if (x.size() != field || y.size() != field)
    return Fail(ErrorCode::kInvalidArgument, "EC coordinates must be " + std::to_string(field) + " bytes for " + std::string(curve));
  Bytes point;
  point.reserve(1 + 2 * field);
  point.push_back(0x04);
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return Fail(OpenSslError("cannot build EC key"));
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  auto pkey = TRY(FromData("EC", params.get()));
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ClearOpenSslErrors();
    return Fail(ErrorCode::kInvalidArgument, "the EC point is not on " + std::string(curve));
  }
  return PublicKey(Share(pkey.release()));
}

Result<PublicKey> PublicKey::FromEd25519(ByteView raw) {
  if (raw.size() != 32) return Fail(ErrorCode::kInvalidArgument, "an Ed25519 public key is 32 bytes");
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  if (!p) return Fail(OpenSslError("invalid Ed25519 key", ErrorCode::kInvalidArgument));
  return PublicKey(Share(p));
}

Result<RsaPublicComponents> PublicKey::RsaComponents() const {
  if (Family() != KeyFamily::kRsa) return Fail(ErrorCode::kUnsupported, "not an RSA key");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    return Fail(OpenSslError("cannot read RSA key"));
  }
  BignumPtr nn(n), ee(e);
  RsaPublicComponents out;
  out.n.resize(static_cast<size_t>(BN_num_bytes(n)));
  out.e.resize(static_cast<size_t>(BN_num_bytes(e)));
  BN_bn2bin(n, out.n.data());
  BN_bn2bin(e, out.e.data());
  return out;
}

Result<EcPublicComponents> PublicKey::EcComponents() const {
  if (Family() != KeyFamily::kEcdsa) return Fail(ErrorCode::kUnsupported, "not an ECDSA key");
  std::string group = GroupName(pkey_.get());
  EcPublicComponents out;
  size_t field = 0;
  if (group == "prime256v1") out.curve = "P-256", field = 32;
  else if (group == "secp384r1") out.curve = "P-384", field = 48;
  else if (group == "secp521r1") out.curve = "P-521", field = 66;
  else return Fail(ErrorCode::kUnsupported, "EC curve " + group + " has no JOSE name");
  unsigned char buf[1 + 2 * 66];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1 ||
      len != 1 + 2 * field || buf[0] != 0x04) {
    // The key may be stored compressed; ask for the uncompressed form.
    ClearOpenSslErrors();
    if (EVP_PKEY_set_utf8_string_param(pkey_.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed") != 1 ||
        EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1 ||
        len != 1 + 2 * field)
      return Fail(OpenSslError("cannot read EC point"));
  }
  out.x.assign(buf + 1, buf + 1 + field);
  out.y.assign(buf + 1 + field, buf + 1 + 2 * field);
  return out;
}

Result<Bytes> PublicKey::Ed25519Raw() const {
  if (Family() != KeyFamily::kEd25519) return Fail(ErrorCode::kUnsupported, "not an Ed25519 key");
  Bytes out(32);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey_.get(), out.data(), &len) != 1 || len != 32)
    return Fail(OpenSslError("cannot read Ed25519 key"));
  return out;
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
