// EnvelopedData (RFC 5652 §6), AuthEnvelopedData (RFC 5083/5084) and GM/T 0010 envelopedData,
// written as DER (or BER when the length is unknown) by hand, streaming the content through one
// EVP cipher context.

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "core/der.h"
#include "crypto/ossl.h"
#include "smime/cms.h"
#include "smime/internal/common.h"
#include "smime/internal/envelope.h"
#include "smime/internal/oids.h"

namespace autoseal::smime {

using crypto::KeyFamily;

PreparedRecipient::PreparedRecipient(std::unique_ptr<State> state) : state_(std::move(state)) {}
PreparedRecipient::~PreparedRecipient() = default;
const Recipient& PreparedRecipient::recipient() const { return state_->recipient; }

namespace {

Result<crypto::EvpPkeyCtxPtr> EncryptContext(EVP_PKEY* pkey, int padding) {
  crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1) return Fail(crypto::OpenSslError("encrypt init"));
  if (padding != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding) != 1)
      return Fail(crypto::OpenSslError("RSA padding"));
    if (padding == RSA_PKCS1_OAEP_PADDING &&
        (EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1))
      return Fail(crypto::OpenSslError("RSA-OAEP parameters"));
  }
  return ctx;
}

}  // namespace

Result<std::shared_ptr<const PreparedRecipient>> PreparedRecipient::Create(const Recipient& recipient) {
  auto state = std::make_unique<State>(State{.recipient = recipient});
  const crypto::PublicKey key = recipient.certificate.PublicKey();
  state->family = key.Family();
  const std::string who = recipient.certificate.Subject();
  switch (state->family) {
    case KeyFamily::kRsa:
      if (key.Bits() < 2048)
        return Fail(ErrorCode::kPolicy, "RSA recipient keys below 2048 bits are refused (" + who + ")");
      state->pkcs1 = TRY(EncryptContext(key.evp(), RSA_PKCS1_PADDING));
      state->oaep = TRY(EncryptContext(key.evp(), RSA_PKCS1_OAEP_PADDING));
      break;
    case KeyFamily::kSm2:
      state->sm2 = TRY(EncryptContext(key.evp(), 0));
      break;
    case KeyFamily::kEcdsa: {
      // Checked once here; each message makes its own keygen context (RecipientInfo).
      crypto::EvpPkeyCtxPtr probe(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp(), nullptr));
      if (!probe || EVP_PKEY_keygen_init(probe.get()) != 1)
        return Fail(crypto::OpenSslError("ECDH key generation"));
      break;
    }
    case KeyFamily::kEd25519:
      return Fail(ErrorCode::kUnsupported, "cannot encrypt to an Ed25519 certificate (" + who + ")");
  }
  internal::CertIds ids = TRY_CONTEXT(internal::ParseCertIds(recipient.certificate), "recipient certificate");
  state->rid = internal::IssuerAndSerial(ids);
  return std::shared_ptr<const PreparedRecipient>(new PreparedRecipient(std::move(state)));
}

