// SignedData (RFC 5652 §5) written as DER by hand, with the constant parts computed once per
// signer; the postmark (RFC 3161 Appendix A) as an unsigned attribute.

#include <algorithm>

#include "core/der.h"
#include "crypto/prepared.h"
#include "crypto/signature.h"
#include "smime/cms.h"
#include "smime/internal/common.h"
#include "smime/internal/oids.h"

namespace autoseal::smime {

using crypto::DigestAlgorithm;
using crypto::KeyFamily;

struct CmsSigner::State {
  explicit State(SignerConfig c) : config(std::move(c)) {}
  SignerConfig config;
  DigestAlgorithm digest = DigestAlgorithm::kSha256;
  std::shared_ptr<const crypto::PreparedSigner> signer;
  bool sm2 = false;
  ByteView content_info_type;  // signedData (RFC 5652 or GM/T 0010)
  ByteView data_type;          // id-data or GM/T 0010 data
  Bytes digest_algorithm;      // AlgorithmIdentifier
  Bytes digest_algorithms_set;
  Bytes signature_algorithm;
  Bytes sid;                   // IssuerAndSerialNumber
  Bytes certificates;          // [0] IMPLICIT SET OF Certificate
  Bytes content_type_attr, capabilities_attr, ess_attr;
  Bytes message_digest_prefix;  // messageDigest attribute up to the digest octets
};

CmsSigner::CmsSigner(std::unique_ptr<State> state) : state_(std::move(state)) {}
CmsSigner::~CmsSigner() = default;
DigestAlgorithm CmsSigner::digest() const { return state_->digest; }
const x509::Certificate& CmsSigner::certificate() const { return state_->config.chain.front(); }
bool CmsSigner::is_sm2() const { return state_->sm2; }

Result<std::shared_ptr<const CmsSigner>> CmsSigner::Create(SignerConfig config) {
  if (config.chain.empty())
    return Fail(ErrorCode::kInvalidArgument, "CMS signer needs its certificate");
  const x509::Certificate& cert = config.chain.front();
  if (!cert.PublicKey().Equals(config.key.Public()))
    return Fail(ErrorCode::kInvalidArgument,
                "the signing key does not match the certificate " + cert.Subject());
  auto state = std::make_unique<State>(config);
  const KeyFamily family = config.key.Family();
  state->sm2 = family == KeyFamily::kSm2;
  // RFC 8419 §3.1: Ed25519 with signed attributes uses SHA-512 for messageDigest and signs the
  // attributes with pure EdDSA.
  std::optional<DigestAlgorithm> sign_digest;
  if (family == KeyFamily::kEd25519) {
    if (config.digest && *config.digest != DigestAlgorithm::kSha512)
      return Fail(ErrorCode::kPolicy, "Ed25519 CMS signatures use SHA-512 (RFC 8419)");
    state->digest = DigestAlgorithm::kSha512;
    sign_digest = DigestAlgorithm::kNone;
  } else {
    state->digest = config.digest.value_or(crypto::DefaultDigest(config.key));
    TRY(crypto::CheckDigestForKey(config.key, state->digest));
    sign_digest = state->digest;
  }
  state->signer = TRY(crypto::PreparedSigner::Create(config.key, sign_digest));

  const bool gm = state->sm2 && config.gm_oids;
  state->content_info_type = gm ? oid::kGmSignedData : oid::kSignedData;
  state->data_type = gm ? oid::kGmData : oid::kData;
  state->digest_algorithm = internal::DigestAlgorithmIdentifier(state->digest);
  state->digest_algorithms_set = der::Tlv(der::kSet, state->digest_algorithm);
  static constexpr uint8_t kNull[] = {der::kNull, 0};
  switch (family) {
    case KeyFamily::kEcdsa: {
      ByteView o = state->digest == DigestAlgorithm::kSha384   ? oid::kEcdsaWithSha384
                   : state->digest == DigestAlgorithm::kSha512 ? oid::kEcdsaWithSha512
                                                               : oid::kEcdsaWithSha256;
      // RFC 5758 §3.2: parameters absent.
      state->signature_algorithm = der::Wrap(der::kSequence, {der::Tlv(der::kOid, o)});
      break;
    }
    case KeyFamily::kRsa:
      // RFC 3370 §3.2: rsaEncryption (NULL parameters), as OpenSSL and gpgsm write it.
      state->signature_algorithm =
          der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kRsaEncryption), ByteView(kNull, 2)});
      break;
    case KeyFamily::kSm2:
      // GM/T 0010-2012 §7: digestEncryptionAlgorithm sm2-1 (1.2.156.10197.1.301.1).
      state->signature_algorithm = der::Wrap(
          der::kSequence, {der::Tlv(der::kOid, gm ? oid::kSm2Sign : oid::kSm2WithSm3)});
      break;
    case KeyFamily::kEd25519:
      state->signature_algorithm = der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kEd25519)});
      break;
  }

  internal::CertIds ids = TRY_CONTEXT(internal::ParseCertIds(cert), "signing certificate");
  state->sid = internal::IssuerAndSerial(ids);
  Bytes certs;
  for (const auto& c : config.chain) {
    Bytes d = c.Der();
    certs.insert(certs.end(), d.begin(), d.end());
  }
  state->certificates = der::Tlv(der::ContextConstructed(0), certs);

  state->content_type_attr =
      internal::Attribute(oid::kContentType, der::Tlv(der::kOid, state->data_type));
  Bytes caps = config.capabilities.value_or(OurSmimeCapabilities(state->sm2));
  state->capabilities_attr = internal::Attribute(oid::kSmimeCapabilities, caps);
  if (config.signing_certificate_v2) {
    // RFC 5035 §5.4: SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 }; ESSCertIDv2 {
    // hashAlgorithm DEFAULT id-sha256, certHash, issuerSerial }. The hash is SHA-256 (SM3 for SM2).
    DigestAlgorithm h = state->sm2 ? DigestAlgorithm::kSm3 : DigestAlgorithm::kSha256;
    Bytes cert_hash = crypto::Digest(h, cert.Der());
    Bytes issuer_serial = der::Wrap(
        der::kSequence,
        {der::Wrap(der::kSequence, {der::Tlv(der::ContextConstructed(4), ids.issuer)}),
         der::Tlv(der::kInteger, ids.serial)});
    Bytes ess_cert_id =
        h == DigestAlgorithm::kSha256
            ? der::Wrap(der::kSequence, {der::Tlv(der::kOctetString, cert_hash), issuer_serial})
            : der::Wrap(der::kSequence, {internal::DigestAlgorithmIdentifier(h),
                                         der::Tlv(der::kOctetString, cert_hash), issuer_serial});
    state->ess_attr = internal::Attribute(
        oid::kSigningCertificateV2,
        der::Wrap(der::kSequence, {der::Wrap(der::kSequence, {ess_cert_id})}));
  }
  const size_t dlen = crypto::DigestSize(state->digest);
  Bytes md_attr = internal::Attribute(oid::kMessageDigest, der::Tlv(der::kOctetString, Bytes(dlen, 0)));
  state->message_digest_prefix.assign(md_attr.begin(), md_attr.end() - static_cast<ptrdiff_t>(dlen));
  return std::shared_ptr<const CmsSigner>(new CmsSigner(std::move(state)));
}

