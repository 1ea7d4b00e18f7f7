#pragma once

// Private to x509/ (and its tests): the parts of issuance that IssueCertificate shares with the
// Certificate class, and the encoder of leaf certificates.
//
// Leaf certificates are encoded here directly as DER (RFC 5280 §4.1) rather than through
// OpenSSL's X509 structure, whose encoding, extension handling and re-parsing cost more than an
// ECDSA P-256 signature. What is constant per issuing CA (its Name, the authorityKeyIdentifier
// extension, the signature AlgorithmIdentifier) is computed once per issuer Certificate.

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "x509/certificate.h"
#include "x509/issue.h"

namespace autoseal::x509::internal {

// What issuing under one CA certificate needs from it, computed once (IssuerInfoOf).
// Immutable but for the remembered key match; thread-safe.
struct IssuerInfo {
  bool may_sign_certificates = false;  // CA with keyCertSign
  TimePoint not_after;
  std::optional<crypto::PublicKey> public_key;
  Bytes name_der;                    // the issuer's subject Name, as encoded in its certificate
  Bytes authority_key_id_extension;  // the whole Extension (RFC 5280 §4.2.1.1), non-critical
  // The signature AlgorithmIdentifier for the issuer's key; empty when the encoder does not know
  // the key's algorithm (issuance then goes through OpenSSL).
  Bytes signature_algorithm;
  crypto::KeyFamily family = crypto::KeyFamily::kRsa;
  crypto::DigestAlgorithm digest = crypto::DigestAlgorithm::kSha256;

  // Whether key is this issuer's key (EVP_PKEY_eq). Remembers the last key that matched, by
  // reference, so that issuing repeatedly with one key compares it once.
  bool KeyMatches(const crypto::PrivateKey& key) const;

 private:
  mutable std::mutex mu_;
  mutable std::optional<crypto::PublicKey> matched_;  // holds a reference on the EVP_PKEY
};

// Computes the IssuerInfo of a certificate (used once per Certificate, see IssuerInfoOf).
std::unique_ptr<IssuerInfo> MakeIssuerInfo(const Certificate& issuer);

// What a certificate encoded here answers without parsing its DER.
struct IssuedFields {
  Bytes serial;
  TimePoint not_before;
  TimePoint not_after;
  std::string common_name;
  std::optional<std::string> subject;  // RFC 2253 text when it needs no escaping
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // as FormatIpAddress prints them
  std::vector<std::string> email_addresses;
};

// Reaches Certificate's private constructors for x509/ code.
struct CertificateAccess {
  static Result<Certificate> AdoptIssued(X509* owned, crypto::PublicKey key) {
    return Certificate::AdoptIssued(owned, std::move(key));
  }
  // A certificate from DER this process just encoded and signed; parsed on first need.
  static Certificate AdoptEncoded(Bytes der, crypto::PublicKey key, IssuedFields fields);
  // The issuer view of a CA certificate, computed on first use. Thread-safe.
  static const IssuerInfo& IssuerInfoOf(const Certificate& issuer);
};

// How IssueCertificateWith builds the certificate. Tests pin the serial and force either path
// to compare them.
struct IssueControl {
  enum class Encoder { kAuto, kOpenSsl, kDer } encoder = Encoder::kAuto;
  std::optional<Bytes> serial;  // 20 fresh random bytes when unset
};

// IssueCertificate with control over the encoder. kDer fails with kUnsupported when the DER
// encoder cannot take the spec (CA profiles, self-signed, unknown key algorithms, non-ASCII
// subject).
Result<Certificate> IssueCertificateWith(const CertificateSpec& spec, const Certificate* issuer,
                                         const crypto::PrivateKey& issuer_key,
                                         const IssueControl& control);

// The leaf's fields as the DER encoder takes them, after every check has passed.
struct LeafTemplate {
  Profile profile = Profile::kTlsServer;
  ByteView serial;
  std::string_view common_name;  // ASCII (0x01-0x7f) or empty
  TimePoint not_before;
  TimePoint not_after;
  ByteView subject_public_key_info;
  uint32_t key_usage = 0;
  const std::vector<std::string>* dns_names = nullptr;
  const std::vector<Bytes>* ip_addresses = nullptr;  // 4 or 16 octets each
  const std::vector<std::string>* email_addresses = nullptr;
  const std::vector<std::string>* crl_urls = nullptr;
  const std::vector<Bytes>* extra_extensions = nullptr;  // whole Extension elements, appended
};

// Encodes the TBSCertificate of a leaf under issuer, signs it with key (which must be the
// issuer's) and returns the Certificate DER. kCrypto if signing fails.
Result<Bytes> EncodeLeafCertificate(const LeafTemplate& leaf, const IssuerInfo& issuer,
                                    const crypto::PrivateKey& key);

// PEM "CERTIFICATE" text of DER, as PEM_write_bio_X509 writes it (64-column base64).
std::string CertificatePem(ByteView der);

}  // namespace autoseal::x509::internal
