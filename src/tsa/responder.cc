#include "tsa/responder.h"

#include <algorithm>

#include "crypto/signature.h"
#include "tsa/internal/cms.h"
#include "tsa/internal/der.h"
#include "tsa/internal/oids.h"

namespace autoseal::tsa {
namespace {

using crypto::DigestAlgorithm;

constexpr uint8_t kNullParams[] = {der::kNull, 0};

// AlgorithmIdentifier for a digest. RFC 5754 §2: SHA-2 parameters SHOULD be absent; SM3 likewise
// (GM/T 0010 gives no parameters).
Bytes DigestAlgorithmIdentifier(DigestAlgorithm d) {
  return der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::OidForDigest(d))});
}

Bytes Attribute(ByteView type, ByteView value) {
  return der::Wrap(der::kSequence, {der::Tlv(der::kOid, type), der::Tlv(der::kSet, value)});
}

}  // namespace

Responder::Responder(ResponderOptions options) : options_(std::move(options)) {}
Responder::~Responder() = default;

Result<std::unique_ptr<Responder>> Responder::Create(ResponderOptions options) {
  if (options.serials == nullptr)
    return Fail(ErrorCode::kInvalidArgument, "TSA responder needs a serial number source");
  if (options.clock == nullptr) return Fail(ErrorCode::kInvalidArgument, "TSA responder needs a clock");
  if (options.chain.empty())
    return Fail(ErrorCode::kInvalidArgument, "TSA responder needs its certificate");
  if (options.precision_digits < 0 || options.precision_digits > 6)
    return Fail(ErrorCode::kInvalidArgument, "genTime precision must be 0..6 digits");
  if (options.accuracy_micros < 0)
    return Fail(ErrorCode::kInvalidArgument, "accuracy must not be negative");
  const x509::Certificate& cert = options.chain.front();
  if (!cert.PublicKey().Equals(options.key.Public()))
    return Fail(ErrorCode::kInvalidArgument,
                "the TSA key does not match the TSA certificate " + cert.Subject());
  // RFC 3161 §2.3: "The corresponding certificate MUST contain only one instance of the extended
  // key usage field extension ... with KeyPurposeID having value: id-kp-timeStamping. This
  // extension MUST be critical."
  auto ekus = cert.ExtendedKeyUsages();
  if (ekus.size() != 1 || ekus[0] != x509::kEkuTimeStamping || !cert.ExtendedKeyUsageCritical())
    return Fail(ErrorCode::kPolicy, "the TSA certificate " + cert.Subject() +
                                        " must have a critical extended key usage with "
                                        "timeStamping only (RFC 3161 §2.3)");
  if (options.key.Family() == crypto::KeyFamily::kEd25519)
    return Fail(ErrorCode::kPolicy, "Ed25519 TSA keys are not supported (ECDSA, RSA or SM2)");
  auto responder = std::unique_ptr<Responder>(new Responder(std::move(options)));
  TRY(responder->Precompute());
  return responder;
}