Result<EncryptionPlan> ChooseAlgorithms(
    const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
    const EncryptOptions& options) {
  if (recipients.empty()) return Fail(ErrorCode::kInvalidArgument, "no recipients to encrypt to");
  EncryptionPlan plan;
  size_t sm2 = 0;
  for (const auto& r : recipients) sm2 += r->state().family == KeyFamily::kSm2 ? 1 : 0;
  if (sm2 > 0 && sm2 != recipients.size())
    return Fail(ErrorCode::kPolicy,
                "SM2 and non-SM2 recipients cannot share one message (SM4 vs AES): send separately");
  if (sm2 > 0) {
    if (options.cipher && *options.cipher != ContentCipher::kSm4Cbc)
      return Fail(ErrorCode::kPolicy, "SM2 recipients use SM4-CBC");
    plan.cipher = ContentCipher::kSm4Cbc;
    plan.type = options.gm_oids ? CmsType::kSm2EnvelopedData : CmsType::kEnvelopedData;
    plan.key_encryption.assign(recipients.size(), KeyEncryption::kSm2);
    return plan;
  }
  if (options.cipher) {
    if (*options.cipher == ContentCipher::kSm4Cbc)
      return Fail(ErrorCode::kPolicy, "SM4-CBC is used with SM2 recipients only");
    plan.cipher = *options.cipher;
  } else {
    // RFC 8551 §2.7: the first choice every recipient announced. A recipient that announced
    // nothing gets AES-256-CBC, which all of OpenSSL, gpgsm, NSS (Thunderbird) and Outlook read;
    // AES-GCM (AuthEnvelopedData) they do not (email-anchors §0.1).
    plan.cipher = ContentCipher::kAes256Cbc;
    const ContentCipher preference[] = {ContentCipher::kAes256Gcm, ContentCipher::kAes128Gcm,
                                        ContentCipher::kAes256Cbc, ContentCipher::kAes128Cbc};
    const bool all_known = std::all_of(recipients.begin(), recipients.end(), [](const auto& r) {
      return r->recipient().capabilities && !r->recipient().capabilities->ciphers.empty();
    });
    if (all_known) {
      for (ContentCipher c : preference) {
        if (std::all_of(recipients.begin(), recipients.end(),
                        [c](const auto& r) { return r->recipient().capabilities->Supports(c); })) {
          plan.cipher = c;
          break;
        }
      }
    }
  }
  plan.type = IsAuthenticated(plan.cipher) ? CmsType::kAuthEnvelopedData : CmsType::kEnvelopedData;
  for (const auto& r : recipients) {
    if (r->state().family == KeyFamily::kEcdsa) {
      plan.key_encryption.push_back(KeyEncryption::kEcdhSha256Kdf);
    } else if (options.rsa_key_encryption) {
      if (*options.rsa_key_encryption != KeyEncryption::kRsaPkcs1v15 &&
          *options.rsa_key_encryption != KeyEncryption::kRsaOaep)
        return Fail(ErrorCode::kInvalidArgument, "RSA recipients use PKCS#1 v1.5 or OAEP");
      plan.key_encryption.push_back(*options.rsa_key_encryption);
    } else {
      // OAEP only where announced: gpgsm 2.2 and NSS cannot decrypt it (email-anchors §0.2).
      const auto& caps = r->recipient().capabilities;
      plan.key_encryption.push_back(caps && caps->rsa_oaep ? KeyEncryption::kRsaOaep
                                                           : KeyEncryption::kRsaPkcs1v15);
    }
  }
  return plan;
}

namespace {

constexpr uint8_t kNull[] = {der::kNull, 0};

Result<Bytes> PkeyEncrypt(EVP_PKEY_CTX* prototype, ByteView cek) {
  crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_dup(prototype));
  if (!ctx) return Fail(crypto::OpenSslError("EVP_PKEY_CTX_dup"));
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, cek.data(), cek.size()) != 1)
    return Fail(crypto::OpenSslError("key encryption"));
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, cek.data(), cek.size()) != 1)
    return Fail(crypto::OpenSslError("key encryption"));
  out.resize(len);
  return out;
}

Bytes OaepAlgorithm() {
  // RFC 4055 §4.1 / RFC 8017 A.2.1: RSAES-OAEP-params with SHA-256 and MGF1(SHA-256); pSource
  // default (empty label).
  Bytes sha256 = internal::DigestAlgorithmIdentifier(crypto::DigestAlgorithm::kSha256);
  return der::Wrap(
      der::kSequence,
      {der::Tlv(der::kOid, oid::kRsaesOaep),
       der::Wrap(der::kSequence,
                 {der::Tlv(der::ContextConstructed(0), sha256),
                  der::Tlv(der::ContextConstructed(1),
                           der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kMgf1), sha256}))})});
}