namespace {

// Builds the SignerInfo for a content digest: signed attributes, signature, postmark.
Result<Bytes> BuildSignerInfo(const CmsSigner::State& s, ByteView content_digest,
                              const SignOptions& options) {
  Bytes md_attr = s.message_digest_prefix;
  md_attr.insert(md_attr.end(), content_digest.begin(), content_digest.end());
  der::Writer time_writer(20);
  TRY_CONTEXT(time_writer.Time(options.signing_time), "signingTime");
  // RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise (what Writer::Time does).
  Bytes time_attr = internal::Attribute(oid::kSigningTime, time_writer.bytes());
  ByteView attrs[5] = {s.content_type_attr, time_attr, md_attr, s.capabilities_attr, s.ess_attr};
  const size_t count = s.ess_attr.empty() ? 4 : 5;
  // X.690 §11.6: DER orders a SET OF by the encodings; the signature covers this order.
  std::sort(attrs, attrs + count, [](ByteView a, ByteView b) { return der::SetOfLess(a, b); });
  size_t attrs_len = 0;
  for (size_t i = 0; i < count; ++i) attrs_len += attrs[i].size();
  Bytes signed_attrs;
  signed_attrs.reserve(der::EncodedSize(attrs_len));
  der::AppendHeader(signed_attrs, der::kSet, attrs_len);  // RFC 5652 §5.4: signed as a SET OF
  for (size_t i = 0; i < count; ++i) signed_attrs.insert(signed_attrs.end(), attrs[i].begin(), attrs[i].end());
  Bytes signature = TRY_CONTEXT(s.signer->Sign(signed_attrs), "CMS signature");
  signed_attrs[0] = der::ContextConstructed(0);  // [0] IMPLICIT in the SignerInfo

  Bytes unsigned_attrs;
  if (options.postmark) {
    const DigestAlgorithm pd = options.postmark_digest.value_or(
        s.sm2 ? DigestAlgorithm::kSm3 : DigestAlgorithm::kSha256);
    // RFC 3161 Appendix A: the time-stamp is over the signature value (the OCTET STRING's
    // contents) of this SignerInfo.
    Bytes hashed = crypto::Digest(pd, signature);
    Bytes token = TRY_CONTEXT(options.postmark(pd, hashed), "postmark");
    auto parsed = der::ReadElement(token);
    if (!parsed || parsed->tag != der::kSequence || !parsed->rest.empty())
      return Fail(ErrorCode::kParse, "postmark: the TSA's token is not a DER ContentInfo");
    unsigned_attrs = der::Tlv(der::ContextConstructed(1),
                              internal::Attribute(oid::kTimeStampToken, token));
  }
  static constexpr uint8_t kVersion1[] = {der::kInteger, 1, 1};
  return der::Wrap(der::kSequence,
                   {ByteView(kVersion1, 3), s.sid, s.digest_algorithm, signed_attrs,
                    s.signature_algorithm, der::Tlv(der::kOctetString, signature), unsigned_attrs});
}

// The ContentInfo header and SignedData fields before encapContentInfo.
void AppendSignedDataStart(const CmsSigner::State& s, Bytes& out, std::optional<size_t> body_len,
                           std::optional<size_t> signed_data_len) {
  static constexpr uint8_t kVersion1[] = {der::kInteger, 1, 1};
  auto header = [&out](uint8_t tag, std::optional<size_t> len) {
    if (len) {
      der::AppendHeader(out, tag, *len);
    } else {
      out.push_back(tag);
      out.push_back(0x80);
    }
  };
  header(der::kSequence, body_len);
  der::AppendTlv(out, der::kOid, s.content_info_type);
  header(der::ContextConstructed(0), signed_data_len ? std::optional(der::EncodedSize(*signed_data_len)) : std::nullopt);
  header(der::kSequence, signed_data_len);
  // RFC 5652 §5.1: version 1 (id-data, issuerAndSerialNumber, no other certificate formats).
  out.insert(out.end(), kVersion1, kVersion1 + 3);
  out.insert(out.end(), s.digest_algorithms_set.begin(), s.digest_algorithms_set.end());
}

class SignStreamImpl final : public SignStream {
 public:
  SignStreamImpl(std::shared_ptr<const CmsSigner> owner, const CmsSigner::State& s, SignOptions options)
      : owner_(std::move(owner)), s_(s), options_(std::move(options)), hasher_(s.digest) {}

