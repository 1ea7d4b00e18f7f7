#include "x509/certificate.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <mutex>

#include "core/bytes.h"
#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "x509/internal/issuance.h"
#include "x509/internal/openssl_util.h"
#include "x509/names.h"

namespace autoseal::x509 {

using crypto::OpenSslError;

std::string KeyUsageNames(uint32_t bits) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {kDigitalSignature, "digitalSignature"}, {kNonRepudiation, "nonRepudiation"},
      {kKeyEncipherment, "keyEncipherment"},   {kDataEncipherment, "dataEncipherment"},
      {kKeyAgreement, "keyAgreement"},         {kKeyCertSign, "keyCertSign"},
      {kCrlSign, "cRLSign"},                   {kEncipherOnly, "encipherOnly"},
      {kDecipherOnly, "decipherOnly"}};
  std::string out;
  for (auto [bit, name] : kNames) {
    if (bits & bit) {
      if (!out.empty()) out += ", ";
      out += name;
    }
  }
  return out;
}

// A certificate is held one of three ways: parsed (x509), built by OpenSSL in this process with
// its subject key still encoded (x509 + key, see AdoptIssued), or encoded in this process (der +
// key + fields, see CertificateAccess::AdoptEncoded), parsed only when something needs OpenSSL's
// view of it.
struct Certificate::State {
  crypto::X509Ptr x509;
  std::optional<crypto::PublicKey> key;  // set when known without decoding x509's
  Bytes der;                             // set for a certificate encoded here
  std::optional<internal::IssuedFields> fields;  // likewise
  mutable std::once_flag decode_once;
  mutable crypto::X509Ptr decoded;  // a fully decoded object, made on first need
  mutable std::once_flag issuer_once;
  mutable std::unique_ptr<internal::IssuerInfo> issuer_info;
};

// Prepares a freshly parsed certificate (taking ownership of x): caches extensions, flagging
// malformed ones, and attaches the SM2 ID so every later X509_verify / X509_verify_cert on it
// uses 1234567812345678.
Result<Certificate> Certificate::Adopt(X509* x) {
  auto state = std::make_shared<State>();
  state->x509.reset(x);
  if (X509_check_purpose(x, -1, 0) != 1 || (X509_get_extension_flags(x) & EXFLAG_INVALID)) {
    return Fail(OpenSslError("certificate has malformed extensions", ErrorCode::kParse));
  }
  if (X509_get0_pubkey(x) == nullptr)
    return Fail(OpenSslError("certificate has an unusable public key", ErrorCode::kParse));
  internal::AttachSm2IdIfNeeded(x);
  return Certificate(std::move(state));
}

Result<Certificate> Certificate::AdoptIssued(X509* x, crypto::PublicKey key) {
  auto state = std::make_shared<State>();
  state->x509.reset(x);
  if (X509_check_purpose(x, -1, 0) != 1 || (X509_get_extension_flags(x) & EXFLAG_INVALID))
    return Fail(OpenSslError("issued certificate has malformed extensions", ErrorCode::kInternal));
  internal::AttachSm2IdIfNeeded(x);
  state->key = std::move(key);
  return Certificate(std::move(state));
}

namespace internal {

Certificate CertificateAccess::AdoptEncoded(Bytes der, crypto::PublicKey key, IssuedFields fields) {
  auto state = std::make_shared<Certificate::State>();
  state->der = std::move(der);
  state->key = std::move(key);
  state->fields = std::move(fields);
  return Certificate(std::move(state));
}

const IssuerInfo& CertificateAccess::IssuerInfoOf(const Certificate& issuer) {
  const Certificate::State& s = *issuer.state_;
  std::call_once(s.issuer_once, [&] { s.issuer_info = MakeIssuerInfo(issuer); });
  return *s.issuer_info;
}

}  // namespace internal

X509* Certificate::x() const {
  if (state_->der.empty()) return state_->x509.get();
  return raw();
}