// One RecipientInfo for the content-encryption key.
Result<Bytes> RecipientInfo(const PreparedRecipient& r, KeyEncryption alg, ContentCipher cipher,
                            ByteView cek) {
  const PreparedRecipient::State& s = r.state();
  static constexpr uint8_t kVersion0[] = {der::kInteger, 1, 0};
  switch (alg) {
    case KeyEncryption::kRsaPkcs1v15: {
      // RFC 5652 §6.2.1 KeyTransRecipientInfo v0; RFC 3370 §4.2.1 rsaEncryption, NULL parameters.
      Bytes ek = TRY(PkeyEncrypt(s.pkcs1.get(), cek));
      return der::Wrap(der::kSequence,
                       {ByteView(kVersion0, 3), s.rid,
                        der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kRsaEncryption), ByteView(kNull, 2)}),
                        der::Tlv(der::kOctetString, ek)});
    }
    case KeyEncryption::kRsaOaep: {
      static const Bytes oaep = OaepAlgorithm();
      Bytes ek = TRY(PkeyEncrypt(s.oaep.get(), cek));
      return der::Wrap(der::kSequence, {ByteView(kVersion0, 3), s.rid, oaep, der::Tlv(der::kOctetString, ek)});
    }
    case KeyEncryption::kSm2: {
      // GM/T 0010 §8: keyEncryptionAlgorithm sm2-3; encryptedKey is the SM2 ciphertext (GM/T 0009
      // SM2Cipher DER, C1 C3 C2), as EVP_PKEY_encrypt writes it.
      Bytes ek = TRY(PkeyEncrypt(s.sm2.get(), cek));
      return der::Wrap(der::kSequence,
                       {ByteView(kVersion0, 3), s.rid,
                        der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kSm2Encrypt)}),
                        der::Tlv(der::kOctetString, ek)});
    }
    case KeyEncryption::kEcdhSha256Kdf: {
      // RFC 5753 §3.1.1: ephemeral-static ECDH; the KEK from the X9.63 KDF with SHA-256 over
      // ECC-CMS-SharedInfo; the CEK wrapped with AES key wrap of the content cipher's size.
      // A context per message: keygen changes its context, and OpenSSL 3.0 cannot duplicate an
      // initialised keygen context, so the prepared recipient shares none between threads.
      crypto::EvpPkeyCtxPtr keygen(
          EVP_PKEY_CTX_new_from_pkey(nullptr, r.recipient().certificate.PublicKey().evp(), nullptr));
      EVP_PKEY* eph_raw = nullptr;
      if (!keygen || EVP_PKEY_keygen_init(keygen.get()) != 1 || EVP_PKEY_keygen(keygen.get(), &eph_raw) != 1)
        return Fail(crypto::OpenSslError("ephemeral EC key"));
      crypto::EvpPkeyPtr eph(eph_raw);
      Bytes z = TRY(internal::EcdhDerive(eph.get(), r.recipient().certificate.PublicKey().evp()));
      const size_t kek_len = internal::CipherKeyLength(cipher) == 16 ? 16 : 32;
      const ByteView wrap_oid = kek_len == 16 ? oid::kAes128Wrap : oid::kAes256Wrap;
      Bytes wrap_alg = der::Wrap(der::kSequence, {der::Tlv(der::kOid, wrap_oid)});
      Bytes kek = internal::X963Kdf(crypto::DigestAlgorithm::kSha256, z,
                                    internal::EccCmsSharedInfo(wrap_alg, std::nullopt, kek_len), kek_len);
      Bytes wrapped = TRY(internal::AesWrap(kek, cek));
      uint8_t point[160];
      size_t point_len = 0;
      if (EVP_PKEY_get_octet_string_param(eph.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                          sizeof(point), &point_len) != 1)
        return Fail(crypto::OpenSslError("ephemeral public key"));
      Bytes bits{0};
      bits.insert(bits.end(), point, point + point_len);
      // originator [0] EXPLICIT OriginatorIdentifierOrKey: originatorKey [1] IMPLICIT
      // OriginatorPublicKey { id-ecPublicKey (parameters absent, RFC 5753 §3.1.1), BIT STRING }.
      Bytes originator = der::Tlv(
          der::ContextConstructed(0),
          der::Wrap(der::ContextConstructed(1),
                    {der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kEcPublicKey)}),
                     der::Tlv(der::kBitString, bits)}));
      Bytes kea = der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kEcdhSha256Kdf), wrap_alg});
      Bytes rek = der::Wrap(der::kSequence,
                            {der::Wrap(der::kSequence, {s.rid, der::Tlv(der::kOctetString, wrapped)})});
      static constexpr uint8_t kVersion3[] = {der::kInteger, 1, 3};
      return der::Wrap(der::ContextConstructed(1), {ByteView(kVersion3, 3), originator, kea, rek});
    }
  }
  return Fail(ErrorCode::kInternal, "unknown key encryption");
}