  void Update(ByteView chunk, Bytes* out) override {
    hasher_.Update(chunk);
    if (options_.detached || chunk.empty()) return;
    StartOpaque(out);
    der::AppendTlv(*out, der::kOctetString, chunk);
  }

  Status Finish(Bytes* out) override {
    if (finished_) return Fail(ErrorCode::kInvalidArgument, "SignStream::Finish called twice");
    finished_ = true;
    digest_ = hasher_.Finish();
    Bytes signer_info = TRY(BuildSignerInfo(s_, digest_, options_));
    if (options_.detached) {
      *out = Assemble(s_, {}, signer_info, /*detached=*/true);
      return Ok();
    }
    StartOpaque(out);
    static constexpr uint8_t kEoc3[] = {0, 0, 0, 0, 0, 0};
    out->insert(out->end(), kEoc3, kEoc3 + 6);  // OCTET STRING, [0], EncapsulatedContentInfo
    out->insert(out->end(), s_.certificates.begin(), s_.certificates.end());
    der::AppendHeader(*out, der::kSet, signer_info.size());
    out->insert(out->end(), signer_info.begin(), signer_info.end());
    out->insert(out->end(), kEoc3, kEoc3 + 6);  // SignedData, [0], ContentInfo
    return Ok();
  }

  const Bytes& content_digest() const override { return digest_; }