X509* Certificate::raw() const {
  if (!state_->key) return state_->x509.get();
  std::call_once(state_->decode_once, [this] {
    Bytes owned;
    ByteView der = state_->der;
    if (der.empty()) {
      unsigned char* out = nullptr;
      int n = i2d_X509(state_->x509.get(), &out);
      CHECK(n > 0);
      owned.assign(out, out + n);
      OPENSSL_free(out);
      der = owned;
    }
    const unsigned char* p = der.data();
    state_->decoded.reset(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    CHECK_MSG(state_->decoded != nullptr && p == der.data() + der.size(),
              "cannot decode a certificate issued here");
    CHECK_MSG(X509_check_purpose(state_->decoded.get(), -1, 0) == 1 &&
                  !(X509_get_extension_flags(state_->decoded.get()) & EXFLAG_INVALID),
              "a certificate issued here has malformed extensions");
    internal::AttachSm2IdIfNeeded(state_->decoded.get());
  });
  return state_->decoded.get();
}

Result<Certificate> Certificate::FromDer(ByteView der) {
  if (der.empty()) return Fail(ErrorCode::kParse, "empty certificate");
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr) return Fail(OpenSslError("cannot parse certificate DER", ErrorCode::kParse));
  if (p != der.data() + der.size()) {
    X509_free(x);
    return Fail(ErrorCode::kParse, "trailing data after certificate DER");
  }
  return Adopt(x);
}

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  auto bio = crypto::MemoryBio(pem);
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (x == nullptr) return Fail(OpenSslError("cannot parse certificate PEM", ErrorCode::kParse));
  return Adopt(x);
}

Result<std::vector<Certificate>> Certificate::ParseAll(std::string_view input) {
  std::vector<Certificate> out;
  if (input.find("-----BEGIN") == std::string_view::npos) {
    out.push_back(TRY(FromDer(AsBytes(input))));
    return out;
  }
  // Walk the PEM blocks ourselves so that a bad block is reported rather than silently skipped.
  size_t pos = 0;
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  while ((pos = input.find(kBegin, pos)) != std::string_view::npos) {
    size_t end = input.find(kEnd, pos);
    if (end == std::string_view::npos)
      return Fail(ErrorCode::kParse, "certificate " + std::to_string(out.size() + 1) + ": unterminated PEM block");
    std::string_view block = input.substr(pos + kBegin.size(), end - pos - kBegin.size());
    auto der = Base64Decode(block);
    if (!der) return Fail(ErrorCode::kParse, "certificate " + std::to_string(out.size() + 1) + ": bad base64 in PEM");
    auto cert = FromDer(*der);
    if (!cert) return Fail(cert.error().WithContext("certificate " + std::to_string(out.size() + 1)));
    out.push_back(std::move(*cert));
    pos = end + kEnd.size();
  }
  if (out.empty()) return Fail(ErrorCode::kParse, "no CERTIFICATE block found in PEM input");
  return out;
}

Result<Certificate> Certificate::FromX509(X509* x) {
  CHECK(x != nullptr);
  if (X509_up_ref(x) != 1) return Fail(OpenSslError("X509_up_ref"));
  return Adopt(x);
}

Bytes Certificate::Der() const {
  if (!state_->der.empty()) return state_->der;
  unsigned char* out = nullptr;
  int n = i2d_X509(x(), &out);
  CHECK(n > 0);
  Bytes der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::string Certificate::Pem() const {
  if (!state_->der.empty()) return internal::CertificatePem(state_->der);
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  CHECK(PEM_write_bio_X509(bio.get(), x()) == 1);
  return crypto::BioContents(bio.get());
}

std::string Certificate::Subject() const {
  if (state_->fields && state_->fields->subject) return *state_->fields->subject;
  return internal::NameToString(X509_get_subject_name(x()));
}
std::string Certificate::Issuer() const { return internal::NameToString(X509_get_issuer_name(x())); }
std::string Certificate::CommonName() const {
  if (state_->fields) return state_->fields->common_name;
  return internal::FirstCommonName(X509_get_subject_name(x()));
}

Bytes Certificate::Serial() const {
  if (state_->fields) return state_->fields->serial;
  return internal::IntegerBytes(X509_get0_serialNumber(x()));
}
std::string Certificate::SerialHex() const { return HexEncode(Serial()); }

TimePoint Certificate::NotBefore() const {
  if (state_->fields) return state_->fields->not_before;
  return internal::ToTimePoint(X509_get0_notBefore(x()));
}
TimePoint Certificate::NotAfter() const {
  if (state_->fields) return state_->fields->not_after;
  return internal::ToTimePoint(X509_get0_notAfter(x()));
}

crypto::PublicKey Certificate::PublicKey() const {
  if (state_->key) return *state_->key;
  auto key = crypto::PublicKey::FromEvp(X509_get0_pubkey(x()));
  CHECK(key.has_value());
  return *key;
}

std::string Certificate::SignatureAlgorithm() const {
  return internal::NidName(X509_get_signature_nid(x()));
}

std::vector<std::string> Certificate::DnsNames() const {
  if (state_->fields) return state_->fields->dns_names;
  return internal::SanEntries(x(), GEN_DNS);
}
std::vector<std::string> Certificate::IpAddresses() const {
  if (state_->fields) return state_->fields->ip_addresses;
  return internal::SanEntries(x(), GEN_IPADD);
}
std::vector<std::string> Certificate::EmailAddresses() const {
  if (state_->fields) return state_->fields->email_addresses;
  return internal::SanEntries(x(), GEN_EMAIL);
}

std::optional<uint32_t> Certificate::KeyUsageBits() const {
  if (!(X509_get_extension_flags(x()) & EXFLAG_KUSAGE)) return std::nullopt;
  return internal::FromOpenSslKeyUsage(X509_get_key_usage(x()));
}

bool Certificate::KeyUsageCritical() const { return internal::ExtensionCritical(x(), NID_key_usage); }

std::vector<std::string> Certificate::ExtendedKeyUsages() const {
  std::vector<std::string> out;
  crypto::ExtendedKeyUsagePtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x(), NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i)
    out.push_back(internal::ObjectName(sk_ASN1_OBJECT_value(eku.get(), i)));
  return out;
}