class EncryptStreamImpl final : public EncryptStream {
 public:
  static Result<std::unique_ptr<EncryptStreamImpl>> Create(
      const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
      const EncryptOptions& options, std::optional<uint64_t> content_length) {
    auto self = std::unique_ptr<EncryptStreamImpl>(new EncryptStreamImpl());
    self->plan_ = TRY(ChooseAlgorithms(recipients, options));
    self->length_ = content_length;
    const ContentCipher cipher = self->plan_.cipher;
    const bool gcm = IsAuthenticated(cipher);
    const size_t key_len = internal::CipherKeyLength(cipher);
    const size_t iv_len = gcm ? 12 : 16;  // RFC 5084 §3.2: a 12-octet nonce is RECOMMENDED
    uint8_t key_iv[32 + 16];
    if (RAND_bytes(key_iv, static_cast<int>(key_len + iv_len)) != 1)
      return Fail(crypto::OpenSslError("random content-encryption key"));
    ByteView cek(key_iv, key_len), iv(key_iv + key_len, iv_len);

    const EVP_CIPHER* evp_cipher = TRY(internal::EvpCipher(cipher));
    self->ctx_.reset(EVP_CIPHER_CTX_new());
    if (!self->ctx_ ||
        EVP_EncryptInit_ex2(self->ctx_.get(), evp_cipher, nullptr, nullptr, nullptr) != 1 ||
        (gcm && EVP_CIPHER_CTX_ctrl(self->ctx_.get(), EVP_CTRL_GCM_SET_IVLEN,
                                    static_cast<int>(iv_len), nullptr) != 1) ||
        EVP_EncryptInit_ex2(self->ctx_.get(), nullptr, cek.data(), iv.data(), nullptr) != 1)
      return Fail(crypto::OpenSslError("content cipher"));

    Bytes infos;
    bool all_v0 = true;
    for (size_t i = 0; i < recipients.size(); ++i) {
      Bytes ri = TRY(RecipientInfo(*recipients[i], self->plan_.key_encryption[i], cipher, cek));
      if (self->plan_.key_encryption[i] == KeyEncryption::kEcdhSha256Kdf) all_v0 = false;
      infos.insert(infos.end(), ri.begin(), ri.end());
    }
    const bool gm = self->plan_.type == CmsType::kSm2EnvelopedData;
    const ByteView ci_type = gm                                          ? oid::kGmEnvelopedData
                             : self->plan_.type == CmsType::kAuthEnvelopedData ? oid::kAuthEnvelopedData
                                                                         : oid::kEnvelopedData;
    Bytes params;
    if (gcm) {
      // RFC 5084 §3.2 GCMParameters { aes-nonce, aes-ICVlen 16 } (DEFAULT is 12, so it is written).
      params = der::Wrap(der::kSequence, {der::Tlv(der::kOctetString, iv), der::Integer(16)});
    } else {
      params = der::Tlv(der::kOctetString, iv);  // RFC 3565 §4.1, GM/T 0010: the IV
    }
    OPENSSL_cleanse(key_iv, sizeof(key_iv));
    Bytes alg = der::Wrap(der::kSequence, {der::Tlv(der::kOid, internal::OidForCipher(cipher)), params});
    self->eci_prefix_ = der::Tlv(der::kOid, gm ? oid::kGmData : oid::kData);
    self->eci_prefix_.insert(self->eci_prefix_.end(), alg.begin(), alg.end());
    // RFC 5652 §6.1: version 0 when every RecipientInfo is v0 (KTRI with issuerAndSerialNumber),
    // 2 with KARI (v3). RFC 5083 §2.1: AuthEnvelopedData is always version 0.
    const uint8_t version = (self->plan_.type == CmsType::kAuthEnvelopedData || all_v0) ? 0 : 2;
    self->head_ = {der::kInteger, 1, version};
    der::AppendTlv(self->head_, der::kSet, infos);
    self->ci_type_ = ci_type;
    return self;
  }

