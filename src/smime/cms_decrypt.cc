// Decryption of EnvelopedData, AuthEnvelopedData and GM/T 0010 envelopedData read with our BER
// reader: every failure is an Error naming what failed, never a crash.

#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "core/der.h"
#include "crypto/ossl.h"
#include "smime/cms.h"
#include "smime/internal/common.h"
#include "smime/internal/envelope.h"
#include "smime/internal/oids.h"
#include "smime/internal/stream.h"

namespace autoseal::smime {
namespace {

using crypto::DigestAlgorithm;

std::unexpected<Error> Unsupported(std::string_view what, ByteView o) {
  return Fail(ErrorCode::kUnsupported, std::string(what) + " " + der::OidToString(o) + " is not supported");
}

struct KeyResult {
  Bytes cek;
  KeyEncryption alg;
  DigestAlgorithm kdf = DigestAlgorithm::kNone;
};

// RSAES-OAEP-params (RFC 8017 A.2.1): hashFunc [0] DEFAULT sha1, maskGenFunc [1] DEFAULT
// mgf1SHA1, pSourceFunc [2] DEFAULT empty label.
Result<std::pair<DigestAlgorithm, DigestAlgorithm>> OaepParams(ber::Reader& params_reader) {
  DigestAlgorithm hash = DigestAlgorithm::kSha1, mgf = DigestAlgorithm::kSha1;
  if (params_reader.empty()) return std::pair(hash, mgf);
  ber::Element seq = TRY(params_reader.Expect(der::kSequence, "RSAES-OAEP-params"));
  ber::Reader r = TRY(params_reader.Enter(seq, "RSAES-OAEP-params"));
  auto digest_of = [](const ber::Element& alg_id, ber::Reader& parent) -> Result<DigestAlgorithm> {
    ber::Reader ar = TRY(parent.Enter(alg_id, "AlgorithmIdentifier"));
    ber::Element o = TRY(ar.Expect(der::kOid, "AlgorithmIdentifier"));
    auto d = internal::DigestFromOid(o.contents);
    if (!d) return Unsupported("OAEP digest", o.contents);
    return *d;
  };
  if (auto h = TRY(r.Optional(der::ContextConstructed(0)))) {
    ber::Reader hr = TRY(r.Enter(*h, "hashFunc"));
    ber::Element alg = TRY(hr.Expect(der::kSequence, "hashFunc"));
    hash = TRY(digest_of(alg, hr));
  }
  if (auto m = TRY(r.Optional(der::ContextConstructed(1)))) {
    ber::Reader mr = TRY(r.Enter(*m, "maskGenFunc"));
    ber::Element alg = TRY(mr.Expect(der::kSequence, "maskGenFunc"));
    ber::Reader ar = TRY(mr.Enter(alg, "maskGenFunc"));
    ber::Element o = TRY(ar.Expect(der::kOid, "maskGenFunc"));
    if (!oid::Equal(o.contents, oid::kMgf1)) return Unsupported("OAEP mask generation", o.contents);
    ber::Element inner = TRY(ar.Expect(der::kSequence, "MGF1 digest"));
    mgf = TRY(digest_of(inner, ar));
  }
  if (TRY(r.Optional(der::ContextConstructed(2))))
    return Fail(ErrorCode::kUnsupported, "OAEP with a label (pSourceFunc) is not supported");
  return std::pair(hash, mgf);
}

Result<Bytes> PkeyDecrypt(const crypto::PrivateKey& key, ByteView in, int padding,
                          DigestAlgorithm oaep_md = DigestAlgorithm::kSha1,
                          DigestAlgorithm mgf_md = DigestAlgorithm::kSha1) {
  crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp(), nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1) return Fail(crypto::OpenSslError("decrypt init"));
  if (padding != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding) != 1) return Fail(crypto::OpenSslError("RSA padding"));
    if (padding == RSA_PKCS1_OAEP_PADDING &&
        (EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), crypto::EvpMd(oaep_md)) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), crypto::EvpMd(mgf_md)) != 1))
      return Fail(crypto::OpenSslError("RSA-OAEP parameters"));
  }
  // A failure yields an empty key, not an error: the caller goes on with a random key so that a
  // bad key transport and altered content fail alike (RFC 3218 §2.3.2, Bleichenbacher/Manger).
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, in.data(), in.size()) != 1) {
    crypto::ClearOpenSslErrors();
    return Bytes();
  }
  Bytes out(len);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, in.data(), in.size()) != 1) {
    crypto::ClearOpenSslErrors();
    return Bytes();
  }
  out.resize(len);
  return out;
}