bool Certificate::ExtendedKeyUsageCritical() const {
  return internal::ExtensionCritical(x(), NID_ext_key_usage);
}

bool Certificate::IsCa() const { return X509_check_ca(x()) != 0 && (X509_get_extension_flags(x()) & EXFLAG_CA); }

std::optional<int> Certificate::PathLength() const {
  long len = X509_get_pathlen(x());
  if (len < 0) return std::nullopt;
  return static_cast<int>(len);
}

std::vector<std::string> Certificate::PolicyOids() const {
  std::vector<std::string> out;
  crypto::CertificatePoliciesPtr policies(static_cast<CERTIFICATEPOLICIES*>(
      X509_get_ext_d2i(x(), NID_certificate_policies, nullptr, nullptr)));
  if (!policies) return out;
  for (int i = 0; i < sk_POLICYINFO_num(policies.get()); ++i)
    out.push_back(internal::ObjectText(sk_POLICYINFO_value(policies.get(), i)->policyid));
  return out;
}

std::vector<std::string> Certificate::CrlDistributionPoints() const {
  std::vector<std::string> out;
  auto* dps = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(x(), NID_crl_distribution_points, nullptr, nullptr));
  if (!dps) return out;
  for (int i = 0; i < sk_DIST_POINT_num(dps); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (!dp->distpoint || dp->distpoint->type != 0) continue;
    GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type == GEN_URI) out.push_back(internal::Asn1StringText(gn->d.uniformResourceIdentifier));
    }
  }
  CRL_DIST_POINTS_free(dps);
  return out;
}

Bytes Certificate::SubjectKeyId() const {
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x());
  if (!skid) return {};
  return Bytes(ASN1_STRING_get0_data(skid), ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid));
}

Bytes Certificate::AuthorityKeyId() const {
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(x());
  if (!akid) return {};
  return Bytes(ASN1_STRING_get0_data(akid), ASN1_STRING_get0_data(akid) + ASN1_STRING_length(akid));
}

bool Certificate::HasExtension(std::string_view dotted_oid) const {
  std::string oid(dotted_oid);
  ASN1_OBJECT* obj = OBJ_txt2obj(oid.c_str(), 1);
  if (!obj) return false;
  int idx = X509_get_ext_by_OBJ(x(), obj, -1);
  ASN1_OBJECT_free(obj);
  return idx >= 0;
}

bool Certificate::HasUnhandledCriticalExtension() const {
  return (X509_get_extension_flags(x()) & EXFLAG_CRITICAL) != 0;
}

bool Certificate::IsSelfIssued() const {
  return X509_NAME_cmp(X509_get_subject_name(x()), X509_get_issuer_name(x())) == 0;
}

Status Certificate::VerifySignature(const crypto::PublicKey& issuer_key) const {
  // X509_verify uses the SM2 ID attached at parse time.
  if (X509_verify(x(), issuer_key.evp()) != 1) {
    crypto::ClearOpenSslErrors();
    return Fail(ErrorCode::kCrypto, "certificate signature does not verify");
  }
  return Ok();
}

bool Certificate::operator==(const Certificate& other) const {
  return X509_cmp(x(), other.x()) == 0;
}

std::string ToPemBundle(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += c.Pem();
  return out;
}

}  // namespace autoseal::x509