  Status Update(ByteView chunk, Bytes* out) override {
    if (finished_) return Fail(ErrorCode::kInvalidArgument, "EncryptStream: Update after Finish");
    WriteHeader(out);
    fed_ += chunk.size();
    if (length_ && fed_ > *length_)
      return Fail(ErrorCode::kInvalidArgument, "EncryptStream: more content than announced");
    if (chunk.empty()) return Ok();
    const bool cbc = !IsAuthenticated(plan_.cipher);
    // The exact output of this update: whole blocks for CBC (buffered_ carried over), all for GCM.
    const size_t produced = cbc ? ((buffered_ + chunk.size()) / 16) * 16 : chunk.size();
    buffered_ = cbc ? (buffered_ + chunk.size()) % 16 : 0;
    if (!length_ && produced > 0) der::AppendHeader(*out, der::kOctetString, produced);
    return Encrypt(chunk, produced, out);
  }

  Status Finish(Bytes* out) override {
    if (finished_) return Fail(ErrorCode::kInvalidArgument, "EncryptStream: Finish called twice");
    WriteHeader(out);
    finished_ = true;
    if (length_ && fed_ != *length_)
      return Fail(ErrorCode::kInvalidArgument, "EncryptStream: less content than announced");
    const bool cbc = !IsAuthenticated(plan_.cipher);
    size_t last = cbc ? 16 : 0;  // PKCS #7 padding: always one more (partial) block
    if (!length_ && last > 0) der::AppendHeader(*out, der::kOctetString, last);
    size_t at = out->size();
    out->resize(at + last + 16);
    int len = 0;
    if (EVP_EncryptFinal_ex(ctx_.get(), out->data() + at, &len) != 1)
      return Fail(crypto::OpenSslError("content encryption"));
    if (len < 0 || static_cast<size_t>(len) != last)
      return Fail(ErrorCode::kInternal, "content encryption produced an unexpected final block");
    out->resize(at + last);
    // BER: end of the constructed [0] encryptedContent, then of EncryptedContentInfo.
    if (!length_) out->insert(out->end(), {0, 0, 0, 0});
    if (!cbc) {
      uint8_t tag[16];
      if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
        return Fail(crypto::OpenSslError("GCM tag"));
      der::AppendTlv(*out, der::kOctetString, ByteView(tag, 16));  // mac
    }
    if (!length_) out->insert(out->end(), {0, 0, 0, 0, 0, 0});  // envelope, [0], ContentInfo
    return Ok();
  }

  const EncryptionPlan& plan() const override { return plan_; }

 private:
  EncryptStreamImpl() = default;

  size_t CiphertextLength() const {
    return IsAuthenticated(plan_.cipher) ? *length_ : (*length_ / 16 + 1) * 16;
  }

