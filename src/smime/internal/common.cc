#include "smime/internal/common.h"

#include "smime/internal/oids.h"

namespace autoseal::smime::internal {

using crypto::DigestAlgorithm;

std::optional<DigestAlgorithm> DigestFromOid(ByteView o) {
  if (oid::Equal(o, oid::kSha256)) return DigestAlgorithm::kSha256;
  if (oid::Equal(o, oid::kSha384)) return DigestAlgorithm::kSha384;
  if (oid::Equal(o, oid::kSha512)) return DigestAlgorithm::kSha512;
  if (oid::Equal(o, oid::kSm3)) return DigestAlgorithm::kSm3;
  if (oid::Equal(o, oid::kSha1)) return DigestAlgorithm::kSha1;
  return std::nullopt;
}

ByteView OidForDigest(DigestAlgorithm d) {
  switch (d) {
    case DigestAlgorithm::kSha1: return oid::kSha1;
    case DigestAlgorithm::kSha384: return oid::kSha384;
    case DigestAlgorithm::kSha512: return oid::kSha512;
    case DigestAlgorithm::kSm3: return oid::kSm3;
    default: return oid::kSha256;
  }
}

Bytes DigestAlgorithmIdentifier(DigestAlgorithm d) {
  return der::Wrap(der::kSequence, {der::Tlv(der::kOid, OidForDigest(d))});
}

std::optional<ContentCipher> CipherFromOid(ByteView o) {
  if (oid::Equal(o, oid::kAes256Cbc)) return ContentCipher::kAes256Cbc;
  if (oid::Equal(o, oid::kAes128Cbc)) return ContentCipher::kAes128Cbc;
  if (oid::Equal(o, oid::kAes192Cbc)) return ContentCipher::kAes192Cbc;
  if (oid::Equal(o, oid::kAes256Gcm)) return ContentCipher::kAes256Gcm;
  if (oid::Equal(o, oid::kAes128Gcm)) return ContentCipher::kAes128Gcm;
  if (oid::Equal(o, oid::kSm4Cbc)) return ContentCipher::kSm4Cbc;
  return std::nullopt;
}

ByteView OidForCipher(ContentCipher c) {
  switch (c) {
    case ContentCipher::kAes128Cbc: return oid::kAes128Cbc;
    case ContentCipher::kAes192Cbc: return oid::kAes192Cbc;
    case ContentCipher::kAes256Cbc: return oid::kAes256Cbc;
    case ContentCipher::kAes128Gcm: return oid::kAes128Gcm;
    case ContentCipher::kAes256Gcm: return oid::kAes256Gcm;
    case ContentCipher::kSm4Cbc: return oid::kSm4Cbc;
  }
  return oid::kAes256Cbc;
}

size_t CipherKeyLength(ContentCipher c) {
  switch (c) {
    case ContentCipher::kAes128Cbc:
    case ContentCipher::kAes128Gcm:
    case ContentCipher::kSm4Cbc: return 16;
    case ContentCipher::kAes192Cbc: return 24;
    default: return 32;
  }
}

Result<CertIds> ParseCertIds(const x509::Certificate& cert) {
  Bytes cert_der = cert.Der();
  der::Element c = TRY(der::ParseSingle(cert_der, der::kSequence, "Certificate"));
  der::Reader cr(c.contents);
  der::Element tbs = TRY(cr.Expect(der::kSequence, "TBSCertificate"));
  der::Reader t(tbs.contents);
  TRY(t.Optional(der::ContextConstructed(0)));  // version
  der::Element serial = TRY(t.Expect(der::kInteger, "serialNumber"));
  TRY(t.Expect(der::kSequence, "signature"));
  der::Element issuer = TRY(t.Expect(der::kSequence, "issuer"));
  CertIds ids;
  ids.issuer.assign(issuer.encoding.begin(), issuer.encoding.end());
  ids.serial.assign(serial.contents.begin(), serial.contents.end());
  ids.subject_key_id = cert.SubjectKeyId();
  return ids;
}

Bytes IssuerAndSerial(const CertIds& ids) {
  return der::Wrap(der::kSequence, {ids.issuer, der::Tlv(der::kInteger, ids.serial)});
}

Result<ContentInfo> ParseContentInfo(ByteView input) {
  ber::Element outer = TRY(ber::ParseFirst(input, "ContentInfo"));
  if (outer.tag != der::kSequence) return Fail(ErrorCode::kParse, "ContentInfo: not a SEQUENCE (not CMS?)");
  ber::Reader r(outer.contents, 1);
  ber::Element type = TRY(r.Expect(der::kOid, "ContentInfo.contentType"));
  ber::Element content = TRY(r.Expect(der::ContextConstructed(0), "ContentInfo.content"));
  TRY(r.ExpectEnd("ContentInfo"));
  ber::Reader cr(content.contents, 2);
  ber::Element inner = TRY_CONTEXT(cr.Next(), "ContentInfo.content");
  TRY(cr.ExpectEnd("ContentInfo.content"));
  return ContentInfo{type.contents, inner, 3};
}

std::optional<CmsType> TypeFromOid(ByteView o) {
  if (oid::Equal(o, oid::kSignedData)) return CmsType::kSignedData;
  if (oid::Equal(o, oid::kEnvelopedData)) return CmsType::kEnvelopedData;
  if (oid::Equal(o, oid::kAuthEnvelopedData)) return CmsType::kAuthEnvelopedData;
  if (oid::Equal(o, oid::kGmSignedData)) return CmsType::kSm2SignedData;
  if (oid::Equal(o, oid::kGmEnvelopedData)) return CmsType::kSm2EnvelopedData;
  return std::nullopt;
}

Bytes Attribute(ByteView type, ByteView value_tlv) {
  return der::Wrap(der::kSequence, {der::Tlv(der::kOid, type), der::Tlv(der::kSet, value_tlv)});
}

}  // namespace autoseal::smime::internal
