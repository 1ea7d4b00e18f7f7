#include "x509/issue.h"

#include <openssl/x509v3.h>

#include "crypto/digest.h"
#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "x509/internal/der.h"
#include "x509/internal/extensions.h"
#include "x509/internal/issuance.h"
#include "x509/internal/openssl_util.h"
#include "x509/names.h"

namespace autoseal::x509 {

using crypto::KeyFamily;
using crypto::OpenSslError;

namespace {

constexpr int64_t kDay = 86400;

bool IsCaProfile(Profile p) { return p == Profile::kRootCa || p == Profile::kIntermediateCa; }

Status CheckNamesForProfile(Profile profile, const std::vector<std::string>& dns,
                            const std::vector<std::string>& ips,
                            const std::vector<std::string>& emails) {
  for (const auto& d : dns) TRY(ValidateDnsName(d, true));
  for (const auto& ip : ips) TRY(ParseIpAddress(ip));
  for (const auto& e : emails) TRY(ValidateEmailAddress(e));
  const std::string name(ProfileName(profile));
  switch (profile) {
    case Profile::kTlsServer:
      if (dns.empty() && ips.empty())
        return Fail(ErrorCode::kInvalidArgument, "a tls-server certificate needs at least one DNS name or IP address");
      if (!emails.empty())
        return Fail(ErrorCode::kInvalidArgument, "email addresses are not allowed in a tls-server certificate");
      break;
    case Profile::kSmime:
      if (emails.empty())
        return Fail(ErrorCode::kInvalidArgument, "an smime certificate needs at least one email address");
      if (!dns.empty() || !ips.empty())
        return Fail(ErrorCode::kInvalidArgument, "DNS names and IP addresses are not allowed in an smime certificate");
      break;
    case Profile::kTlcpEncryption:
      if (!emails.empty())
        return Fail(ErrorCode::kInvalidArgument, "email addresses are not allowed in a tlcp-enc certificate");
      break;
    case Profile::kTimeStamping:
    case Profile::kRootCa:
    case Profile::kIntermediateCa:
      if (!dns.empty() || !ips.empty() || !emails.empty())
        return Fail(ErrorCode::kInvalidArgument, "subject alternative names are not allowed in a " + name + " certificate");
      break;
  }
  return Ok();
}

Status AddExtension(X509* x, crypto::X509ExtensionPtr ext) {
  if (X509_add_ext(x, ext.get(), -1) != 1) return Fail(OpenSslError("cannot add extension"));
  return Ok();
}

Status SetTime(ASN1_TIME* field, TimePoint t) {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; ASN1_TIME_set does this.
  if (ASN1_TIME_set(field, static_cast<time_t>(ToUnixSeconds(t))) == nullptr)
    return Fail(OpenSslError("cannot set certificate time"));
  return Ok();
}

Status AddNameEntry(X509_NAME* name, int nid, const std::string& value) {
  if (value.empty()) return Ok();
  if (value.size() > 64)
    return Fail(ErrorCode::kInvalidArgument, "subject attribute longer than 64 characters: " + value);
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) != 1)
    return Fail(OpenSslError("invalid subject attribute", ErrorCode::kInvalidArgument));
  return Ok();
}

// Whether the DER encoder writes this common name exactly as X509_NAME_add_entry_by_NID with
// MBSTRING_UTF8 would: printable ASCII and controls other than NUL (which OpenSSL would cut at).
bool EncodableCommonName(std::string_view cn) {
  for (unsigned char c : cn)
    if (c == 0 || c >= 0x80) return false;
  return true;
}

// The RFC 2253 text NameToString prints for a subject holding only this CN, when no character
// needs escaping; nullopt otherwise (the Certificate then asks OpenSSL).
std::optional<std::string> PlainSubjectText(std::string_view cn) {
  if (cn.empty()) return std::string();
  for (unsigned char c : cn) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '*' || c == '@' || c == '_';
    if (!plain) return std::nullopt;
  }
  return "CN=" + std::string(cn);
}

}  // namespace

Result<Bytes> NewSerialNumber() {
  Bytes serial = TRY(crypto::RandomBytes(20));
  serial[0] = static_cast<uint8_t>((serial[0] & 0x7f) | 0x01);
  return serial;
}

