// SignedData verification (RFC 5652 §5.4-§5.6) with our BER reader: every problem becomes a
// verdict in the report.

#include <algorithm>
#include <map>

#include "core/der.h"
#include "crypto/signature.h"
#include "smime/cms.h"
#include "smime/internal/ber.h"
#include "smime/internal/common.h"
#include "smime/internal/oids.h"
#include "x509/verify.h"

namespace autoseal::smime {

using crypto::DigestAlgorithm;
using crypto::KeyFamily;

std::string_view SignatureVerdictName(SignatureVerdict v) {
  switch (v) {
    case SignatureVerdict::kValid: return "valid";
    case SignatureVerdict::kContentAltered: return "content altered";
    case SignatureVerdict::kBadSignature: return "bad signature";
    case SignatureVerdict::kSignerNotFound: return "signer certificate not found";
    case SignatureVerdict::kUnsupportedAlgorithm: return "unsupported algorithm";
    case SignatureVerdict::kMalformed: return "malformed";
  }
  return "?";
}

std::string_view ChainVerdictName(ChainVerdict v) {
  switch (v) {
    case ChainVerdict::kValid: return "valid";
    case ChainVerdict::kExpired: return "expired";
    case ChainVerdict::kNotYetValid: return "not yet valid";
    case ChainVerdict::kUntrusted: return "untrusted";
    case ChainVerdict::kWrongPurpose:
      return "not for S/MIME signing";
    case ChainVerdict::kNotChecked: return "not checked";
  }
  return "?";
}

std::string_view PostmarkVerdictName(PostmarkVerdict v) {
  switch (v) {
    case PostmarkVerdict::kAbsent: return "absent";
    case PostmarkVerdict::kValid: return "valid";
    case PostmarkVerdict::kWrongSignature: return "over a different signature";
    case PostmarkVerdict::kInvalidToken: return "invalid token";
  }
  return "?";
}

bool SignerReport::ok() const {
  return signature == SignatureVerdict::kValid && chain == ChainVerdict::kValid &&
         (postmark.verdict == PostmarkVerdict::kAbsent || postmark.verdict == PostmarkVerdict::kValid);
}

bool VerifyReport::ok() const {
  if (malformed || signers.empty()) return false;
  for (const auto& s : signers)
    if (!s.ok()) return false;
  return true;
}

std::vector<std::string> VerifyReport::Problems() const {
  std::vector<std::string> out;
  if (malformed) out.push_back("malformed CMS: " + *malformed);
  if (!malformed && signers.empty()) out.push_back("no signers");
  for (size_t i = 0; i < signers.size(); ++i) {
    const SignerReport& s = signers[i];
    std::string who = "signer " + std::to_string(i + 1);
    if (s.certificate) who += " (" + s.certificate->Subject() + ")";
    if (s.signature != SignatureVerdict::kValid)
      out.push_back(who + ": signature " + std::string(SignatureVerdictName(s.signature)) + ": " +
                    s.signature_detail);
    if (s.chain != ChainVerdict::kValid) {
      std::string line = who + ": certificate " + std::string(ChainVerdictName(s.chain));
      for (const auto& p : s.chain_problems) line += "; " + p;
      out.push_back(line);
    }
    if (s.postmark.verdict != PostmarkVerdict::kAbsent && s.postmark.verdict != PostmarkVerdict::kValid) {
      std::string line = who + ": postmark " + std::string(PostmarkVerdictName(s.postmark.verdict));
      for (const auto& p : s.postmark.problems) line += "; " + p;
      out.push_back(line);
    }
  }
  return out;
}

namespace {

struct ParsedSignerInfo {
  ber::Element element;
  Bytes issuer, serial, ski;  // sid
  ByteView digest_oid;
  std::optional<ber::Element> signed_attrs;
  ByteView signature_oid;
  Bytes signature;
  std::optional<ber::Element> unsigned_attrs;
};

struct ParsedSignedData {
  CmsType type = CmsType::kSignedData;
  ByteView content_type;
  std::optional<ber::Element> econtent;  // the OCTET STRING
  int econtent_depth = 0;
  std::vector<ByteView> certificates;
  std::vector<ParsedSignerInfo> signers;
};

Result<ParsedSignerInfo> ParseSignerInfo(const ber::Element& e, int depth) {
  ParsedSignerInfo si;
  si.element = e;
  ber::Reader r(e.contents, depth + 1);
  ByteView version = TRY(r.Expect(der::kInteger, "SignerInfo.version")).contents;
  // RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
  const uint8_t want_version = r.PeekTag() == der::kSequence ? 1 : 3;
  if (version.size() != 1 || version[0] != want_version)
    return Fail(ErrorCode::kParse, "SignerInfo.version does not match its sid (RFC 5652 §5.3)");
  if (r.PeekTag() == der::kSequence) {
    ber::Element ias = TRY(r.Next());
    ber::Reader ir(ias.contents, depth + 2);
    ber::Element issuer = TRY(ir.Expect(der::kSequence, "IssuerAndSerialNumber.issuer"));
    ber::Element serial = TRY(ir.Expect(der::kInteger, "IssuerAndSerialNumber.serialNumber"));
    si.issuer.assign(issuer.encoding.begin(), issuer.encoding.end());
    si.serial.assign(serial.contents.begin(), serial.contents.end());
  } else if (r.PeekTag() == der::ContextPrimitive(0)) {
    ber::Element ski = TRY(r.Next());
    si.ski.assign(ski.contents.begin(), ski.contents.end());
  } else {
    return Fail(ErrorCode::kParse, "SignerInfo.sid: neither issuerAndSerialNumber nor subjectKeyIdentifier");
  }
  ber::Element dalg = TRY(r.Expect(der::kSequence, "SignerInfo.digestAlgorithm"));
  ber::Reader dr(dalg.contents, depth + 2);
  si.digest_oid = TRY(dr.Expect(der::kOid, "SignerInfo.digestAlgorithm")).contents;
  si.signed_attrs = TRY(r.Optional(der::ContextConstructed(0)));
  ber::Element salg = TRY(r.Expect(der::kSequence, "SignerInfo.signatureAlgorithm"));
  ber::Reader sr(salg.contents, depth + 2);
  si.signature_oid = TRY(sr.Expect(der::kOid, "SignerInfo.signatureAlgorithm")).contents;
  // Parameters: absent, or NULL (RFC 3370 §3.2 for rsaEncryption); none of ours has others.
  if (!sr.empty()) {
    ber::Element params = TRY(sr.Next());
    if (params.tag != 0x05 || !params.contents.empty())
      return Fail(ErrorCode::kParse, "SignerInfo.signatureAlgorithm: unexpected parameters");
    TRY(sr.ExpectEnd("SignerInfo.signatureAlgorithm"));
  }
  auto sig_tag = r.PeekTag();
  if (!sig_tag || (*sig_tag != der::kOctetString && *sig_tag != (der::kOctetString | 0x20)))
    return Fail(ErrorCode::kParse, "SignerInfo.signature: missing");
  ber::Element sig = TRY(r.Next());
  si.signature = TRY(ber::OctetString(sig, depth + 1, "SignerInfo.signature"));
  si.unsigned_attrs = TRY(r.Optional(der::ContextConstructed(1)));
  TRY(r.ExpectEnd("SignerInfo"));
  return si;
}

Result<ParsedSignedData> ParseSignedData(ByteView input) {
  internal::ContentInfo ci = TRY(internal::ParseContentInfo(input));
  auto type = internal::TypeFromOid(ci.type);
  if (!type || (*type != CmsType::kSignedData && *type != CmsType::kSm2SignedData)) {
    std::string what = type ? std::string(SmimeType(*type)) : der::OidToString(ci.type);
    return Fail(ErrorCode::kParse, "not a SignedData but " + what);
  }
  ParsedSignedData sd;
  sd.type = *type;
  if (ci.content.tag != der::kSequence) return Fail(ErrorCode::kParse, "SignedData: not a SEQUENCE");
  const int d = ci.depth;
  ber::Reader r(ci.content.contents, d + 1);
  // RFC 5652 §5.1: CMSVersion 1, 3, 4 or 5.
  ByteView version = TRY(r.Expect(der::kInteger, "SignedData.version")).contents;
  if (version.size() != 1 ||
      (version[0] != 1 && version[0] != 3 && version[0] != 4 && version[0] != 5))
    return Fail(ErrorCode::kParse, "SignedData.version must be 1, 3, 4 or 5 (RFC 5652 §5.1)");
  TRY(r.Expect(der::kSet, "SignedData.digestAlgorithms"));
  ber::Element encap = TRY(r.Expect(der::kSequence, "SignedData.encapContentInfo"));
  ber::Reader er(encap.contents, d + 2);
  sd.content_type = TRY(er.Expect(der::kOid, "eContentType")).contents;
  if (auto explicit_content = TRY(er.Optional(der::ContextConstructed(0)))) {
    ber::Reader xr(explicit_content->contents, d + 3);
    ber::Element os = TRY_CONTEXT(xr.Next(), "eContent");
    if ((os.tag & ~ber::kConstructedBit) != der::kOctetString)
      return Fail(ErrorCode::kParse, "eContent: not an OCTET STRING");
    TRY(xr.ExpectEnd("eContent"));
    sd.econtent = os;
    sd.econtent_depth = d + 4;
  }
  TRY(er.ExpectEnd("encapContentInfo"));
  if (auto certs = TRY(r.Optional(der::ContextConstructed(0)))) {
    ber::Reader cr(certs->contents, d + 2);
    while (!cr.empty()) {
      ber::Element c = TRY_CONTEXT(cr.Next(), "certificates");
      if (c.tag == der::kSequence) sd.certificates.push_back(c.encoding);  // others: attribute certs
    }
  }
  TRY(r.Optional(der::ContextConstructed(1)));  // crls: not used
  ber::Element infos = TRY(r.Expect(der::kSet, "SignedData.signerInfos"));
  TRY(r.ExpectEnd("SignedData"));
  ber::Reader ir(infos.contents, d + 2);
  while (!ir.empty()) {
    ber::Element si = TRY(ir.Expect(der::kSequence, "SignerInfo"));
    sd.signers.push_back(TRY(ParseSignerInfo(si, d + 2)));
  }
  return sd;
}

struct Attr {
  ByteView type;
  std::optional<ber::Element> value;  // first value
  size_t count = 0;
};

Result<std::vector<Attr>> ParseAttributes(const ber::Element& set, int depth) {
  std::vector<Attr> out;
  ber::Reader r(set.contents, depth + 1);
  while (!r.empty()) {
    ber::Element a = TRY(r.Expect(der::kSequence, "Attribute"));
    ber::Reader ar(a.contents, depth + 2);
    Attr attr;
    attr.type = TRY(ar.Expect(der::kOid, "Attribute.attrType")).contents;
    ber::Element values = TRY(ar.Expect(der::kSet, "Attribute.attrValues"));
    ber::Reader vr(values.contents, depth + 3);
    while (!vr.empty()) {
      ber::Element v = TRY(vr.Next());
      if (!attr.value) attr.value = v;
      ++attr.count;
    }
    out.push_back(attr);
  }
  return out;
}

const Attr* FindAttr(const std::vector<Attr>& attrs, ByteView type) {
  for (const auto& a : attrs)
    if (oid::Equal(a.type, type)) return &a;
  return nullptr;
}

std::string SignatureAlgorithmName(KeyFamily family, DigestAlgorithm digest, int bits) {
  std::string d(crypto::DigestName(digest));
  switch (family) {
    case KeyFamily::kRsa: return "RSA " + std::to_string(bits) + " PKCS#1 v1.5 with " + d;
    case KeyFamily::kEcdsa: return "ECDSA P-" + std::to_string(bits) + " with " + d;
    case KeyFamily::kSm2: return "SM2 with SM3";
    case KeyFamily::kEd25519: return "Ed25519";
  }
  return "?";
}

// Checks the signature algorithm OID is one that fits the key and, when it names a hash
// (RFC 5754 §3.2-§3.3: sha256WithRSAEncryption, ecdsa-with-SHA256, ...), that the hash is the
// SignerInfo's digestAlgorithm; returns the reason when not. An unchecked hash in the OID would
// let a byte of the signed structure change unnoticed.
std::optional<std::string> CheckSignatureAlgorithm(ByteView o, KeyFamily family,
                                                   DigestAlgorithm digest) {
  struct Named {
    ByteView oid;
    DigestAlgorithm digest;
  };
  for (const Named& n : {Named{oid::kSha256WithRsa, DigestAlgorithm::kSha256},
                         Named{oid::kSha384WithRsa, DigestAlgorithm::kSha384},
                         Named{oid::kSha512WithRsa, DigestAlgorithm::kSha512},
                         Named{oid::kEcdsaWithSha256, DigestAlgorithm::kSha256},
                         Named{oid::kEcdsaWithSha384, DigestAlgorithm::kSha384},
                         Named{oid::kEcdsaWithSha512, DigestAlgorithm::kSha512},
                         Named{oid::kSm2WithSm3, DigestAlgorithm::kSm3}}) {
    if (oid::Equal(o, n.oid) && n.digest != digest)
      return "signature algorithm " + der::OidToString(o) + " names another hash than the " +
             "digestAlgorithm " + std::string(crypto::DigestName(digest)) + " (RFC 5754 §3)";
  }
  bool fits = false;
  switch (family) {
    case KeyFamily::kRsa:
      fits = oid::Equal(o, oid::kRsaEncryption) || oid::Equal(o, oid::kSha256WithRsa) ||
             oid::Equal(o, oid::kSha384WithRsa) || oid::Equal(o, oid::kSha512WithRsa);
      if (oid::Equal(o, oid::kRsassaPss)) return "RSASSA-PSS signatures are not supported";
      break;
    case KeyFamily::kEcdsa:
      fits = oid::Equal(o, oid::kEcdsaWithSha256) || oid::Equal(o, oid::kEcdsaWithSha384) ||
             oid::Equal(o, oid::kEcdsaWithSha512) || oid::Equal(o, oid::kEcPublicKey);
      break;
    case KeyFamily::kSm2:
      fits = oid::Equal(o, oid::kSm2Sign) || oid::Equal(o, oid::kSm2WithSm3) ||
             oid::Equal(o, oid::kSm2Curve) || oid::Equal(o, oid::kEcPublicKey);
      break;
    case KeyFamily::kEd25519:
      fits = oid::Equal(o, oid::kEd25519);
      break;
  }
  if (fits) return std::nullopt;
  return "signature algorithm " + der::OidToString(o) + " does not fit the signer's key";
}

// The problem with a signingCertificateV2 value for cert, or nullopt when its first ESSCertIDv2
// carries cert's hash.
std::optional<std::string> CheckSigningCertificateV2(const ber::Element& value, const x509::Certificate& cert) {
  auto check = [&]() -> Result<std::optional<std::string>> {
    ber::Reader r(value.contents, 6);
    ber::Element certs = TRY(r.Expect(der::kSequence, "SigningCertificateV2.certs"));
    ber::Reader cr(certs.contents, 7);
    ber::Element id = TRY(cr.Expect(der::kSequence, "ESSCertIDv2"));
    ber::Reader ir(id.contents, 8);
    DigestAlgorithm d = DigestAlgorithm::kSha256;  // DEFAULT id-sha256
    if (ir.PeekTag() == der::kSequence) {
      ber::Element alg = TRY(ir.Next());
      ber::Reader ar(alg.contents, 9);
      ber::Element o = TRY(ar.Expect(der::kOid, "ESSCertIDv2.hashAlgorithm"));
      auto digest = internal::DigestFromOid(o.contents);
      if (!digest) return std::optional<std::string>("signingCertificateV2 uses an unknown hash " + der::OidToString(o.contents));
      d = *digest;
    }
    ber::Element hash = TRY(ir.Expect(der::kOctetString, "ESSCertIDv2.certHash"));
    if (crypto::Digest(d, cert.Der()) != Bytes(hash.contents.begin(), hash.contents.end()))
      return std::optional<std::string>("the signingCertificateV2 attribute names another certificate than the one that verifies (RFC 5035)");
    return std::optional<std::string>();
  };
  auto r = check();
  if (!r) return "signingCertificateV2: " + r.error().message();
  return *r;
}

struct CertEntry {
  x509::Certificate cert;
  internal::CertIds ids;
};

void VerifyPostmark(const ParsedSignerInfo& si, const std::vector<Attr>& unsigned_attrs,
                    const std::vector<x509::Certificate>& pool, const VerifyOptions& options,
                    PostmarkReport& pm) {
  const Attr* a = FindAttr(unsigned_attrs, oid::kTimeStampToken);
  if (a == nullptr) return;
  pm.verdict = PostmarkVerdict::kInvalidToken;
  if (!a->value || a->count != 1) {
    pm.problems.push_back("the timeStampToken attribute must hold exactly one token");
    return;
  }
  pm.token.assign(a->value->encoding.begin(), a->value->encoding.end());
  tsa::VerifyTokenOptions to;
  to.roots = options.tsa_roots.empty() ? options.roots : options.tsa_roots;
  to.untrusted = pool;
  // RFC 3161 Appendix A: the token's messageImprint is the hash of the signature value.
  to.data = si.signature;
  tsa::TokenReport tr = tsa::VerifyToken(pm.token, to);
  pm.problems = tr.problems;
  pm.tsa = tr.signer;
  if (tr.tst_info) {
    pm.time = tr.tst_info->gen_time;
    pm.gen_time_text = tr.tst_info->gen_time_text;
    const tsa::MessageImprint& mi = tr.tst_info->message_imprint;
    if (!mi.digest || *mi.digest == DigestAlgorithm::kNone) {
      pm.problems.push_back("unknown message imprint algorithm " + der::OidToString(mi.algorithm_oid));
      return;
    }
    if (crypto::Digest(*mi.digest, si.signature) != mi.hashed_message) {
      pm.verdict = PostmarkVerdict::kWrongSignature;
      pm.problems.insert(pm.problems.begin(),
                         "the token's messageImprint is not the " +
                             std::string(crypto::DigestName(*mi.digest)) +
                             " of this SignerInfo's signature value");
      return;
    }
  }
  if (tr.ok()) pm.verdict = PostmarkVerdict::kValid;
}

// RFC 8550 §4.4.2: a keyUsage extension, when present, must allow digitalSignature or
// nonRepudiation for signing; §4.4.4: an extendedKeyUsage extension, when present, must contain
// emailProtection or anyExtendedKeyUsage. A certificate issued for TLS clients only is not one
// that vouches for mail.
std::vector<std::string> SignerPurposeProblems(const x509::Certificate& cert) {
  std::vector<std::string> out;
  if (auto ku = cert.KeyUsageBits();
      ku && (*ku & (x509::kDigitalSignature | x509::kNonRepudiation)) == 0)
    out.push_back("keyUsage is " + x509::KeyUsageNames(*ku) +
                  ", without digitalSignature or nonRepudiation (RFC 8550 §4.4.2)");
  std::vector<std::string> eku = cert.ExtendedKeyUsages();
  if (!eku.empty() && std::find(eku.begin(), eku.end(), x509::kEkuEmailProtection) == eku.end() &&
      std::find(eku.begin(), eku.end(), "anyExtendedKeyUsage") == eku.end() &&
      std::find(eku.begin(), eku.end(), "2.5.29.37.0") == eku.end()) {
    std::string list;
    for (const std::string& e : eku) list.append(list.empty() ? "" : ", ").append(e);
    out.push_back("extendedKeyUsage is " + list + ", without emailProtection (RFC 8550 §4.4.4)");
  }
  return out;
}

void VerifySigner(const ParsedSignerInfo& si, const ParsedSignedData& sd,
                  const std::vector<CertEntry>& certs, const std::vector<x509::Certificate>& pool,
                  std::optional<ByteView> detached, std::map<DigestAlgorithm, Bytes>& digests,
                  const VerifyOptions& options, SignerReport& rep) {
  rep.signature_value = si.signature;
  // The certificate.
  const CertEntry* found = nullptr;
  for (const auto& c : certs) {
    bool match = si.ski.empty() ? (c.ids.issuer == si.issuer && c.ids.serial == si.serial)
                                : (!c.ids.subject_key_id.empty() && c.ids.subject_key_id == si.ski);
    if (match) {
      found = &c;
      break;
    }
  }
  // Unsigned attributes first: the postmark is judged even if the signature is not.
  std::vector<Attr> unsigned_attrs;
  if (si.unsigned_attrs) {
    auto ua = ParseAttributes(*si.unsigned_attrs, 6);
    if (ua) {
      unsigned_attrs = std::move(*ua);
    } else {
      // Unreadable unsigned attributes may be a damaged postmark: not "absent".
      rep.postmark.verdict = PostmarkVerdict::kInvalidToken;
      rep.postmark.problems.push_back("unsigned attributes: " + ua.error().message());
    }
  }
  if (found == nullptr) {
    rep.signature = SignatureVerdict::kSignerNotFound;
    rep.signature_detail = si.ski.empty() ? "no certificate with the SignerInfo's issuer and serial number"
                                          : "no certificate with the SignerInfo's subjectKeyIdentifier";
    VerifyPostmark(si, unsigned_attrs, pool, options, rep.postmark);
    return;
  }
  rep.certificate = found->cert;

  // The chain at options.at.
  {
    std::vector<x509::Certificate> chain{found->cert};
    for (const auto& c : pool)
      if (!(c == found->cert)) chain.push_back(c);
    x509::VerifyOptions vo;
    vo.at = options.at;
    if (options.check_smime_profile) vo.profile = x509::Profile::kSmime;
    x509::VerifyReport vr = x509::VerifyChain(chain, options.roots, vo);
    rep.chain_problems = vr.problems;
    rep.path = vr.path;
    if (vr.ok()) rep.chain = ChainVerdict::kValid;
    else if (found->cert.NotAfter() < options.at) rep.chain = ChainVerdict::kExpired;
    else if (found->cert.NotBefore() > options.at) rep.chain = ChainVerdict::kNotYetValid;
    else rep.chain = ChainVerdict::kUntrusted;
    if (options.check_signer_purpose.value_or(false)) {
      std::vector<std::string> wrong = SignerPurposeProblems(found->cert);
      if (!wrong.empty() && rep.chain == ChainVerdict::kValid)
        rep.chain = ChainVerdict::kWrongPurpose;
      rep.chain_problems.insert(rep.chain_problems.end(), wrong.begin(), wrong.end());
    }
  }

  VerifyPostmark(si, unsigned_attrs, pool, options, rep.postmark);

  // Algorithms.
  const crypto::PublicKey key = found->cert.PublicKey();
  auto digest = internal::DigestFromOid(si.digest_oid);
  if (!digest || *digest == DigestAlgorithm::kSha1) {
    rep.signature = SignatureVerdict::kUnsupportedAlgorithm;
    rep.signature_detail = digest ? "SHA-1 signatures are not accepted"
                                  : "digest algorithm " + der::OidToString(si.digest_oid) + " is not supported";
    return;
  }
  rep.digest = *digest;
  if (auto why = CheckSignatureAlgorithm(si.signature_oid, key.Family(), *digest)) {
    rep.signature = SignatureVerdict::kUnsupportedAlgorithm;
    rep.signature_detail = *why;
    return;
  }
  rep.signature_algorithm = SignatureAlgorithmName(key.Family(), *digest, key.Bits());
  // The content digest (computed once per algorithm).
  auto it = digests.find(*digest);
  if (it == digests.end()) {
    crypto::Hasher h(*digest);
    if (sd.econtent) {
      auto segments = ber::OctetSegments(*sd.econtent, sd.econtent_depth, "eContent");
      if (!segments) {
        rep.signature = SignatureVerdict::kMalformed;
        rep.signature_detail = segments.error().message();
        return;
      }
      for (ByteView s : *segments) h.Update(s);
    } else if (detached) {
      h.Update(*detached);
    } else {
      rep.signature = SignatureVerdict::kMalformed;
      rep.signature_detail = "detached signature, but the signed content was not given";
      return;
    }
    it = digests.emplace(*digest, h.Finish()).first;
  }
  const Bytes& content_digest = it->second;
  const DigestAlgorithm sign_digest = key.Family() == KeyFamily::kEd25519 ? DigestAlgorithm::kNone : *digest;

  if (!si.signed_attrs) {
    // RFC 5652 §5.4: without signed attributes the signature is over the content itself.
    Bytes content;
    if (sd.econtent) {
      auto c = ber::OctetString(*sd.econtent, sd.econtent_depth, "eContent");
      if (c) content = std::move(*c);
    } else if (detached) {
      content.assign(detached->begin(), detached->end());
    }
    if (crypto::Verify(key, content, si.signature, sign_digest)) {
      rep.signature = SignatureVerdict::kValid;
    } else {
      rep.signature = SignatureVerdict::kBadSignature;
      rep.signature_detail = "the signature over the content does not verify (content or signature altered)";
    }
    return;
  }

  auto attrs = ParseAttributes(*si.signed_attrs, 5);
  if (!attrs) {
    rep.signature = SignatureVerdict::kMalformed;
    rep.signature_detail = "signed attributes: " + attrs.error().message();
    return;
  }
  if (const Attr* t = FindAttr(*attrs, oid::kSigningTime); t && t->value) {
    der::Element e{t->value->tag, t->value->contents, t->value->encoding};
    if (auto tp = der::ParseTime(e, "signingTime")) rep.signing_time = *tp;
  }
  if (const Attr* c = FindAttr(*attrs, oid::kSmimeCapabilities); c && c->value) {
    if (auto caps = ParseSmimeCapabilities(c->value->encoding)) rep.capabilities = std::move(*caps);
  }
  // The signature over the DER SET OF attributes (RFC 5652 §5.4: the [0] tag replaced by SET).
  Bytes signed_bytes(si.signed_attrs->encoding.begin(), si.signed_attrs->encoding.end());
  signed_bytes[0] = der::kSet;
  const bool signature_ok = crypto::Verify(key, signed_bytes, si.signature, sign_digest).has_value();
  if (!signature_ok) {
    rep.signature = SignatureVerdict::kBadSignature;
    rep.signature_detail = "the signature over the signed attributes does not verify (attributes or signature altered, or another key)";
    return;
  }
  // RFC 5652 §5.3: with signed attributes, contentType and messageDigest MUST be present.
  const Attr* ct = FindAttr(*attrs, oid::kContentType);
  const Attr* md = FindAttr(*attrs, oid::kMessageDigest);
  if (ct == nullptr || !ct->value || ct->value->tag != der::kOid || ct->count != 1) {
    rep.signature = SignatureVerdict::kMalformed;
    rep.signature_detail = "the contentType signed attribute is missing or malformed";
    return;
  }
  if (!oid::Equal(ct->value->contents, sd.content_type)) {
    rep.signature = SignatureVerdict::kMalformed;
    rep.signature_detail = "the contentType signed attribute differs from eContentType (RFC 5652 §11.1)";
    return;
  }
  if (md == nullptr || !md->value || md->value->tag != der::kOctetString || md->count != 1) {
    rep.signature = SignatureVerdict::kMalformed;
    rep.signature_detail = "the messageDigest signed attribute is missing or malformed";
    return;
  }
  if (!ConstantTimeEqual(md->value->contents, content_digest) ||
      md->value->contents.size() != content_digest.size()) {
    rep.signature = SignatureVerdict::kContentAltered;
    rep.signature_detail = "the content's " + std::string(crypto::DigestName(*digest)) +
                           " does not match the signed messageDigest: the content was altered";
    return;
  }
  // RFC 5035 §5.4: signingCertificateV2, when present, must name the certificate that verified
  // (it stops a substituted certificate with the same key).
  if (const Attr* ess = FindAttr(*attrs, oid::kSigningCertificateV2); ess && ess->value) {
    if (auto why = CheckSigningCertificateV2(*ess->value, found->cert)) {
      rep.signature = SignatureVerdict::kMalformed;
      rep.signature_detail = *why;
      return;
    }
  }
  rep.signature = SignatureVerdict::kValid;
}

}  // namespace

VerifyReport Verify(ByteView cms, std::optional<ByteView> detached_content,
                    const VerifyOptions& options) {
  VerifyReport report;
  Bytes decoded;
  ByteView input = cms;
  if (!cms.empty() && cms[0] != der::kSequence) {
    auto d = Unarmor(cms);
    if (!d) {
      report.malformed = d.error().message();
      return report;
    }
    decoded = std::move(*d);
    input = decoded;
  }
  auto parsed = ParseSignedData(input);
  if (!parsed) {
    report.malformed = parsed.error().message();
    return report;
  }
  const ParsedSignedData& sd = *parsed;
  report.type = sd.type;
  report.detached = !sd.econtent.has_value();
  report.content_type = der::OidToString(sd.content_type);
  // RFC 5652 §5.2 / RFC 8551 §3.5.3: a detached signature has no eContent. One that carries its
  // own content would be verified over that content while the caller means the detached bytes
  // (an opaque signature pasted under an arbitrary first part), so the pair is refused.
  if (sd.econtent && detached_content) {
    report.malformed =
        "the SignedData encapsulates its own content, but it was given as a detached signature "
        "(RFC 5652 §5.2: a detached signature has no eContent)";
    return report;
  }
  if (sd.econtent) {
    auto c = ber::OctetString(*sd.econtent, sd.econtent_depth, "eContent");
    if (!c) {
      report.malformed = c.error().message();
      return report;
    }
    report.content = std::move(*c);
  }
  std::vector<CertEntry> certs;
  std::vector<x509::Certificate> pool;
  for (ByteView der_cert : sd.certificates) {
    auto c = x509::Certificate::FromDer(der_cert);
    if (!c) continue;  // an unreadable extra certificate is not the signer's problem
    auto ids = internal::ParseCertIds(*c);
    if (!ids) continue;
    report.certificates.push_back(*c);
    pool.push_back(*c);
    certs.push_back({*c, std::move(*ids)});
  }
  for (const auto& c : options.untrusted) {
    auto ids = internal::ParseCertIds(c);
    if (!ids) continue;
    pool.push_back(c);
    certs.push_back({c, std::move(*ids)});
  }
  if (sd.signers.empty()) {
    report.malformed = "SignedData has no SignerInfo (a certs-only message?)";
    return report;
  }
  std::map<DigestAlgorithm, Bytes> digests;
  for (const auto& si : sd.signers) {
    SignerReport rep;
    VerifySigner(si, sd, certs, pool, detached_content, digests, options, rep);
    report.signers.push_back(std::move(rep));
  }
  return report;
}

}  // namespace autoseal::smime