Status Responder::Precompute() {
  const crypto::PrivateKey& key = options_.key;
  signer_digest_ = crypto::DefaultDigest(key);
  signer_ = TRY(crypto::PreparedSigner::Create(key, signer_digest_));
  policy_tlv_ = der::Tlv(der::kOid, TRY_CONTEXT(der::EncodeOid(options_.policy_oid), "policy"));
  accepted_policies_.push_back(TRY(der::EncodeOid(options_.policy_oid)));
  for (const auto& p : options_.other_policies)
    accepted_policies_.push_back(TRY_CONTEXT(der::EncodeOid(p), "policy"));

  if (options_.accuracy_micros > 0) {
    int64_t secs = options_.accuracy_micros / 1000000;
    int64_t millis = options_.accuracy_micros / 1000 % 1000;
    int64_t micros = options_.accuracy_micros % 1000;
    Bytes body;
    if (secs > 0) {
      Bytes s = der::Integer(secs);
      body.insert(body.end(), s.begin(), s.end());
    }
    if (millis > 0) {
      Bytes m = der::Integer(millis);
      m[0] = der::ContextPrimitive(0);
      body.insert(body.end(), m.begin(), m.end());
    }
    if (micros > 0) {
      Bytes m = der::Integer(micros);
      m[0] = der::ContextPrimitive(1);
      body.insert(body.end(), m.begin(), m.end());
    }
    accuracy_tlv_ = der::Tlv(der::kSequence, body);
  }

  digest_algorithm_ = DigestAlgorithmIdentifier(signer_digest_);
  digest_algorithms_set_ = der::Tlv(der::kSet, digest_algorithm_);
  switch (key.Family()) {
    case crypto::KeyFamily::kEcdsa: {
      ByteView o = signer_digest_ == DigestAlgorithm::kSha384   ? oid::kEcdsaWithSha384
                   : signer_digest_ == DigestAlgorithm::kSha512 ? oid::kEcdsaWithSha512
                                                                : oid::kEcdsaWithSha256;
      // RFC 5758 §3.2: the parameters field MUST be absent.
      signature_algorithm_ = der::Wrap(der::kSequence, {der::Tlv(der::kOid, o)});
      break;
    }
    case crypto::KeyFamily::kRsa:
      // RFC 3370 §3.2: rsaEncryption with NULL parameters in SignerInfo.signatureAlgorithm.
      signature_algorithm_ = der::Wrap(
          der::kSequence, {der::Tlv(der::kOid, oid::kRsaEncryption), ByteView(kNullParams, 2)});
      break;
    case crypto::KeyFamily::kSm2:
      // GM/T 0010-2012: digestEncryptionAlgorithm sm2-1 (1.2.156.10197.1.301.1).
      signature_algorithm_ = der::Wrap(der::kSequence, {der::Tlv(der::kOid, oid::kSm2Sign)});
      break;
    case crypto::KeyFamily::kEd25519:
      return Fail(ErrorCode::kPolicy, "Ed25519 TSA keys are not supported");
  }

  Bytes cert_der = options_.chain.front().Der();
  cms::CertIds ids = TRY_CONTEXT(cms::ParseCertIds(cert_der), "TSA certificate");
  signer_identifier_ =
      der::Wrap(der::kSequence, {ids.issuer, der::Tlv(der::kInteger, ids.serial)});

  content_type_attr_ = Attribute(oid::kContentType, der::Tlv(der::kOid, oid::kTstInfo));

  // RFC 5816 / RFC 5035: SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 }, ESSCertIDv2 {
  // hashAlgorithm DEFAULT id-sha256, certHash, issuerSerial IssuerSerial }. The certificate hash
  // uses the signer's digest (SM3 for SM2 TSAs), so it is written out unless it is SHA-256.
  Bytes cert_hash = crypto::Digest(signer_digest_, cert_der);
  Bytes issuer_serial = der::Wrap(
      der::kSequence,
      {der::Wrap(der::kSequence, {der::Tlv(der::ContextConstructed(4), ids.issuer)}),
       der::Tlv(der::kInteger, ids.serial)});
  Bytes ess_cert_id =
      signer_digest_ == DigestAlgorithm::kSha256
          ? der::Wrap(der::kSequence, {der::Tlv(der::kOctetString, cert_hash), issuer_serial})
          : der::Wrap(der::kSequence, {digest_algorithm_, der::Tlv(der::kOctetString, cert_hash),
                                       issuer_serial});
  Bytes signing_certificate_v2 =
      der::Wrap(der::kSequence, {der::Wrap(der::kSequence, {ess_cert_id})});
  ess_attr_ = Attribute(oid::kSigningCertificateV2, signing_certificate_v2);

  // messageDigest attribute: everything up to the digest's octets, which change per token.
  size_t dlen = crypto::DigestSize(signer_digest_);
  Bytes md_attr = Attribute(oid::kMessageDigest, der::Tlv(der::kOctetString, Bytes(dlen, 0)));
  message_digest_prefix_.assign(md_attr.begin(), md_attr.end() - static_cast<ptrdiff_t>(dlen));

  // The DER order of the SET OF attributes is fixed by their lengths and OIDs, which precede the
  // digest value, so it is computed once (X.690 §11.6; verifiers re-encode and must match).
  std::vector<Bytes> attrs = {content_type_attr_, md_attr, ess_attr_};
  std::vector<int> order = {0, 1, 2};
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return der::SetOfLess(attrs[static_cast<size_t>(a)], attrs[static_cast<size_t>(b)]);
  });
  std::copy(order.begin(), order.end(), attr_order_);

  Bytes certs;
  for (const auto& c : options_.chain) {
    Bytes d = c.Der();
    certs.insert(certs.end(), d.begin(), d.end());
  }
  certificates_ = der::Tlv(der::ContextConstructed(0), certs);
  return Ok();
}

Bytes Responder::Reject(FailureInfo info, std::string_view text) const {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return EncodeRejection(info, text);
}