Status CheckRequest(const CertificateRequest& csr, Profile profile) {
  if (IsCaProfile(profile))
    return Fail(ErrorCode::kInvalidArgument, "CA certificates are not issued from requests");
  TRY(csr.VerifySignature());
  TRY(CheckKeyForProfile(csr.PublicKey(), profile));
  auto dns = csr.DnsNames(), ips = csr.IpAddresses(), emails = csr.EmailAddresses();
  TRY(CheckNamesForProfile(profile, dns, ips, emails));
  // A subject common name must be one of the requested names (TLS BR §7.1.4.3, S/MIME BR).
  std::string cn = csr.CommonName();
  if (!cn.empty() && profile != Profile::kTimeStamping) {
    bool listed = false;
    for (const auto* list : {&dns, &ips, &emails})
      for (const auto& n : *list) listed = listed || n == cn;
    if (!listed)
      return Fail(ErrorCode::kInvalidArgument,
                  "the CSR's common name '" + cn + "' is not among its subject alternative names");
  }
  return Ok();
}

Result<CertificateSpec> SpecFromRequest(const CertificateRequest& csr, Profile profile,
                                        const IssueOptions& options) {
  if (!options.request_checked) TRY(CheckRequest(csr, profile));
  ProfileLimits limits = LimitsFor(profile);
  int days = options.days.value_or(limits.default_days);
  if (days < 1 || days > limits.max_days)
    return Fail(ErrorCode::kPolicy, "validity of " + std::to_string(days) + " days is outside 1.." +
                                        std::to_string(limits.max_days) + " for the " +
                                        std::string(ProfileName(profile)) + " profile");
  CertificateSpec spec;
  spec.profile = profile;
  spec.subject_key = csr.PublicKey();
  spec.subject_public_key_info = csr.SubjectPublicKeyInfoDer();
  spec.common_name = csr.CommonName();
  spec.dns_names = csr.DnsNames();
  spec.ip_addresses = csr.IpAddresses();
  spec.email_addresses = csr.EmailAddresses();
  spec.not_before = std::chrono::floor<std::chrono::seconds>(options.now);
  spec.not_after = spec.not_before + std::chrono::seconds(days * kDay - 1);
  spec.crl_urls = options.crl_urls;
  return spec;
}

Result<Certificate> IssueCertificate(const CertificateSpec& spec, const Certificate* issuer,
                                     const crypto::PrivateKey& issuer_key) {
  return internal::IssueCertificateWith(spec, issuer, issuer_key, {});
}