bool RidMatches(const ber::Element& rid, const internal::CertIds& ids) {
  if (rid.tag == der::kSequence) {
    ber::Reader r(rid.contents, 8);
    auto issuer = r.Expect(der::kSequence, "issuer");
    auto serial = r.Expect(der::kInteger, "serial");
    if (!issuer || !serial) return false;
    return oid::Equal(issuer->encoding, ids.issuer) && oid::Equal(serial->contents, ids.serial);
  }
  if (rid.tag == der::ContextPrimitive(0))
    return !ids.subject_key_id.empty() && oid::Equal(rid.contents, ids.subject_key_id);
  return false;
}

// KeyTransRecipientInfo (RFC 5652 §6.2.1); nullopt when it is for someone else.
Result<std::optional<KeyResult>> TryKtri(const ber::Element& ri, int depth, const internal::CertIds& ids,
                                         const crypto::PrivateKey& key) {
  ber::Reader r(ri.contents, depth + 1);
  TRY(r.Expect(der::kInteger, "KeyTransRecipientInfo.version"));
  ber::Element rid = TRY_CONTEXT(r.Next(), "KeyTransRecipientInfo.rid");
  ber::Element alg = TRY(r.Expect(der::kSequence, "KeyTransRecipientInfo.keyEncryptionAlgorithm"));
  ber::Element ek_el = TRY_CONTEXT(r.Next(), "KeyTransRecipientInfo.encryptedKey");
  if (!RidMatches(rid, ids)) return std::optional<KeyResult>();
  Bytes ek = TRY(ber::OctetString(ek_el, depth + 1, "encryptedKey"));
  ber::Reader ar = TRY(r.Enter(alg, "keyEncryptionAlgorithm"));
  ber::Element o = TRY(ar.Expect(der::kOid, "keyEncryptionAlgorithm"));
  const crypto::KeyFamily family = key.Family();
  if (oid::Equal(o.contents, oid::kRsaEncryption)) {
    if (family != crypto::KeyFamily::kRsa) return Fail(ErrorCode::kCrypto, "RSA key transport to a non-RSA key");
    return std::optional(KeyResult{TRY(PkeyDecrypt(key, ek, RSA_PKCS1_PADDING)), KeyEncryption::kRsaPkcs1v15});
  }
  if (oid::Equal(o.contents, oid::kRsaesOaep)) {
    if (family != crypto::KeyFamily::kRsa) return Fail(ErrorCode::kCrypto, "RSA key transport to a non-RSA key");
    auto [hash, mgf] = TRY(OaepParams(ar));
    return std::optional(KeyResult{TRY(PkeyDecrypt(key, ek, RSA_PKCS1_OAEP_PADDING, hash, mgf)), KeyEncryption::kRsaOaep});
  }
  if (oid::Equal(o.contents, oid::kSm2Encrypt) || oid::Equal(o.contents, oid::kSm2Curve)) {
    if (family != crypto::KeyFamily::kSm2) return Fail(ErrorCode::kCrypto, "SM2 key transport to a non-SM2 key");
    return std::optional(KeyResult{TRY(PkeyDecrypt(key, ek, 0)), KeyEncryption::kSm2});
  }
  return Unsupported("key transport algorithm", o.contents);
}