  void WriteHeader(Bytes* out) {
    if (header_written_) return;
    header_written_ = true;
    const bool gcm = IsAuthenticated(plan_.cipher);
    if (length_) {
      const size_t ct = CiphertextLength();
      const size_t eci_body = eci_prefix_.size() + der::EncodedSize(ct);
      const size_t env_body = head_.size() + der::EncodedSize(eci_body) + (gcm ? der::EncodedSize(16) : 0);
      const size_t ci_body = der::EncodedSize(ci_type_.size()) + der::EncodedSize(der::EncodedSize(env_body));
      out->reserve(out->size() + der::EncodedSize(ci_body));
      der::AppendHeader(*out, der::kSequence, ci_body);
      der::AppendTlv(*out, der::kOid, ci_type_);
      der::AppendHeader(*out, der::ContextConstructed(0), der::EncodedSize(env_body));
      der::AppendHeader(*out, der::kSequence, env_body);
      out->insert(out->end(), head_.begin(), head_.end());
      der::AppendHeader(*out, der::kSequence, eci_body);
      out->insert(out->end(), eci_prefix_.begin(), eci_prefix_.end());
      der::AppendHeader(*out, der::ContextPrimitive(0), ct);  // [0] IMPLICIT OCTET STRING
    } else {
      out->insert(out->end(), {der::kSequence, 0x80});
      der::AppendTlv(*out, der::kOid, ci_type_);
      out->insert(out->end(), {der::ContextConstructed(0), 0x80, der::kSequence, 0x80});
      out->insert(out->end(), head_.begin(), head_.end());
      out->insert(out->end(), {der::kSequence, 0x80});
      out->insert(out->end(), eci_prefix_.begin(), eci_prefix_.end());
      out->insert(out->end(), {der::ContextConstructed(0), 0x80});  // constructed [0]
    }
  }

  // EVP_EncryptUpdate takes an int length: a chunk is fed in slices of at most 1 GiB, so any
  // chunk the caller hands to Update (2 GiB and more included) is encrypted, never truncated.
  static constexpr size_t kMaxSlice = size_t{1} << 30;

  Status Encrypt(ByteView chunk, size_t produced, Bytes* out) {
    const size_t at = out->size();
    out->resize(at + chunk.size() + 16);
    size_t written = 0;
    for (size_t i = 0; i < chunk.size(); i += kMaxSlice) {
      const size_t n = std::min(kMaxSlice, chunk.size() - i);
      int len = 0;
      if (EVP_EncryptUpdate(ctx_.get(), out->data() + at + written, &len, chunk.data() + i,
                            static_cast<int>(n)) != 1 ||
          len < 0)
        return Fail(crypto::OpenSslError("content encryption"));
      written += static_cast<size_t>(len);
    }
    if (written != produced)
      return Fail(ErrorCode::kInternal, "content encryption produced an unexpected length");
    out->resize(at + produced);
    return Ok();
  }

  EncryptionPlan plan_;
  std::optional<uint64_t> length_;
  crypto::EvpCipherCtxPtr ctx_;
  ByteView ci_type_;
  Bytes head_;        // version, recipientInfos
  Bytes eci_prefix_;  // contentType, contentEncryptionAlgorithm
  uint64_t fed_ = 0;
  size_t buffered_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
};

}  // namespace

Result<std::unique_ptr<EncryptStream>> BeginEncrypt(
    const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
    const EncryptOptions& options, std::optional<uint64_t> content_length) {
  auto s = TRY(EncryptStreamImpl::Create(recipients, options, content_length));
  return std::unique_ptr<EncryptStream>(std::move(s));
}

Result<Bytes> Encrypt(ByteView content,
                      const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
                      const EncryptOptions& options) {
  auto s = TRY(EncryptStreamImpl::Create(recipients, options, content.size()));
  Bytes out;
  out.reserve(content.size() + 1024 + 512 * recipients.size());
  TRY(s->Update(content, &out));
  TRY(s->Finish(&out));
  return out;
}

Result<Bytes> Encrypt(ByteView content, const std::vector<Recipient>& recipients,
                      const EncryptOptions& options) {
  std::vector<std::shared_ptr<const PreparedRecipient>> prepared;
  for (const auto& r : recipients) prepared.push_back(TRY(PreparedRecipient::Create(r)));
  return Encrypt(content, prepared, options);
}

}  // namespace autoseal::smime