Result<Certificate> internal::IssueCertificateWith(const CertificateSpec& spec,
                                                   const Certificate* issuer,
                                                   const crypto::PrivateKey& issuer_key,
                                                   const IssueControl& control) {
  using Encoder = IssueControl::Encoder;
  if (!spec.subject_key) return Fail(ErrorCode::kInvalidArgument, "no subject key");
  const crypto::PublicKey& subject_key = *spec.subject_key;
  const Profile profile = spec.profile;
  // Certificates carry whole seconds; compare and encode what will actually be written.
  const TimePoint not_before = std::chrono::floor<std::chrono::seconds>(spec.not_before);
  const TimePoint not_after = std::chrono::floor<std::chrono::seconds>(spec.not_after);
  const bool is_ca = IsCaProfile(profile);

  // Checks against the profile and the issuer, before signing anything. The key type comes from
  // the SubjectPublicKeyInfo when it is at hand (asking OpenSSL about an EVP_PKEY costs several
  // provider calls); the same rules apply either way.
  std::optional<crypto::KeyType> subject_type;
  if (!spec.subject_public_key_info.empty())
    subject_type = der::ClassifySubjectPublicKeyInfo(spec.subject_public_key_info);
  if (subject_type)
    TRY(CheckKeyTypeForProfile(*subject_type, profile));
  else
    TRY(CheckKeyForProfile(subject_key, profile));
  TRY(CheckNamesForProfile(profile, spec.dns_names, spec.ip_addresses, spec.email_addresses));
  if (not_after <= not_before)
    return Fail(ErrorCode::kInvalidArgument, "notAfter is not after notBefore");
  auto seconds = ToUnixSeconds(not_after) - ToUnixSeconds(not_before) + 1;
  if (seconds > static_cast<int64_t>(LimitsFor(profile).max_days) * kDay)
    return Fail(ErrorCode::kPolicy, "validity exceeds " + std::to_string(LimitsFor(profile).max_days) +
                                        " days, the maximum for the " + std::string(ProfileName(profile)) + " profile");
  if (is_ca && spec.common_name.empty())
    return Fail(ErrorCode::kInvalidArgument, "a CA certificate needs a common name");
  const IssuerInfo* info = nullptr;
  if (issuer == nullptr) {
    if (profile != Profile::kRootCa)
      return Fail(ErrorCode::kInvalidArgument, "only a root CA certificate is self-signed");
    if (!issuer_key.Equals(subject_key))
      return Fail(ErrorCode::kInvalidArgument, "a self-signed root must be signed by its own key");
  } else {
    if (profile == Profile::kRootCa)
      return Fail(ErrorCode::kInvalidArgument, "a root CA certificate must be self-signed");
    info = &CertificateAccess::IssuerInfoOf(*issuer);
    if (!info->may_sign_certificates)
      return Fail(ErrorCode::kPolicy, "the issuer is not a CA allowed to sign certificates");
    if (!info->KeyMatches(issuer_key))
      return Fail(ErrorCode::kInvalidArgument, "the issuer key does not match the issuer certificate");
    if (not_after > info->not_after)
      return Fail(ErrorCode::kPolicy, "the certificate would outlive its issuer (issuer expires " +
                                          FormatRfc3339(info->not_after) + ")");
  }

  std::string cn = spec.common_name;
  if (cn.empty() && !is_ca) {
    const auto* first = !spec.dns_names.empty()         ? &spec.dns_names
                        : !spec.email_addresses.empty() ? &spec.email_addresses
                        : !spec.ip_addresses.empty()    ? &spec.ip_addresses
                                                        : nullptr;
    if (first && first->front().size() <= 64) cn = first->front();
  }
  Bytes serial;
  if (control.serial)
    serial = *control.serial;
  else if (!spec.serial.empty() && !is_ca)
    serial = spec.serial;
  else
    serial = TRY(NewSerialNumber());

  // Leaf certificates: encoded here (see x509/internal/issuance.h).
  const bool der_encodable = !is_ca && info != nullptr && !info->signature_algorithm.empty() &&
                             subject_type.has_value() && EncodableCommonName(cn);
  if (control.encoder == Encoder::kDer && !der_encodable)
    return Fail(ErrorCode::kUnsupported, "the DER encoder cannot issue this certificate");
  if (der_encodable && control.encoder != Encoder::kOpenSsl) {
    if (cn.size() > 64)  // as AddNameEntry (RFC 5280 ub-common-name)
      return Fail(ErrorCode::kInvalidArgument,
                  "subject attribute longer than 64 characters: " + cn);
    if (cn.empty() && spec.dns_names.empty() && spec.ip_addresses.empty() &&
        spec.email_addresses.empty())
      return Fail(ErrorCode::kInvalidArgument,
                  "the certificate would have neither a subject nor names");
    IssuedFields fields;
    std::vector<Bytes> ip_bytes;
    ip_bytes.reserve(spec.ip_addresses.size());
    fields.ip_addresses.reserve(spec.ip_addresses.size());
    for (const auto& ip : spec.ip_addresses) {
      ip_bytes.push_back(TRY(ParseIpAddress(ip)));
      fields.ip_addresses.push_back(FormatIpAddress(ip_bytes.back()));
    }
    LeafTemplate leaf;
    leaf.profile = profile;
    leaf.serial = serial;
    leaf.common_name = cn;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    leaf.subject_public_key_info = spec.subject_public_key_info;
    leaf.key_usage = KeyUsageFor(profile, crypto::FamilyOf(*subject_type));
    leaf.dns_names = &spec.dns_names;
    leaf.ip_addresses = &ip_bytes;
    leaf.email_addresses = &spec.email_addresses;
    leaf.crl_urls = &spec.crl_urls;
    leaf.extra_extensions = &spec.extra_extensions;
    Bytes der = TRY(EncodeLeafCertificate(leaf, *info, issuer_key));
    fields.serial = std::move(serial);
    fields.not_before = not_before;
    fields.not_after = not_after;
    fields.subject = PlainSubjectText(cn);
    fields.common_name = std::move(cn);
    fields.dns_names = spec.dns_names;
    fields.email_addresses = spec.email_addresses;
    return CertificateAccess::AdoptEncoded(std::move(der), subject_key, std::move(fields));
  }

  crypto::X509Ptr x(X509_new());
  if (!x) return Fail(OpenSslError("X509_new"));
  X509* cert = x.get();
  if (X509_set_version(cert, X509_VERSION_3) != 1) return Fail(OpenSslError("X509_set_version"));

  crypto::BignumPtr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    return Fail(OpenSslError("cannot set serial number"));

  X509_NAME* subject = X509_get_subject_name(cert);
  if (is_ca) TRY(AddNameEntry(subject, NID_organizationName, spec.organization));
  TRY(AddNameEntry(subject, NID_commonName, cn));
  if (X509_NAME_entry_count(subject) == 0 && spec.dns_names.empty() && spec.ip_addresses.empty() &&
      spec.email_addresses.empty())
    return Fail(ErrorCode::kInvalidArgument, "the certificate would have neither a subject nor names");
  X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer->raw()) : subject;
  if (X509_set_issuer_name(cert, issuer_name) != 1) return Fail(OpenSslError("cannot set issuer"));

  TRY(SetTime(X509_getm_notBefore(cert), not_before));
  TRY(SetTime(X509_getm_notAfter(cert), not_after));
  TRY(internal::SetSubjectPublicKeyInfo(cert, spec.subject_public_key_info.empty()
                                                   ? subject_key.PublicKeyDer()
                                                   : spec.subject_public_key_info));

  // Extensions (RFC 5280 §4.2; CA/B Forum profiles).
  if (is_ca) {
    TRY(AddExtension(cert, internal::MakeBasicConstraints(true, profile == Profile::kIntermediateCa ? std::max(spec.path_length, 0) : spec.path_length, true)));
  } else {
    TRY(AddExtension(cert, internal::MakeBasicConstraints(false, -1, true)));
  }
  TRY(AddExtension(cert, internal::MakeKeyUsage(KeyUsageFor(profile, subject_key), true)));
  switch (profile) {
    case Profile::kTlsServer:
      TRY(AddExtension(cert, internal::MakeExtKeyUsage({NID_server_auth}, false)));
      break;
    case Profile::kSmime:
      TRY(AddExtension(cert, internal::MakeExtKeyUsage({NID_email_protect}, false)));
      break;
    case Profile::kTimeStamping:
      // RFC 3161 §2.3: "This extension MUST be critical."
      TRY(AddExtension(cert, internal::MakeExtKeyUsage({NID_time_stamp}, true)));
      break;
    default:
      break;
  }
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty() || !spec.email_addresses.empty()) {
    // RFC 5280 §4.2.1.6: critical when the subject is empty.
    bool critical = X509_NAME_entry_count(subject) == 0;
    TRY(AddExtension(cert, TRY(internal::MakeSubjectAltName(spec.dns_names, spec.ip_addresses,
                                                            spec.email_addresses, critical))));
  }
  if (is_ca) TRY(AddExtension(cert, internal::MakeSubjectKeyId(internal::KeyIdentifier(subject_key))));
  if (issuer != nullptr) {
    Bytes akid = issuer->SubjectKeyId();
    if (akid.empty()) akid = internal::KeyIdentifier(issuer_key);
    TRY(AddExtension(cert, internal::MakeAuthorityKeyId(akid)));
  }
  if (profile == Profile::kTlsServer)
    TRY(AddExtension(cert, internal::MakeCertificatePolicies({std::string(kPolicyDomainValidated)})));
  if (profile == Profile::kSmime)
    TRY(AddExtension(cert, internal::MakeCertificatePolicies({std::string(kPolicyMailboxValidatedStrict)})));
  if (!spec.crl_urls.empty() && profile != Profile::kRootCa)
    TRY(AddExtension(cert, internal::MakeCrlDistributionPoints(spec.crl_urls)));
  for (const auto& der : is_ca ? std::vector<Bytes>() : spec.extra_extensions) {
    const unsigned char* p = der.data();
    crypto::X509ExtensionPtr ext(d2i_X509_EXTENSION(nullptr, &p, static_cast<long>(der.size())));
    if (!ext || p != der.data() + der.size())
      return Fail(ErrorCode::kInvalidArgument, "an extra extension is not one DER Extension");
    TRY(AddExtension(cert, std::move(ext)));
  }

  auto ctx = TRY(crypto::NewSignContext(issuer_key));
  if (X509_sign_ctx(cert, ctx.md_ctx.get()) <= 0) return Fail(OpenSslError("cannot sign certificate"));
  return CertificateAccess::AdoptIssued(x.release(), subject_key);
}

}  // namespace autoseal::x509