std::optional<DigestAlgorithm> KdfDigest(ByteView o) {
  if (oid::Equal(o, oid::kEcdhSha256Kdf)) return DigestAlgorithm::kSha256;
  if (oid::Equal(o, oid::kEcdhSha384Kdf)) return DigestAlgorithm::kSha384;
  if (oid::Equal(o, oid::kEcdhSha512Kdf)) return DigestAlgorithm::kSha512;
  if (oid::Equal(o, oid::kEcdhSha1Kdf)) return DigestAlgorithm::kSha1;  // OpenSSL 3.0's default
  return std::nullopt;
}

// KeyAgreeRecipientInfo (RFC 5652 §6.2.2, RFC 5753 §3.1.2); nullopt when not for us.
Result<std::optional<KeyResult>> TryKari(const ber::Element& ri, int depth, const x509::Certificate& cert,
                                         const internal::CertIds& ids, const crypto::PrivateKey& key) {
  ber::Reader r(ri.contents, depth + 1);
  TRY(r.Expect(der::kInteger, "KeyAgreeRecipientInfo.version"));
  ber::Element orig = TRY(r.Expect(der::ContextConstructed(0), "KeyAgreeRecipientInfo.originator"));
  std::optional<ber::Element> ukm_el = TRY(r.Optional(der::ContextConstructed(1)));
  ber::Element kea = TRY(r.Expect(der::kSequence, "KeyAgreeRecipientInfo.keyEncryptionAlgorithm"));
  ber::Element reks = TRY(r.Expect(der::kSequence, "KeyAgreeRecipientInfo.recipientEncryptedKeys"));
  // Our encrypted key, if any.
  std::optional<Bytes> wrapped;
  ber::Reader rr = TRY(r.Enter(reks, "recipientEncryptedKeys"));
  while (!rr.empty()) {
    ber::Element rek = TRY(rr.Expect(der::kSequence, "RecipientEncryptedKey"));
    ber::Reader kr = TRY(rr.Enter(rek, "RecipientEncryptedKey"));
    ber::Element rid = TRY_CONTEXT(kr.Next(), "RecipientEncryptedKey.rid");
    ber::Element ek = TRY_CONTEXT(kr.Next(), "RecipientEncryptedKey.encryptedKey");
    bool match = RidMatches(rid, ids);
    if (!match && rid.tag == der::ContextConstructed(0)) {  // rKeyId RecipientKeyIdentifier
      ber::Reader kid(rid.contents, depth + 4);
      auto ski = kid.Next();
      match = ski && ski->tag == der::kOctetString && !ids.subject_key_id.empty() &&
              oid::Equal(ski->contents, ids.subject_key_id);
    }
    if (match) {
      wrapped = TRY(ber::OctetString(ek, depth + 3, "encryptedKey"));
      break;
    }
  }
  if (!wrapped) return std::optional<KeyResult>();
  if (key.Family() != crypto::KeyFamily::kEcdsa)
    return Fail(ErrorCode::kCrypto, "ECDH key agreement to a non-EC key");
  // originator: originatorKey [1] OriginatorPublicKey.
  ber::Reader orr = TRY(r.Enter(orig, "originator"));
  ber::Element ok = TRY_CONTEXT(orr.Next(), "originator");
  if (ok.tag != der::ContextConstructed(1))
    return Fail(ErrorCode::kUnsupported, "KARI originators other than an ephemeral key are not supported");
  ber::Reader okr = TRY(orr.Enter(ok, "originatorKey"));
  TRY(okr.Expect(der::kSequence, "originatorKey.algorithm"));
  ber::Element bits = TRY(okr.Expect(der::kBitString, "originatorKey.publicKey"));
  if (bits.contents.size() < 2 || bits.contents[0] != 0)
    return Fail(ErrorCode::kParse, "originatorKey.publicKey: malformed BIT STRING");
  // The ephemeral key is on our curve: our SPKI's algorithm with the originator's point.
  Bytes our_spki = cert.PublicKey().PublicKeyDer();
  der::Element spki = TRY(der::ParseSingle(our_spki, der::kSequence, "SubjectPublicKeyInfo"));
  der::Reader sr(spki.contents);
  der::Element our_alg = TRY(sr.Expect(der::kSequence, "SubjectPublicKeyInfo.algorithm"));
  Bytes eph_spki = der::Wrap(der::kSequence, {our_alg.encoding, der::Tlv(der::kBitString, bits.contents)});
  crypto::PublicKey eph = TRY_CONTEXT(crypto::PublicKey::FromDer(eph_spki), "originator public key");
  // keyEncryptionAlgorithm { kdf scheme, KeyWrapAlgorithm }.
  ber::Reader ar = TRY(r.Enter(kea, "keyEncryptionAlgorithm"));
  ber::Element scheme = TRY(ar.Expect(der::kOid, "keyEncryptionAlgorithm"));
  auto kdf = KdfDigest(scheme.contents);
  if (!kdf) return Unsupported("key agreement scheme", scheme.contents);
  ber::Element wrap_alg = TRY(ar.Expect(der::kSequence, "KeyWrapAlgorithm"));
  ber::Reader wr = TRY(ar.Enter(wrap_alg, "KeyWrapAlgorithm"));
  ber::Element wrap_oid = TRY(wr.Expect(der::kOid, "KeyWrapAlgorithm"));
  size_t kek_len = oid::Equal(wrap_oid.contents, oid::kAes128Wrap)   ? 16
                   : oid::Equal(wrap_oid.contents, oid::kAes192Wrap) ? 24
                   : oid::Equal(wrap_oid.contents, oid::kAes256Wrap) ? 32
                                                                     : 0;
  if (kek_len == 0) return Unsupported("key wrap algorithm", wrap_oid.contents);
  std::optional<Bytes> ukm;
  if (ukm_el) {
    ber::Reader ur = TRY(r.Enter(*ukm_el, "ukm"));
    ber::Element u = TRY(ur.Expect(der::kOctetString, "ukm"));
    ukm = Bytes(u.contents.begin(), u.contents.end());
  }
  Bytes z = TRY(internal::EcdhDerive(key.evp(), eph.evp()));
  Bytes shared = internal::EccCmsSharedInfo(
      wrap_alg.encoding, ukm ? std::optional<ByteView>(*ukm) : std::nullopt, kek_len);
  Bytes kek = internal::X963Kdf(*kdf, z, shared, kek_len);
  auto unwrapped = internal::AesUnwrap(kek, *wrapped);
  Bytes cek = unwrapped ? std::move(*unwrapped) : Bytes();  // empty: see PkeyDecrypt
  return std::optional(KeyResult{std::move(cek), KeyEncryption::kEcdhSha256Kdf, *kdf});
}

}  // namespace