Bytes Responder::Respond(ByteView request_der) const {
  auto parsed = ParseTimeStampReq(request_der);
  if (!parsed) return Reject(FailureInfo::kBadDataFormat, parsed.error().message());
  const TimeStampReq& req = *parsed;
  if (req.version != 1) return Reject(FailureInfo::kBadDataFormat, "unsupported TimeStampReq version");
  const MessageImprint& mi = req.message_imprint;
  if (!mi.digest) return Reject(FailureInfo::kBadAlg, "unknown message imprint algorithm");
  if (*mi.digest == DigestAlgorithm::kSha1)
    return Reject(FailureInfo::kBadAlg, "SHA-1 message imprints are refused");
  if (!mi.parameters_ok)
    return Reject(FailureInfo::kBadAlg, "unexpected message imprint algorithm parameters");
  if (std::find(options_.accepted_digests.begin(), options_.accepted_digests.end(), *mi.digest) ==
      options_.accepted_digests.end())
    return Reject(FailureInfo::kBadAlg,
                  std::string(crypto::DigestName(*mi.digest)) + " imprints are not accepted");
  if (mi.hashed_message.size() != crypto::DigestSize(*mi.digest))
    return Reject(FailureInfo::kBadDataFormat, "message imprint length does not match " +
                                                   std::string(crypto::DigestName(*mi.digest)));
  if (req.req_policy &&
      std::none_of(accepted_policies_.begin(), accepted_policies_.end(),
                   [&](const Bytes& p) { return p == *req.req_policy; }))
    return Reject(FailureInfo::kUnacceptedPolicy,
                  "policy " + der::OidToString(*req.req_policy) + " is not offered");
  // RFC 3161 §2.4.1: extensions the server does not recognise SHALL get unacceptedExtension.
  if (req.has_extensions)
    return Reject(FailureInfo::kUnacceptedExtension, "request extensions are not supported");
  if (options_.require_synced_clock && options_.clock_status != nullptr) {
    ClockState clock = options_.clock_status->Check();
    if (!clock.synchronized)
      return Reject(FailureInfo::kTimeNotAvailable, "the TSA clock is not synchronised");
  }

  // TSTInfo.
  Bytes serial = options_.serials->Next();
  std::string gen_time = FormatGeneralizedTime(options_.clock->Now(), options_.precision_digits);
  Bytes tst;
  {
    size_t body = 3 + policy_tlv_.size() + mi.encoding.size() + der::EncodedSize(serial.size()) +
                  der::EncodedSize(gen_time.size()) + accuracy_tlv_.size() +
                  (req.nonce ? der::EncodedSize(req.nonce->size()) : 0);
    tst.reserve(der::EncodedSize(body));
    der::AppendHeader(tst, der::kSequence, body);
    tst.insert(tst.end(), {der::kInteger, 1, 1});
    tst.insert(tst.end(), policy_tlv_.begin(), policy_tlv_.end());
    tst.insert(tst.end(), mi.encoding.begin(), mi.encoding.end());
    der::AppendTlv(tst, der::kInteger, serial);
    der::AppendTlv(tst, der::kGeneralizedTime, AsBytes(gen_time));
    tst.insert(tst.end(), accuracy_tlv_.begin(), accuracy_tlv_.end());
    // ordering is FALSE, its DEFAULT, so DER omits it; tsa name omitted.
    if (req.nonce) der::AppendTlv(tst, der::kInteger, *req.nonce);
  }

  // Signed attributes, in their precomputed DER order.
  Bytes md = crypto::Digest(signer_digest_, tst);
  Bytes md_attr = message_digest_prefix_;
  md_attr.insert(md_attr.end(), md.begin(), md.end());
  const Bytes* attrs[3] = {&content_type_attr_, &md_attr, &ess_attr_};
  size_t attrs_len = 0;
  for (const Bytes* a : attrs) attrs_len += a->size();
  Bytes signed_attrs;
  signed_attrs.reserve(der::EncodedSize(attrs_len));
  der::AppendHeader(signed_attrs, der::kSet, attrs_len);  // RFC 5652 §5.4: signed as a SET OF
  for (int i : attr_order_) signed_attrs.insert(signed_attrs.end(), attrs[i]->begin(), attrs[i]->end());

  auto signature = signer_->Sign(signed_attrs);
  if (!signature) return Reject(FailureInfo::kSystemFailure, "signing failed");

  signed_attrs[0] = der::ContextConstructed(0);  // [0] IMPLICIT in the SignerInfo
  static constexpr uint8_t kVersion1[] = {der::kInteger, 1, 1};
  Bytes signer_info = der::Wrap(
      der::kSequence, {ByteView(kVersion1, 3),
                       signer_identifier_, digest_algorithm_, signed_attrs, signature_algorithm_,
                       der::Tlv(der::kOctetString, *signature)});
  static constexpr uint8_t kVersion3[] = {der::kInteger, 1, 3};
  Bytes econtent = der::Wrap(
      der::kSequence, {der::Tlv(der::kOid, oid::kTstInfo),
                       der::Tlv(der::ContextConstructed(0), der::Tlv(der::kOctetString, tst))});
  // RFC 5652 §5.1: version 3 because eContentType is not id-data.
  Bytes signed_data = der::Wrap(
      der::kSequence, {ByteView(kVersion3, 3), digest_algorithms_set_, econtent,
                       req.cert_req ? ByteView(certificates_) : ByteView(),
                       der::Tlv(der::kSet, signer_info)});
  static constexpr uint8_t kGranted[] = {der::kSequence, 3, der::kInteger, 1, 0};
  Bytes content_info = der::Wrap(
      der::kSequence, {der::Tlv(der::kOid, oid::kSignedData),
                       der::Tlv(der::ContextConstructed(0), signed_data)});
  granted_.fetch_add(1, std::memory_order_relaxed);
  return der::Wrap(der::kSequence, {ByteView(kGranted, 5), content_info});
}

ResponderStats Responder::Stats() const {
  return {granted_.load(std::memory_order_relaxed), rejected_.load(std::memory_order_relaxed)};
}

}  // namespace autoseal::tsa
