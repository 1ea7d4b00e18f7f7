#include "x509/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/der.h"
#include "crypto/ossl.h"
#include "crypto/signature.h"
#include "crypto/sign_context.h"
#include "x509/internal/openssl_util.h"
#include "x509/internal/extensions.h"
#include "x509/names.h"

namespace autoseal::x509 {

using crypto::OpenSslError;

// The request as received, parsed once with our DER reader (OpenSSL 3.0's d2i_X509_REQ decodes
// the public key through the provider decoder chain, several times the cost of the signature
// check), plus OpenSSL objects only where OpenSSL does the work better (names).
struct CertificateRequest::Parsed {
  Bytes der;
  ByteView info;       // CertificationRequestInfo, the signed bytes
  ByteView spki;       // SubjectPublicKeyInfo encoding
  ByteView sig_alg;    // signatureAlgorithm OID contents
  ByteView sig_params; // its parameters (encoding), empty when absent
  ByteView signature;  // BIT STRING value without the unused-bits byte
  std::optional<crypto::PublicKey> key;
  crypto::X509NamePtr subject;
  crypto::GeneralNamesPtr san;  // subjectAltName of the extensionRequest attribute, if any
};

namespace {

constexpr uint8_t kExtensionRequest[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};  // 1.2.840.113549.1.9.14
constexpr uint8_t kSubjectAltName[] = {0x55, 0x1d, 0x11};  // 2.5.29.17

bool OidIs(ByteView contents, ByteView oid) {
  return contents.size() == oid.size() && std::equal(contents.begin(), contents.end(), oid.begin());
}

// The subjectAltName extension value from PKCS#9 extensionRequest (RFC 2985 §5.4.2):
// Attribute ::= SEQUENCE { type OID, values SET OF Extensions }.
Result<std::optional<ByteView>> FindRequestedSan(ByteView attributes) {
  der::Reader attrs(attributes);
  std::optional<ByteView> san;
  while (!attrs.empty()) {
    auto attr = TRY(attrs.Expect(der::kSequence, "CSR attribute"));
    der::Reader a(attr.contents);
    auto type = TRY(a.Expect(der::kOid, "CSR attribute type"));
    auto values = TRY(a.Expect(der::kSet, "CSR attribute values"));
    TRY(a.ExpectEnd("CSR attribute"));
    if (!OidIs(type.contents, kExtensionRequest)) continue;
    der::Reader v(values.contents);
    auto exts = TRY(v.Expect(der::kSequence, "CSR extensionRequest"));
    TRY(v.ExpectEnd("CSR extensionRequest (one value)"));
    der::Reader e(exts.contents);
    while (!e.empty()) {
      auto ext = TRY(e.Expect(der::kSequence, "CSR extension"));
      der::Reader x(ext.contents);
      auto id = TRY(x.Expect(der::kOid, "CSR extension id"));
      TRY(x.Optional(der::kBoolean));
      auto value = TRY(x.Expect(der::kOctetString, "CSR extension value"));
      TRY(x.ExpectEnd("CSR extension"));
      if (OidIs(id.contents, kSubjectAltName)) {
        if (san) return Fail(ErrorCode::kParse, "CSR requests subjectAltName twice");
        san = value.contents;
      }
    }
  }
  return san;
}

// Signature algorithms checked without OpenSSL's X509_REQ machinery: the digest and the key
// family they require.
struct SignatureScheme {
  crypto::DigestAlgorithm digest;
  crypto::KeyFamily family;
};
std::optional<SignatureScheme> SchemeFor(ByteView oid) {
  using crypto::DigestAlgorithm;
  using crypto::KeyFamily;
  static const struct {
    std::initializer_list<uint8_t> oid;
    SignatureScheme scheme;
  } kSchemes[] = {
      {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, {DigestAlgorithm::kSha256, KeyFamily::kEcdsa}},
      {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, {DigestAlgorithm::kSha384, KeyFamily::kEcdsa}},
      {{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, {DigestAlgorithm::kSha512, KeyFamily::kEcdsa}},
      {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, {DigestAlgorithm::kSha256, KeyFamily::kRsa}},
      {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, {DigestAlgorithm::kSha384, KeyFamily::kRsa}},
      {{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, {DigestAlgorithm::kSha512, KeyFamily::kRsa}},
      {{0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75}, {DigestAlgorithm::kSm3, KeyFamily::kSm2}},
      {{0x2b, 0x65, 0x70}, {DigestAlgorithm::kNone, KeyFamily::kEd25519}},
  };
  for (const auto& s : kSchemes)
    if (oid.size() == s.oid.size() && std::equal(oid.begin(), oid.end(), s.oid.begin())) return s.scheme;
  return std::nullopt;
}

}  // namespace

Result<CertificateRequest> CertificateRequest::FromDer(ByteView input) {
  if (input.empty()) return Fail(ErrorCode::kParse, "empty CSR");
  auto p = std::make_shared<Parsed>();
  p->der.assign(input.begin(), input.end());
  // RFC 2986 §4: CertificationRequest ::= SEQUENCE { certificationRequestInfo,
  // signatureAlgorithm, signature BIT STRING }.
  auto whole = der::ParseSingle(p->der, der::kSequence, "CSR");
  if (!whole) return Fail(ErrorCode::kParse, "cannot parse CSR DER: " + whole.error().message());
  auto parse = [&]() -> Status {
    der::Reader r(whole->contents);
    auto info = TRY(r.Expect(der::kSequence, "CertificationRequestInfo"));
    auto alg = TRY(r.Expect(der::kSequence, "CSR signatureAlgorithm"));
    auto sig = TRY(r.Expect(der::kBitString, "CSR signature"));
    TRY(r.ExpectEnd("CSR"));
    p->info = info.encoding;
    der::Reader a(alg.contents);
    p->sig_alg = TRY(a.Expect(der::kOid, "CSR signature algorithm")).contents;
    if (!a.empty()) p->sig_params = TRY(a.Next()).encoding;
    TRY(a.ExpectEnd("CSR signatureAlgorithm"));
    if (sig.contents.empty() || sig.contents[0] != 0)
      return Fail(ErrorCode::kParse, "CSR signature is not a whole number of bytes");
    p->signature = sig.contents.subspan(1);
    // CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
    // subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute } (absent when empty, as OpenSSL
    // accepts).
    der::Reader i(info.contents);
    auto version = TRY(i.Expect(der::kInteger, "CSR version"));
    if (version.contents.size() != 1 || version.contents[0] != 0)
      return Fail(ErrorCode::kParse, "CSR version is not v1 (0)");
    auto subject = TRY(i.Expect(der::kSequence, "CSR subject"));
    auto spki = TRY(i.Expect(der::kSequence, "CSR subjectPublicKeyInfo"));
    auto attributes = TRY(i.Optional(der::ContextConstructed(0)));
    TRY(i.ExpectEnd("CertificationRequestInfo"));
    const unsigned char* q = subject.encoding.data();
    p->subject.reset(d2i_X509_NAME(nullptr, &q, static_cast<long>(subject.encoding.size())));
    if (!p->subject || q != subject.encoding.data() + subject.encoding.size())
      return Fail(OpenSslError("CSR subject is not a valid Name", ErrorCode::kParse));
    p->spki = spki.encoding;
    auto key = crypto::PublicKey::FromDer(spki.encoding);
    if (!key) return Fail(ErrorCode::kParse, "CSR has an unusable public key: " + key.error().message());
    p->key = std::move(*key);
    if (attributes) {
      auto san = TRY(FindRequestedSan(attributes->contents));
      if (san) {
        const unsigned char* s = san->data();
        p->san.reset(d2i_GENERAL_NAMES(nullptr, &s, static_cast<long>(san->size())));
        if (!p->san || s != san->data() + san->size())
          return Fail(OpenSslError("CSR subjectAltName is malformed", ErrorCode::kParse));
      }
    }
    return Ok();
  };
  if (auto st = parse(); !st) {
    crypto::ClearOpenSslErrors();
    return Fail(st.error().code() == ErrorCode::kParse ? st.error()
                                                       : Error(ErrorCode::kParse, st.error().message()));
  }
  return CertificateRequest(std::move(p));
}

Result<CertificateRequest> CertificateRequest::FromPem(std::string_view pem) {
  auto bio = crypto::MemoryBio(pem);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  // RFC 7468 §7: "CERTIFICATE REQUEST"; "NEW CERTIFICATE REQUEST" is what older tools write.
  while (PEM_read_bio(bio.get(), &name, &header, &data, &len) == 1) {
    std::string label(name);
    Bytes der(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (label == "CERTIFICATE REQUEST" || label == "NEW CERTIFICATE REQUEST") {
      crypto::ClearOpenSslErrors();
      return FromDer(der);
    }
  }
  crypto::ClearOpenSslErrors();
  return Fail(ErrorCode::kParse, "cannot parse CSR PEM: no CERTIFICATE REQUEST block");
}

Result<CertificateRequest> CertificateRequest::Parse(std::string_view input) {
  if (input.find("-----BEGIN") != std::string_view::npos) return FromPem(input);
  return FromDer(AsBytes(input));
}

Bytes CertificateRequest::Der() const { return p_->der; }

std::string CertificateRequest::Pem() const {
  std::string b64 = Base64Encode(p_->der);
  std::string out = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END CERTIFICATE REQUEST-----\n";
}

std::string CertificateRequest::Subject() const { return internal::NameToString(p_->subject.get()); }
std::string CertificateRequest::CommonName() const {
  return internal::FirstCommonName(p_->subject.get());
}

crypto::PublicKey CertificateRequest::PublicKey() const { return *p_->key; }

Bytes CertificateRequest::SubjectPublicKeyInfoDer() const {
  return Bytes(p_->spki.begin(), p_->spki.end());
}

std::string CertificateRequest::SignatureAlgorithm() const {
  return internal::NidName(OBJ_txt2nid(der::OidToString(p_->sig_alg).c_str()));
}

std::vector<std::string> CertificateRequest::DnsNames() const {
  return internal::GeneralNameEntries(p_->san.get(), GEN_DNS);
}
std::vector<std::string> CertificateRequest::IpAddresses() const {
  return internal::GeneralNameEntries(p_->san.get(), GEN_IPADD);
}
std::vector<std::string> CertificateRequest::EmailAddresses() const {
  return internal::GeneralNameEntries(p_->san.get(), GEN_EMAIL);
}

Status CertificateRequest::VerifySignature() const {
  auto fail = [] {
    return Fail(ErrorCode::kCrypto, "CSR signature does not verify (proof of possession failed)");
  };
  if (auto scheme = SchemeFor(p_->sig_alg)) {
    // RFC 5758 §3.2 / RFC 8410 §3: ECDSA and EdDSA identifiers carry no parameters; RFC 4055
    // §5: the RSA ones carry NULL.
    bool params_ok = p_->sig_params.empty() ||
                     (scheme->family == crypto::KeyFamily::kRsa && p_->sig_params.size() == 2 &&
                      p_->sig_params[0] == der::kNull && p_->sig_params[1] == 0);
    if (!params_ok || p_->key->Family() != scheme->family) return fail();
    if (!crypto::Verify(*p_->key, p_->info, p_->signature, scheme->digest)) return fail();
    return Ok();
  }
  // Anything else (RSASSA-PSS, SHA-1, ...) through OpenSSL's generic path.
  const unsigned char* q = p_->der.data();
  crypto::X509ReqPtr req(d2i_X509_REQ(nullptr, &q, static_cast<long>(p_->der.size())));
  if (!req || X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())) != 1) {
    crypto::ClearOpenSslErrors();
    return fail();
  }
  return Ok();
}

Result<CertificateRequest> CreateCertificateRequest(const crypto::PrivateKey& key,
                                                    const CsrOptions& options) {
  for (const auto& n : options.dns_names) TRY(ValidateDnsName(n, true));
  for (const auto& e : options.email_addresses) TRY(ValidateEmailAddress(e));
  crypto::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1)
    return Fail(OpenSslError("X509_REQ_new"));
  if (!options.common_name.empty()) {
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(options.common_name.c_str()),
                                   -1, -1, 0) != 1)
      return Fail(OpenSslError("invalid common name", ErrorCode::kInvalidArgument));
  }
  if (X509_REQ_set_pubkey(req.get(), key.evp()) != 1) return Fail(OpenSslError("X509_REQ_set_pubkey"));
  if (!options.dns_names.empty() || !options.ip_addresses.empty() || !options.email_addresses.empty()) {
    auto san = TRY(internal::MakeSubjectAltName(options.dns_names, options.ip_addresses,
                                                options.email_addresses, false));
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, san.get());
    int ok = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_free(exts);
    if (ok != 1) return Fail(OpenSslError("cannot add subjectAltName to CSR"));
  }
  auto ctx = TRY(crypto::NewSignContext(key));
  if (X509_REQ_sign_ctx(req.get(), ctx.md_ctx.get()) <= 0) return Fail(OpenSslError("cannot sign CSR"));
  // Re-parse so the result is exactly what a receiver sees (and carries the SM2 ID).
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req.get(), &der);
  if (n <= 0) return Fail(OpenSslError("cannot encode CSR"));
  Bytes bytes(der, der + n);
  OPENSSL_free(der);
  return CertificateRequest::FromDer(bytes);
}

}  // namespace autoseal::x509
