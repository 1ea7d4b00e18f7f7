#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"
#include "x509/csr.h"
#include "x509/profile.h"

namespace autoseal::x509 {

// Everything that goes into a certificate; the profile fixes the extensions.
struct CertificateSpec {
  Profile profile = Profile::kTlsServer;
  std::optional<crypto::PublicKey> subject_key;
  // The subject key's SubjectPublicKeyInfo DER, when already at hand (a CSR carries it); it
  // must encode subject_key. Empty: encoded from subject_key.
  Bytes subject_public_key_info;
  std::string common_name;   // leaf: defaults to the first name; CA: required
  std::string organization;  // CA certificates only
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> email_addresses;
  TimePoint not_before;
  TimePoint not_after;         // inclusive (RFC 5280 §4.1.2.5)
  int path_length = -1;        // CA certificates; -1 = unlimited
  std::vector<std::string> crl_urls;  // cRLDistributionPoints, HTTP
  // Leaves only. The serial number (big-endian magnitude); empty: 20 fresh random bytes. A CT
  // precertificate and its final certificate share one (RFC 6962 §3.1).
  Bytes serial;
  // Leaves only. Whole DER Extension elements appended after the profile's, in order: the CT
  // poison (1.3.6.1.4.1.11129.2.4.3) or SCT list (…2.4.2) extension.
  std::vector<Bytes> extra_extensions;
};

// Options for turning a CSR into a spec.
struct IssueOptions {
  std::optional<int> days;  // validity; the profile's default when unset
  TimePoint now;
  std::vector<std::string> crl_urls;
  // The caller ran CheckRequest for this profile already (the CSR signature is the costliest
  // check; an ACME server checks before it marks the order processing).
  bool request_checked = false;
};

// Checks a CSR before anything is signed, stopping at the first problem with a specific error:
// self-signature (kCrypto), key type and size for the profile (kPolicy), and names
// (kInvalidArgument: A-labels only, wildcard only as the whole left-most label, no IP address as
// a DNS name, names of the wrong kind for the profile, none at all).
Status CheckRequest(const CertificateRequest& csr, Profile profile);

// Runs CheckRequest (unless options.request_checked) and builds the spec from the CSR's key and names. Validity: days (default per
// profile), refused beyond the profile's maximum.
Result<CertificateSpec> SpecFromRequest(const CertificateRequest& csr, Profile profile,
                                        const IssueOptions& options);

// Signs a certificate for spec with issuer_key (SM2: SM3 and the standard ID; RSA: SHA-256;
// ECDSA: the issuer curve's digest). issuer is the issuing CA certificate, or nullptr for a
// self-signed root (spec.profile must then be kRootCa and subject_key the issuer key's public
// part). Serial: 20 random bytes, positive. Checks the spec against the profile and the issuer
// (CA, key match, validity nested) and fails with a specific error. Leaf certificates are
// DER-encoded by x509/ itself (what is constant per issuer is computed once per issuer
// Certificate), CA certificates by OpenSSL; the returned Certificate answers its serial, validity,
// names and PEM/DER without parsing itself. Thread-safe.
Result<Certificate> IssueCertificate(const CertificateSpec& spec, const Certificate* issuer,
                                     const crypto::PrivateKey& issuer_key);

// A fresh certificate serial: 20 random bytes with the top bit clear and a non-zero first byte,
// so the DER INTEGER is positive and exactly 20 octets (RFC 5280 §4.1.2.2, CA/B BR §7.1).
Result<Bytes> NewSerialNumber();

}  // namespace autoseal::x509
