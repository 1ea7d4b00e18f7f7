#include "tsa/client.h"

#include <algorithm>

#include "crypto/signature.h"
#include "net/client.h"
#include "tsa/internal/cms.h"
#include "tsa/internal/der.h"
#include "tsa/internal/oids.h"
#include "x509/verify.h"

namespace autoseal::tsa {
namespace {

using crypto::DigestAlgorithm;
using der::Element;
using der::Reader;

bool SameInteger(ByteView a, ByteView b) {
  return der::UnsignedIntegerContents(a) == der::UnsignedIntegerContents(b);
}

// The pieces of a TimeStampToken's SignedData that verification needs.
struct ParsedToken {
  Bytes tst_info_der;
  std::vector<x509::Certificate> certificates;
  Bytes sid_issuer;  // Name DER
  Bytes sid_serial;  // INTEGER contents
  Bytes digest_oid;
  Bytes signed_attrs;  // re-tagged as SET OF (what was signed)
  Bytes signature_oid;
  Bytes signature_params;  // encoding of the parameters, empty when absent
  Bytes signature;
};

Result<ParsedToken> ParseToken(ByteView token) {
  ParsedToken out;
  Element ci = TRY(der::ParseSingle(token, der::kSequence, "TimeStampToken"));
  Reader r(ci.contents);
  Element type = TRY(r.Expect(der::kOid, "ContentInfo.contentType"));
  if (!oid::Equal(type.contents, oid::kSignedData))
    return Fail(ErrorCode::kParse, "the token is not CMS SignedData");
  Element wrapper = TRY(r.Expect(der::ContextConstructed(0), "ContentInfo.content"));
  TRY(r.ExpectEnd("ContentInfo"));
  Element sd = TRY(der::ParseSingle(wrapper.contents, der::kSequence, "SignedData"));
  Reader s(sd.contents);
  Element sd_version = TRY(s.Expect(der::kInteger, "SignedData.version"));
  int64_t v = TRY(der::SmallInteger(sd_version.contents, "SignedData.version"));
  if (v != 1 && v != 3) return Fail(ErrorCode::kParse, "SignedData.version is not 1 or 3");
  Element digest_algorithms = TRY(s.Expect(der::kSet, "SignedData.digestAlgorithms"));
  Element encap = TRY(s.Expect(der::kSequence, "SignedData.encapContentInfo"));
  {
    Reader e(encap.contents);
    Element etype = TRY(e.Expect(der::kOid, "eContentType"));
    if (!oid::Equal(etype.contents, oid::kTstInfo))
      return Fail(ErrorCode::kParse, "eContentType is not id-ct-TSTInfo");
    Element ec = TRY(e.Expect(der::ContextConstructed(0), "eContent"));
    TRY(e.ExpectEnd("encapContentInfo"));
    Element octets = TRY(der::ParseSingle(ec.contents, der::kOctetString, "eContent"));
    out.tst_info_der.assign(octets.contents.begin(), octets.contents.end());
  }
  if (auto certs = TRY(s.Optional(der::ContextConstructed(0)))) {
    Reader c(certs->contents);
    while (!c.empty()) {
      Element cert = TRY(c.Next());
      if (cert.tag != der::kSequence) continue;  // other CertificateChoices are ignored
      out.certificates.push_back(
          TRY_CONTEXT(x509::Certificate::FromDer(cert.encoding), "token certificate"));
    }
  }
  TRY(s.Optional(der::ContextConstructed(1)));  // crls
  Element infos = TRY(s.Expect(der::kSet, "SignedData.signerInfos"));
  TRY(s.ExpectEnd("SignedData"));
  Reader si_list(infos.contents);
  Element si = TRY(si_list.Expect(der::kSequence, "SignerInfo"));
  if (!si_list.empty())
    return Fail(ErrorCode::kParse, "a time-stamp token must have exactly one SignerInfo");
  Reader i(si.contents);
  Element si_version = TRY(i.Expect(der::kInteger, "SignerInfo.version"));
  // RFC 5652 §5.3: version 1 goes with issuerAndSerialNumber.
  if (TRY(der::SmallInteger(si_version.contents, "SignerInfo.version")) != 1)
    return Fail(ErrorCode::kParse, "SignerInfo.version is not 1");
  Element sid = TRY(i.Next());
  if (sid.tag != der::kSequence)
    return Fail(ErrorCode::kParse, "SignerInfo.sid: only issuerAndSerialNumber is supported");
  {
    Reader is(sid.contents);
    Element name = TRY(is.Expect(der::kSequence, "sid.issuer"));
    Element serial = TRY(is.Expect(der::kInteger, "sid.serialNumber"));
    TRY(is.ExpectEnd("IssuerAndSerialNumber"));
    out.sid_issuer.assign(name.encoding.begin(), name.encoding.end());
    out.sid_serial.assign(serial.contents.begin(), serial.contents.end());
  }
  Element dalg = TRY(i.Expect(der::kSequence, "SignerInfo.digestAlgorithm"));
  {
    Reader a(dalg.contents);
    Element o = TRY(a.Expect(der::kOid, "digestAlgorithm"));
    out.digest_oid.assign(o.contents.begin(), o.contents.end());
    // RFC 5652 §5.1: digestAlgorithms lists the signers' digest algorithms.
    Reader d(digest_algorithms.contents);
    bool listed = false;
    while (!d.empty()) {
      Element alg = TRY(d.Expect(der::kSequence, "SignedData.digestAlgorithms"));
      Reader ar(alg.contents);
      Element ao = TRY(ar.Expect(der::kOid, "digestAlgorithm"));
      listed = listed || oid::Equal(ao.contents, o.contents);
    }
    if (!listed)
      return Fail(ErrorCode::kParse, "the signer's digest algorithm is not in digestAlgorithms");
  }
  Element attrs = TRY(i.Expect(der::ContextConstructed(0), "SignerInfo.signedAttrs"));
  out.signed_attrs.assign(attrs.encoding.begin(), attrs.encoding.end());
  out.signed_attrs[0] = der::kSet;  // RFC 5652 §5.4: the signature covers the SET OF encoding
  Element salg = TRY(i.Expect(der::kSequence, "SignerInfo.signatureAlgorithm"));
  {
    Reader a(salg.contents);
    Element o = TRY(a.Expect(der::kOid, "signatureAlgorithm"));
    out.signature_oid.assign(o.contents.begin(), o.contents.end());
    if (!a.empty()) {
      Element p = TRY(a.Next());
      out.signature_params.assign(p.encoding.begin(), p.encoding.end());
      TRY(a.ExpectEnd("signatureAlgorithm"));
    }
  }
  Element sig = TRY(i.Expect(der::kOctetString, "SignerInfo.signature"));
  out.signature.assign(sig.contents.begin(), sig.contents.end());
  TRY(i.Optional(der::ContextConstructed(1)));  // unsignedAttrs
  TRY(i.ExpectEnd("SignerInfo"));
  return out;
}

std::string DigestText(DigestAlgorithm d) { return std::string(crypto::DigestName(d)); }

// Checks that the signature algorithm OID fits the key and digest; returns a description.
std::string CheckSignatureAlgorithm(const crypto::PublicKey& key, ByteView sig_oid,
                                    ByteView params, DigestAlgorithm digest,
                                    std::vector<std::string>* problems) {
  // RFC 3370 §3.2: RSA with NULL (or absent) parameters; RFC 5758 §3.2 and GM/T 0010: ECDSA and
  // SM2 with none.
  bool null_params = params.size() == 2 && params[0] == der::kNull && params[1] == 0;
  if (!params.empty() && !(key.Family() == crypto::KeyFamily::kRsa && null_params))
    problems->push_back("unexpected signature algorithm parameters");
  // RFC 5753 §2.1.1 / RFC 4056 §3: an algorithm that names a hash names the SignerInfo's digest
  // algorithm (rsaEncryption names none).
  struct Named {
    ByteView oid;
    DigestAlgorithm hash;
  };
  const Named kNamed[] = {{oid::kEcdsaWithSha256, DigestAlgorithm::kSha256},
                          {oid::kEcdsaWithSha384, DigestAlgorithm::kSha384},
                          {oid::kEcdsaWithSha512, DigestAlgorithm::kSha512},
                          {oid::kSha256WithRsa, DigestAlgorithm::kSha256},
                          {oid::kSha384WithRsa, DigestAlgorithm::kSha384},
                          {oid::kSha512WithRsa, DigestAlgorithm::kSha512}};
  for (const Named& n : kNamed)
    if (oid::Equal(sig_oid, n.oid) && n.hash != digest)
      problems->push_back("signature algorithm " + der::OidToString(sig_oid) +
                          " names another hash than the digest algorithm " + DigestText(digest));
  switch (key.Family()) {
    case crypto::KeyFamily::kEcdsa: {
      bool ok = oid::Equal(sig_oid, oid::kEcdsaWithSha256) ||
                oid::Equal(sig_oid, oid::kEcdsaWithSha384) ||
                oid::Equal(sig_oid, oid::kEcdsaWithSha512);
      if (!ok) problems->push_back("signature algorithm " + der::OidToString(sig_oid) +
                                   " does not match the ECDSA signer key");
      return key.Description() + " with " + DigestText(digest);
    }
    case crypto::KeyFamily::kRsa: {
      bool ok = oid::Equal(sig_oid, oid::kRsaEncryption) ||
                oid::Equal(sig_oid, oid::kSha256WithRsa) ||
                oid::Equal(sig_oid, oid::kSha384WithRsa) || oid::Equal(sig_oid, oid::kSha512WithRsa);
      if (!ok) problems->push_back("signature algorithm " + der::OidToString(sig_oid) +
                                   " does not match the RSA signer key");
      return key.Description() + " PKCS#1 v1.5 with " + DigestText(digest);
    }
    case crypto::KeyFamily::kSm2: {
      bool ok = oid::Equal(sig_oid, oid::kSm2Sign) || oid::Equal(sig_oid, oid::kSm2WithSm3);
      if (!ok) problems->push_back("signature algorithm " + der::OidToString(sig_oid) +
                                   " does not match the SM2 signer key");
      return "SM2 with SM3";
    }
    case crypto::KeyFamily::kEd25519:
      problems->push_back("Ed25519 time-stamp signers are not supported");
      return "Ed25519";
  }
  return "";
}

// Checks the ESS signing-certificate attribute (v2, RFC 5816/5035; or v1 with SHA-1, RFC 2634)
// against the signer certificate.
void CheckSigningCertificate(ByteView value, bool v2, const x509::Certificate& signer,
                             std::vector<std::string>* problems) {
  auto check = [&]() -> Status {
    Element sc = TRY(der::ParseSingle(value, der::kSequence, "SigningCertificate"));
    Reader r(sc.contents);
    Element certs = TRY(r.Expect(der::kSequence, "SigningCertificate.certs"));
    Reader c(certs.contents);
    Element first = TRY(c.Expect(der::kSequence, "ESSCertID"));
    Reader e(first.contents);
    DigestAlgorithm alg = v2 ? DigestAlgorithm::kSha256 : DigestAlgorithm::kSha1;
    if (v2) {
      if (auto a = TRY(e.Optional(der::kSequence))) {
        Reader ar(a->contents);
        Element o = TRY(ar.Expect(der::kOid, "ESSCertIDv2.hashAlgorithm"));
        auto d = oid::DigestFromOid(o.contents);
        if (!d) return Fail(ErrorCode::kUnsupported, "ESSCertIDv2 hash algorithm " +
                                                         der::OidToString(o.contents) + " is unknown");
        alg = *d;
      }
    }
    Element hash = TRY(e.Expect(der::kOctetString, "ESSCertID.certHash"));
    Bytes der_cert = signer.Der();
    Bytes expected = crypto::Digest(alg, der_cert);
    if (!std::equal(expected.begin(), expected.end(), hash.contents.begin(), hash.contents.end()))
      problems->push_back("the ESS signing-certificate hash does not match the signer certificate");
    if (auto is = TRY(e.Optional(der::kSequence))) {
      Reader isr(is->contents);
      Element names = TRY(isr.Expect(der::kSequence, "IssuerSerial.issuer"));
      Element serial = TRY(isr.Expect(der::kInteger, "IssuerSerial.serialNumber"));
      cms::CertIds ids = TRY(cms::ParseCertIds(der_cert));
      Reader nr(names.contents);
      bool name_ok = false;
      while (!nr.empty()) {
        Element gn = TRY(nr.Next());
        if (gn.tag == der::ContextConstructed(4) &&
            std::equal(gn.contents.begin(), gn.contents.end(), ids.issuer.begin(), ids.issuer.end()))
          name_ok = true;
      }
      if (!name_ok || !SameInteger(serial.contents, ids.serial))
        problems->push_back("the ESS signing-certificate issuerSerial does not match the signer certificate");
    }
    return Ok();
  }();
  if (!check) problems->push_back("signing-certificate attribute: " + check.error().message());
}

Result<Bytes> TokenFrom(ByteView input) {
  // A TimeStampResp starts with PKIStatusInfo (a SEQUENCE); a ContentInfo with an OID.
  Element top = TRY(der::ParseSingle(input, der::kSequence, "time-stamp token"));
  Reader r(top.contents);
  if (r.PeekTag() == der::kOid) return Bytes(input.begin(), input.end());
  TimestampResult result = TRY(ParseGrantedResponse(input));
  return result.token;
}

}  // namespace

Result<TimestampResult> ParseGrantedResponse(ByteView response_der) {
  TimeStampResp resp = TRY(ParseTimeStampResp(response_der));
  if (resp.status != PkiStatus::kGranted && resp.status != PkiStatus::kGrantedWithMods) {
    std::string msg = "the TSA refused the request: " + std::string(PkiStatusName(resp.status));
    if (resp.fail_info) msg += " (" + FailureInfoNames(resp.fail_info) + ")";
    if (!resp.status_string.empty()) msg += ": " + resp.status_string;
    return Fail(ErrorCode::kPolicy, msg);
  }
  if (!resp.token) return Fail(ErrorCode::kParse, "the TSA granted the request but sent no token");
  ParsedToken parsed = TRY(ParseToken(*resp.token));
  TimestampResult result;
  result.response.assign(response_der.begin(), response_der.end());
  result.token = std::move(*resp.token);
  result.tst_info = TRY(ParseTstInfo(parsed.tst_info_der));
  return result;
}

Result<TimestampResult> RequestTimestampForDigest(std::string_view url, ByteView digest,
                                                  const RequestOptions& options) {
  if (digest.size() != crypto::DigestSize(options.digest))
    return Fail(ErrorCode::kInvalidArgument, "digest length does not match " +
                                                 std::string(crypto::DigestName(options.digest)));
  Bytes nonce = TRY(crypto::RandomBytes(8));
  nonce[0] &= 0x7f;
  std::optional<Bytes> policy;
  if (options.policy_oid) policy = TRY(der::EncodeOid(*options.policy_oid));
  Bytes query = EncodeTimeStampReq(options.digest, digest, nonce, options.cert_req, policy);

  net::HttpRequest request;
  request.method = "POST";
  request.target = std::string(url);
  request.SetHeader("Content-Type", std::string(kTimestampQueryType));
  request.SetHeader("Accept", std::string(kTimestampReplyType));
  request.body = std::string(AsString(query));
  net::HttpClientOptions http;
  http.timeout = options.timeout;
  http.ca_file = options.ca_file;
  http.max_response_body_bytes = 1 << 20;
  net::HttpResponse response = TRY(net::HttpFetch(request, http));
  if (response.status != 200)
    return Fail(ErrorCode::kNetwork, "the TSA at " + std::string(url) + " answered HTTP " +
                                         std::to_string(response.status));
  auto type = response.Header("Content-Type");
  if (!type || type->substr(0, kTimestampReplyType.size()) != kTimestampReplyType)
    return Fail(ErrorCode::kParse, "the TSA at " + std::string(url) + " did not send " +
                                       std::string(kTimestampReplyType));
  TimestampResult result = TRY(ParseGrantedResponse(AsBytes(response.body)));
  const TstInfo& info = result.tst_info;
  if (!info.message_imprint.digest || *info.message_imprint.digest != options.digest ||
      info.message_imprint.hashed_message != Bytes(digest.begin(), digest.end()))
    return Fail(ErrorCode::kCrypto, "the token's message imprint is not the one requested");
  if (!info.nonce || !SameInteger(*info.nonce, nonce))
    return Fail(ErrorCode::kCrypto, "the token does not carry the request's nonce");
  return result;
}

Result<TimestampResult> RequestTimestamp(std::string_view url, ByteView data,
                                         const RequestOptions& options) {
  Bytes digest = crypto::Digest(options.digest, data);
  return RequestTimestampForDigest(url, digest, options);
}

TokenReport VerifyToken(ByteView input, const VerifyTokenOptions& options) {
  TokenReport report;
  auto& problems = report.problems;
  auto token = TokenFrom(input);
  if (!token) {
    problems.push_back(token.error().message());
    return report;
  }
  auto parsed = ParseToken(*token);
  if (!parsed) {
    problems.push_back("malformed token: " + parsed.error().message());
    return report;
  }
  auto info = ParseTstInfo(parsed->tst_info_der);
  if (!info) {
    problems.push_back("malformed TSTInfo: " + info.error().message());
    return report;
  }
  report.tst_info = *info;
  if (info->version != 1) problems.push_back("TSTInfo version is not 1");

  // The imprint.
  const MessageImprint& mi = info->message_imprint;
  if (!mi.digest) {
    problems.push_back("unknown message imprint algorithm " + der::OidToString(mi.algorithm_oid));
  } else if (*mi.digest == DigestAlgorithm::kSha1) {
    problems.push_back("the message imprint uses SHA-1");
  } else if (options.data || options.digest) {
    Bytes expected = options.data ? crypto::Digest(*mi.digest, *options.data) : *options.digest;
    if (expected != mi.hashed_message)
      problems.push_back("the message imprint does not match the data");
  }
  if (options.nonce && (!info->nonce || !SameInteger(*info->nonce, *options.nonce)))
    problems.push_back("the nonce does not match the request");

  // The signer certificate: from the token or the extra certificates, by issuer and serial.
  std::vector<x509::Certificate> pool = parsed->certificates;
  pool.insert(pool.end(), options.untrusted.begin(), options.untrusted.end());
  std::optional<x509::Certificate> signer;
  for (const auto& c : pool) {
    auto ids = cms::ParseCertIds(c.Der());
    if (ids && ids->issuer == parsed->sid_issuer && SameInteger(ids->serial, parsed->sid_serial)) {
      signer = c;
      break;
    }
  }
  if (!signer) {
    problems.push_back("the TSA certificate is neither in the token nor among the given certificates");
    return report;
  }
  report.signer = signer;

  // Signed attributes: contentType, messageDigest, signing certificate.
  auto digest = oid::DigestFromOid(parsed->digest_oid);
  if (!digest || *digest == DigestAlgorithm::kSha1) {
    problems.push_back("unsupported SignerInfo digest algorithm " +
                       der::OidToString(parsed->digest_oid));
    return report;
  }
  bool have_content_type = false, have_digest = false, have_ess = false;
  auto attrs = der::ParseSingle(parsed->signed_attrs, der::kSet, "signedAttrs");
  if (!attrs) {
    problems.push_back(attrs.error().message());
    return report;
  }
  Reader ar(attrs->contents);
  while (!ar.empty()) {
    auto attr = ar.Expect(der::kSequence, "Attribute");
    if (!attr) {
      problems.push_back(attr.error().message());
      break;
    }
    Reader a(attr->contents);
    auto type = a.Expect(der::kOid, "Attribute.attrType");
    auto values = a.Expect(der::kSet, "Attribute.attrValues");
    if (!type || !values) {
      problems.push_back("malformed signed attribute");
      break;
    }
    Reader v(values->contents);
    auto value = v.Next();
    if (!value || !v.empty()) {
      problems.push_back("signed attribute " + der::OidToString(type->contents) +
                         " must have exactly one value");
      continue;
    }
    if (oid::Equal(type->contents, oid::kContentType)) {
      have_content_type = true;
      if (value->tag != der::kOid || !oid::Equal(value->contents, oid::kTstInfo))
        problems.push_back("the contentType attribute is not id-ct-TSTInfo");
    } else if (oid::Equal(type->contents, oid::kMessageDigest)) {
      have_digest = true;
      Bytes md = crypto::Digest(*digest, parsed->tst_info_der);
      if (value->tag != der::kOctetString ||
          !std::equal(md.begin(), md.end(), value->contents.begin(), value->contents.end()))
        problems.push_back("the messageDigest attribute does not match the TSTInfo");
    } else if (oid::Equal(type->contents, oid::kSigningCertificateV2) ||
               oid::Equal(type->contents, oid::kSigningCertificate)) {
      have_ess = true;
      CheckSigningCertificate(value->encoding,
                              oid::Equal(type->contents, oid::kSigningCertificateV2), *signer,
                              &problems);
    }
  }
  if (!have_content_type) problems.push_back("the contentType signed attribute is missing");
  if (!have_digest) problems.push_back("the messageDigest signed attribute is missing");
  if (!have_ess)
    problems.push_back("the signing-certificate attribute (ESSCertIDv2, RFC 5816) is missing");

  // The signature.
  crypto::PublicKey key = signer->PublicKey();
  report.signature_algorithm =
      CheckSignatureAlgorithm(key, parsed->signature_oid, parsed->signature_params, *digest, &problems);
  if (auto st = crypto::Verify(key, parsed->signed_attrs, parsed->signature, *digest); !st)
    problems.push_back("the token signature does not verify (" + report.signature_algorithm + ")");

  // The TSA certificate: RFC 3161 §2.3, exactly one EKU, id-kp-timeStamping, critical.
  auto ekus = signer->ExtendedKeyUsages();
  if (ekus.size() != 1 || ekus[0] != x509::kEkuTimeStamping)
    problems.push_back("the TSA certificate's extended key usage is not timeStamping alone");
  else if (!signer->ExtendedKeyUsageCritical())
    problems.push_back("the TSA certificate's extended key usage is not critical");

  // Its chain at genTime.
  std::vector<x509::Certificate> chain = {*signer};
  for (const auto& c : pool)
    if (!(c == *signer) && std::find(chain.begin(), chain.end(), c) == chain.end()) chain.push_back(c);
  if (options.roots.empty()) {
    problems.push_back("no trust anchors given");
  } else {
    x509::VerifyReport chain_report =
        x509::VerifyChain(chain, options.roots, {.at = info->gen_time, .profile = x509::Profile::kTimeStamping});
    for (auto& p : chain_report.problems) problems.push_back("TSA certificate chain: " + p);
    report.path = chain_report.path;
  }
  return report;
}

}  // namespace autoseal::tsa
