#include "x509/internal/issuance.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/ossl.h"
#include "crypto/signature.h"
#include "x509/internal/der.h"
#include "x509/internal/extensions.h"

namespace autoseal::x509::internal {

using crypto::OpenSslError;
using der::Writer;

namespace {

using namespace std::string_view_literals;

// DER contents of the object identifiers the encoder writes.
namespace oid {
constexpr std::string_view kCommonName = "\x55\x04\x03"sv;                           // 2.5.4.3
constexpr std::string_view kBasicConstraints = "\x55\x1d\x13"sv;                     // 2.5.29.19
constexpr std::string_view kKeyUsage = "\x55\x1d\x0f"sv;                             // 2.5.29.15
constexpr std::string_view kExtKeyUsage = "\x55\x1d\x25"sv;                          // 2.5.29.37
constexpr std::string_view kSubjectAltName = "\x55\x1d\x11"sv;                       // 2.5.29.17
constexpr std::string_view kAuthorityKeyId = "\x55\x1d\x23"sv;                       // 2.5.29.35
constexpr std::string_view kCertificatePolicies = "\x55\x1d\x20"sv;                  // 2.5.29.32
constexpr std::string_view kCrlDistributionPoints = "\x55\x1d\x1f"sv;                // 2.5.29.31
constexpr std::string_view kServerAuth = "\x2b\x06\x01\x05\x05\x07\x03\x01"sv;       // id-kp 1
constexpr std::string_view kEmailProtection = "\x2b\x06\x01\x05\x05\x07\x03\x04"sv;  // id-kp 4
constexpr std::string_view kTimeStamping = "\x2b\x06\x01\x05\x05\x07\x03\x08"sv;     // id-kp 8
constexpr std::string_view kDomainValidated = "\x67\x81\x0c\x01\x02\x01"sv;  // 2.23.140.1.2.1
constexpr std::string_view kMailboxValidatedStrict =
    "\x67\x81\x0c\x01\x05\x01\x03"sv;  // 2.23.140.1.5.1.3
constexpr std::string_view kEcdsaWithSha256 = "\x2a\x86\x48\xce\x3d\x04\x03\x02"sv;
constexpr std::string_view kEcdsaWithSha384 = "\x2a\x86\x48\xce\x3d\x04\x03\x03"sv;
constexpr std::string_view kSha256WithRsa = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"sv;
constexpr std::string_view kSm2WithSm3 =
    "\x2a\x81\x1c\xcf\x55\x01\x83\x75"sv;                // 1.2.156.10197.1.501
constexpr std::string_view kEd25519 = "\x2b\x65\x70"sv;  // 1.3.101.112
}  // namespace oid

// Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
// (RFC 5280 §4.1); DER omits critical when FALSE.
template <typename Body>
void Extension(Writer& w, std::string_view extn_id, bool critical, Body body) {
  size_t ext = w.Begin(der::kSequence);
  w.Oid(extn_id);
  if (critical) w.Boolean(true);
  size_t value = w.Begin(der::kOctetString);
  body();
  w.End(value);
  w.End(ext);
}

// AlgorithmIdentifier of the signature an issuer key of this type makes with its default digest
// (crypto::DefaultDigest): RFC 5758 §3.2 (ECDSA, no parameters), RFC 4055 §5 (RSA, NULL
// parameters), GM/T 0006 (SM2-with-SM3, no parameters), RFC 8410 §3 (Ed25519, no parameters).
Bytes SignatureAlgorithm(crypto::KeyType type) {
  Writer w(16);
  size_t seq = w.Begin(der::kSequence);
  switch (type) {
    case crypto::KeyType::kEcdsaP256: w.Oid(oid::kEcdsaWithSha256); break;
    case crypto::KeyType::kEcdsaP384: w.Oid(oid::kEcdsaWithSha384); break;
    case crypto::KeyType::kRsa2048:
    case crypto::KeyType::kRsa3072:
    case crypto::KeyType::kRsa4096:
      w.Oid(oid::kSha256WithRsa);
      w.Tlv(der::kNull, ByteView());
      break;
    case crypto::KeyType::kSm2: w.Oid(oid::kSm2WithSm3); break;
    case crypto::KeyType::kEd25519: w.Oid(oid::kEd25519); break;
  }
  w.End(seq);
  return w.Take();
}

}  // namespace

bool IssuerInfo::KeyMatches(const crypto::PrivateKey& key) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (matched_ && matched_->evp() == key.evp()) return true;
  }
  if (!public_key || !public_key->Equals(key)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  matched_ = key.Public();
  return true;
}