Result<Decrypted> Decrypt(ByteView cms, const x509::Certificate& certificate, const crypto::PrivateKey& key) {
  Bytes decoded;
  ByteView input = cms;
  if (!cms.empty() && cms[0] != der::kSequence) {
    decoded = TRY(Unarmor(cms));
    input = decoded;
  }
  internal::ContentInfo ci = TRY(internal::ParseContentInfo(input));
  auto type = internal::TypeFromOid(ci.type);
  if (!type || *type == CmsType::kSignedData || *type == CmsType::kSm2SignedData)
    return Fail(ErrorCode::kParse, "not an encrypted CMS message (content type " +
                                       (type ? std::string(SmimeType(*type)) : der::OidToString(ci.type)) + ")");
  if (!certificate.PublicKey().Equals(key.Public()))
    return Fail(ErrorCode::kInvalidArgument, "the key does not match the certificate");
  const bool auth = *type == CmsType::kAuthEnvelopedData;
  const int d = ci.depth;
  if (ci.content.tag != der::kSequence) return Fail(ErrorCode::kParse, "EnvelopedData: not a SEQUENCE");
  ber::Reader r(ci.content.contents, d + 1);
  TRY(r.Expect(der::kInteger, "EnvelopedData.version"));
  TRY(r.Optional(der::ContextConstructed(0)));  // originatorInfo
  ber::Element infos = TRY(r.Expect(der::kSet, "recipientInfos"));
  ber::Element eci = TRY(r.Expect(der::kSequence, "encryptedContentInfo"));
  std::optional<ber::Element> auth_attrs;
  std::optional<ber::Element> mac;
  if (auth) {
    auth_attrs = TRY(r.Optional(der::ContextConstructed(1)));
    mac = TRY(r.Expect(der::kOctetString, "AuthEnvelopedData.mac"));
  }

  Decrypted result;
  result.type = *type;
  internal::CertIds ids = TRY_CONTEXT(internal::ParseCertIds(certificate), "our certificate");
  std::optional<KeyResult> k;
  ber::Reader ir(infos.contents, d + 2);
  while (!ir.empty() && !k) {
    ber::Element ri = TRY_CONTEXT(ir.Next(), "RecipientInfo");
    if (ri.tag == der::kSequence) {
      k = TRY_CONTEXT(TryKtri(ri, d + 2, ids, key), "KeyTransRecipientInfo");
    } else if (ri.tag == der::ContextConstructed(1)) {
      k = TRY_CONTEXT(TryKari(ri, d + 2, certificate, ids, key), "KeyAgreeRecipientInfo");
    }  // KEKRI, PWRI, ORI: not for a certificate
  }
  if (!k)
    return Fail(ErrorCode::kNotFound, "the message is not encrypted to " + certificate.Subject() +
                                          " (no RecipientInfo for this certificate)");
  result.key_encryption = k->alg;
  result.kdf_digest = k->kdf;

  // EncryptedContentInfo.
  ber::Reader er(eci.contents, d + 2);
  ber::Element ctype = TRY(er.Expect(der::kOid, "encryptedContentInfo.contentType"));
  result.content_type = der::OidToString(ctype.contents);
  // RFC 8551 §2.4.3 (and GM/T 0010): the encrypted content is id-data (a MIME entity).
  if (!oid::Equal(ctype.contents, oid::kData) && !oid::Equal(ctype.contents, oid::kGmData))
    return Unsupported("encrypted content type", ctype.contents);
  ber::Element alg = TRY(er.Expect(der::kSequence, "contentEncryptionAlgorithm"));
  auto content = TRY(er.Optional(der::ContextPrimitive(0)));
  if (!content) content = TRY(er.Optional(der::ContextConstructed(0)));
  if (!content) return Fail(ErrorCode::kParse, "encryptedContent is absent (detached encrypted content is not supported)");
  ber::Reader ar = TRY(er.Enter(alg, "contentEncryptionAlgorithm"));
  ber::Element cipher_oid = TRY(ar.Expect(der::kOid, "contentEncryptionAlgorithm"));
  auto cipher = internal::CipherFromOid(cipher_oid.contents);
  if (!cipher) return Unsupported("content encryption algorithm", cipher_oid.contents);
  result.cipher = *cipher;
  const bool gcm = IsAuthenticated(*cipher);
  if (gcm != auth)
    return Fail(ErrorCode::kParse, gcm ? "AES-GCM outside AuthEnvelopedData" : "AuthEnvelopedData without an AEAD cipher");
  Bytes iv;
  size_t tag_len = 12;  // RFC 5084 §3.2: aes-ICVlen DEFAULT 12
  if (gcm) {
    ber::Element p = TRY(ar.Expect(der::kSequence, "GCMParameters"));
    ber::Reader pr = TRY(ar.Enter(p, "GCMParameters"));
    ber::Element nonce = TRY(pr.Expect(der::kOctetString, "GCMParameters.aes-nonce"));
    iv.assign(nonce.contents.begin(), nonce.contents.end());
    if (auto icv = TRY(pr.Optional(der::kInteger))) {
      int64_t v = TRY(der::SmallInteger(icv->contents, "aes-ICVlen"));
      if (v < 12 || v > 16) return Fail(ErrorCode::kParse, "GCMParameters: aes-ICVlen out of 12..16");
      tag_len = static_cast<size_t>(v);
    }
    if (iv.empty() || iv.size() > 64) return Fail(ErrorCode::kParse, "GCMParameters: bad nonce length");
  } else {
    ber::Element p = TRY(ar.Expect(der::kOctetString, "IV"));
    iv.assign(p.contents.begin(), p.contents.end());
    if (iv.size() != 16) return Fail(ErrorCode::kParse, "content encryption IV must be 16 octets");
  }
  if (k->cek.size() != internal::CipherKeyLength(*cipher)) {
    // The key did not decrypt (or has the wrong size): carry on with a random key, so the failure
    // below is the same as for altered content (RFC 3218 §2.3.2).
    k->cek.resize(internal::CipherKeyLength(*cipher));
    if (RAND_bytes(k->cek.data(), static_cast<int>(k->cek.size())) != 1)
      return Fail(crypto::OpenSslError("random key"));
  }
  std::vector<ByteView> segments = TRY(ber::OctetSegments(*content, d + 3, "encryptedContent"));

  const EVP_CIPHER* evp_cipher = TRY(internal::EvpCipher(*cipher));
  crypto::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), evp_cipher, nullptr, nullptr, nullptr) != 1 ||
      (gcm && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                                  nullptr) != 1) ||
      EVP_DecryptInit_ex2(ctx.get(), nullptr, k->cek.data(), iv.data(), nullptr) != 1)
    return Fail(crypto::OpenSslError("content cipher"));
  OPENSSL_cleanse(k->cek.data(), k->cek.size());
  int len = 0;
  if (gcm && auth_attrs) {
    // RFC 5083 §2.2: the AAD is the DER of authAttrs with the EXPLICIT SET OF tag.
    if (auth_attrs->encoding.empty() ||
        auth_attrs->encoding.size() > static_cast<size_t>(INT32_MAX))
      return Fail(ErrorCode::kParse, "authAttrs: bad length");
    Bytes aad(auth_attrs->encoding.begin(), auth_attrs->encoding.end());
    aad[0] = der::kSet;
    if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
      return Fail(crypto::OpenSslError("GCM AAD"));
  }
  size_t total = 0;
  for (ByteView s : segments) total += s.size();
  if (!gcm && (total == 0 || total % 16 != 0))
    return Fail(ErrorCode::kParse, "encrypted content is not a whole number of blocks (truncated?)");
  result.content.reserve(total + 32);
  internal::AdviseHugePages(result.content);
  result.content.resize(total + 32);
  size_t at = 0;
  // EVP_DecryptUpdate takes an int length: segments go in slices of at most 1 GiB.
  constexpr size_t kMaxSlice = size_t{1} << 30;
  for (ByteView s : segments) {
    for (size_t i = 0; i < s.size(); i += kMaxSlice) {
      const size_t n = std::min(kMaxSlice, s.size() - i);
      if (EVP_DecryptUpdate(ctx.get(), result.content.data() + at, &len, s.data() + i,
                            static_cast<int>(n)) != 1 ||
          len < 0)
        return Fail(crypto::OpenSslError("content decryption"));
      at += static_cast<size_t>(len);
    }
  }
  if (gcm) {
    Bytes tag = TRY(ber::OctetString(*mac, d + 2, "mac"));
    if (tag.size() != tag_len) return Fail(ErrorCode::kParse, "AuthEnvelopedData mac length differs from aes-ICVlen");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()), tag.data()) != 1)
      return Fail(crypto::OpenSslError("GCM tag"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), result.content.data() + at, &len) != 1) {
    crypto::ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto,
                gcm ? "decryption failed (GCM authentication tag mismatch): the message was altered "
                      "or not encrypted for this key"
                    : "decryption failed (bad padding): the message was altered or not encrypted "
                      "for this key");
  }
  at += static_cast<size_t>(len);
  result.content.resize(at);
  return result;
}

}  // namespace autoseal::smime