  // The whole DER encoding for content already hashed: one copy of the content.
  static Bytes Assemble(const CmsSigner::State& s, ByteView content, ByteView signer_info,
                        bool detached) {
    const size_t type_tlv = der::EncodedSize(s.data_type.size());
    const size_t econtent = detached ? 0 : der::EncodedSize(der::EncodedSize(content.size()));
    const size_t encap = der::EncodedSize(type_tlv + econtent);
    const size_t signer_infos = der::EncodedSize(signer_info.size());
    const size_t sd_body = 3 + s.digest_algorithms_set.size() + encap + s.certificates.size() + signer_infos;
    const size_t ci_body = der::EncodedSize(s.content_info_type.size()) + der::EncodedSize(der::EncodedSize(sd_body));
    Bytes out;
    out.reserve(der::EncodedSize(ci_body));
    AppendSignedDataStart(s, out, ci_body, sd_body);
    der::AppendHeader(out, der::kSequence, type_tlv + econtent);
    der::AppendTlv(out, der::kOid, s.data_type);
    if (!detached) {
      der::AppendHeader(out, der::ContextConstructed(0), der::EncodedSize(content.size()));
      der::AppendTlv(out, der::kOctetString, content);
    }
    out.insert(out.end(), s.certificates.begin(), s.certificates.end());
    der::AppendHeader(out, der::kSet, signer_info.size());
    out.insert(out.end(), signer_info.begin(), signer_info.end());
    return out;
  }

 private:
  void StartOpaque(Bytes* out) {
    if (started_) return;
    started_ = true;
    AppendSignedDataStart(s_, *out, std::nullopt, std::nullopt);
    static constexpr uint8_t kIndefinite[] = {der::kSequence, 0x80};
    out->insert(out->end(), kIndefinite, kIndefinite + 2);
    der::AppendTlv(*out, der::kOid, s_.data_type);
    // [0] EXPLICIT OCTET STRING, constructed with indefinite length (X.690 §8.7.3).
    static constexpr uint8_t kOpen[] = {der::ContextConstructed(0), 0x80, 0x24, 0x80};
    out->insert(out->end(), kOpen, kOpen + 4);
  }

  std::shared_ptr<const CmsSigner> owner_;
  const CmsSigner::State& s_;
  SignOptions options_;
  crypto::Hasher hasher_;
  Bytes digest_;
  bool started_ = false;
  bool finished_ = false;
};

}  // namespace

Result<Bytes> CmsSigner::Sign(ByteView content, const SignOptions& options) const {
  Bytes digest = crypto::Digest(state_->digest, content);
  Bytes signer_info = TRY(BuildSignerInfo(*state_, digest, options));
  return SignStreamImpl::Assemble(*state_, content, signer_info, options.detached);
}

std::unique_ptr<SignStream> CmsSigner::Begin(const SignOptions& options) const {
  return std::make_unique<SignStreamImpl>(shared_from_this(), *state_, options);
}

Result<Bytes> Sign(ByteView content, const SignerConfig& config, const SignOptions& options) {
  auto signer = TRY(CmsSigner::Create(config));
  return signer->Sign(content, options);
}

PostmarkFetcher TsaPostmarkFetcher(std::string url, tsa::RequestOptions options) {
  return [url = std::move(url), options = std::move(options)](
             DigestAlgorithm digest, ByteView hashed) -> Result<Bytes> {
    tsa::RequestOptions o = options;
    o.digest = digest;
    o.cert_req = true;
    tsa::TimestampResult r = TRY(tsa::RequestTimestampForDigest(url, hashed, o));
    return std::move(r.token);
  };
}

}  // namespace autoseal::smime