std::unique_ptr<IssuerInfo> MakeIssuerInfo(const Certificate& issuer) {
  auto info = std::make_unique<IssuerInfo>();
  info->may_sign_certificates = issuer.IsCa() && (issuer.KeyUsageBits().value_or(0) & kKeyCertSign);
  info->not_after = issuer.NotAfter();
  crypto::PublicKey key = issuer.PublicKey();
  info->public_key = key;

  unsigned char* name = nullptr;
  int n = i2d_X509_NAME(X509_get_subject_name(issuer.raw()), &name);
  CHECK(n > 0);
  info->name_der.assign(name, name + n);
  OPENSSL_free(name);

  // As the OpenSSL path does: the issuer's subjectKeyIdentifier, else the RFC 5280 §4.2.1.2
  // method (1) identifier of its key.
  Bytes key_id = issuer.SubjectKeyId();
  if (key_id.empty()) key_id = KeyIdentifier(key);
  Writer w(64);
  Extension(w, oid::kAuthorityKeyId, false, [&] {
    size_t aki = w.Begin(der::kSequence);
    w.Tlv(der::ContextPrimitive(0), key_id);  // keyIdentifier [0] IMPLICIT OCTET STRING
    w.End(aki);
  });
  info->authority_key_id_extension = w.Take();

  if (auto type = key.Type()) {
    info->signature_algorithm = SignatureAlgorithm(*type);
    info->family = crypto::FamilyOf(*type);
    info->digest = crypto::DefaultDigest(key);
  }
  return info;
}

Result<Bytes> EncodeLeafCertificate(const LeafTemplate& leaf, const IssuerInfo& issuer,
                                    const crypto::PrivateKey& key) {
  CHECK(!issuer.signature_algorithm.empty());
  Writer w(768 + leaf.subject_public_key_info.size());
  size_t certificate = w.Begin(der::kSequence);
  const size_t tbs_begin = w.bytes().size();
  size_t tbs = w.Begin(der::kSequence);
  {
    static constexpr uint8_t kVersion3[] = {0xa0, 0x03, der::kInteger, 0x01, 0x02};  // [0] v3(2)
    w.Raw(kVersion3);
    w.UnsignedInteger(leaf.serial);
    w.Raw(issuer.signature_algorithm);
    w.Raw(issuer.name_der);
    size_t validity = w.Begin(der::kSequence);
    TRY(w.Time(leaf.not_before));
    TRY(w.Time(leaf.not_after));
    w.End(validity);
    // Name ::= SEQUENCE OF RelativeDistinguishedName; the CN as UTF8String, as OpenSSL's
    // default string mask ("utf8only") writes it (RFC 5280 §4.1.2.6).
    size_t subject = w.Begin(der::kSequence);
    if (!leaf.common_name.empty()) {
      size_t rdn = w.Begin(der::kSet);
      size_t atv = w.Begin(der::kSequence);
      w.Oid(oid::kCommonName);
      w.Tlv(der::kUtf8String, leaf.common_name);
      w.End(atv);
      w.End(rdn);
    }
    w.End(subject);
    w.Raw(leaf.subject_public_key_info);

    size_t explicit_extensions = w.Begin(der::ContextConstructed(3));
    size_t extensions = w.Begin(der::kSequence);
    // The order and criticality of IssueCertificate's OpenSSL path.
    Extension(w, oid::kBasicConstraints, true, [&] {
      size_t bc = w.Begin(der::kSequence);  // cA DEFAULT FALSE: empty for a leaf
      w.End(bc);
    });
    Extension(w, oid::kKeyUsage, true, [&] { w.NamedBits(leaf.key_usage); });
    std::string_view eku;
    bool eku_critical = false;
    switch (leaf.profile) {
      case Profile::kTlsServer: eku = oid::kServerAuth; break;
      case Profile::kSmime: eku = oid::kEmailProtection; break;
      case Profile::kTimeStamping:
        // RFC 3161 §2.3: "This extension MUST be critical."
        eku = oid::kTimeStamping;
        eku_critical = true;
        break;
      default: break;
    }
    if (!eku.empty()) {
      Extension(w, oid::kExtKeyUsage, eku_critical, [&] {
        size_t seq = w.Begin(der::kSequence);
        w.Oid(eku);
        w.End(seq);
      });
    }
    const bool has_names =
        !leaf.dns_names->empty() || !leaf.ip_addresses->empty() || !leaf.email_addresses->empty();
    if (has_names) {
      // RFC 5280 §4.2.1.6: critical when the subject is empty.
      Extension(w, oid::kSubjectAltName, leaf.common_name.empty(), [&] {
        size_t names = w.Begin(der::kSequence);
        for (const auto& d : *leaf.dns_names) w.Tlv(der::ContextPrimitive(2), d);       // dNSName
        for (const auto& ip : *leaf.ip_addresses) w.Tlv(der::ContextPrimitive(7), ip);  // iPAddress
        for (const auto& e : *leaf.email_addresses)
          w.Tlv(der::ContextPrimitive(1), e);  // rfc822Name
        w.End(names);
      });
    }
    w.Raw(issuer.authority_key_id_extension);
    std::string_view policy = leaf.profile == Profile::kTlsServer ? oid::kDomainValidated
                              : leaf.profile == Profile::kSmime   ? oid::kMailboxValidatedStrict
                                                                  : std::string_view();
    if (!policy.empty()) {
      Extension(w, oid::kCertificatePolicies, false, [&] {
        size_t policies = w.Begin(der::kSequence);
        size_t info = w.Begin(der::kSequence);  // PolicyInformation, no qualifiers
        w.Oid(policy);
        w.End(info);
        w.End(policies);
      });
    }
    if (!leaf.crl_urls->empty()) {
      Extension(w, oid::kCrlDistributionPoints, false, [&] {
        size_t points = w.Begin(der::kSequence);
        for (const auto& url : *leaf.crl_urls) {
          size_t point = w.Begin(der::kSequence);
          size_t dp_name = w.Begin(der::ContextConstructed(0));    // distributionPoint [0]
          size_t full_name = w.Begin(der::ContextConstructed(0));  // fullName [0] GeneralNames
          w.Tlv(der::ContextPrimitive(6), url);                    // uniformResourceIdentifier
          w.End(full_name);
          w.End(dp_name);
          w.End(point);
        }
        w.End(points);
      });
    }
    if (leaf.extra_extensions != nullptr)
      for (const auto& e : *leaf.extra_extensions) w.Raw(e);
    w.End(extensions);
    w.End(explicit_extensions);
  }
  w.End(tbs);
  const ByteView tbs_der = ByteView(w.bytes()).subspan(tbs_begin);

  // The same signing OpenSSL's X509_sign_ctx would do with crypto::NewSignContext, with the
  // issuer's algorithm already known (SM2: SM3 and the ID 1234567812345678).
  EVP_PKEY* pkey = key.evp();
  crypto::EvpPkeyCtxPtr pkey_ctx;  // declared first: destroyed after md_ctx
  crypto::EvpMdCtxPtr md_ctx(EVP_MD_CTX_new());
  if (!md_ctx) return Fail(OpenSslError("EVP_MD_CTX_new"));
  if (issuer.family == crypto::KeyFamily::kSm2) {
    pkey_ctx.reset(EVP_PKEY_CTX_new(pkey, nullptr));
    if (!pkey_ctx || EVP_PKEY_CTX_set1_id(pkey_ctx.get(), crypto::kSm2DefaultId.data(),
                                          crypto::kSm2DefaultId.size()) <= 0)
      return Fail(OpenSslError("cannot set the SM2 ID"));
    EVP_MD_CTX_set_pkey_ctx(md_ctx.get(), pkey_ctx.get());
  }
  if (EVP_DigestSignInit(md_ctx.get(), nullptr, crypto::EvpMd(issuer.digest), nullptr, pkey) != 1)
    return Fail(OpenSslError("cannot initialise signing"));
  Bytes signature(static_cast<size_t>(EVP_PKEY_get_size(pkey)));
  size_t signature_length = signature.size();
  if (EVP_DigestSign(md_ctx.get(), signature.data(), &signature_length, tbs_der.data(),
                     tbs_der.size()) != 1)
    return Fail(OpenSslError("cannot sign certificate"));

  w.Raw(issuer.signature_algorithm);
  size_t value = w.Begin(der::kBitString);
  static constexpr uint8_t kNoUnusedBits = 0;
  w.Raw(ByteView(&kNoUnusedBits, 1));
  w.Raw(ByteView(signature.data(), signature_length));
  w.End(value);
  w.End(certificate);
  return w.Take();
}

std::string CertificatePem(ByteView der) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----\n";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  std::string b64 = Base64Encode(der);
  std::string out;
  out.reserve(kBegin.size() + b64.size() + b64.size() / 64 + 1 + kEnd.size());
  out += kBegin;
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += kEnd;
  return out;
}

}  // namespace autoseal::x509::internal
