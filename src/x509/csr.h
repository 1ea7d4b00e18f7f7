#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/key.h"

namespace autoseal::x509 {

// A parsed PKCS#10 certificate signing request (RFC 2986), DER only, as received. Immutable, cheap
// to copy, thread-safe const methods. kParse from the parsers names what is malformed.
class CertificateRequest {
 public:
  static Result<CertificateRequest> FromDer(ByteView der);
  // Parses a "CERTIFICATE REQUEST" (or "NEW CERTIFICATE REQUEST") PEM block.
  static Result<CertificateRequest> FromPem(std::string_view pem);
  // PEM if it looks like PEM, else DER.
  static Result<CertificateRequest> Parse(std::string_view pem_or_der);

  Bytes Der() const;
  std::string Pem() const;

  std::string Subject() const;
  std::string CommonName() const;
  crypto::PublicKey PublicKey() const;
  // The SubjectPublicKeyInfo as received (DER), without re-encoding the key.
  Bytes SubjectPublicKeyInfoDer() const;
  std::string SignatureAlgorithm() const;
  // Names requested in the subjectAltName of the extensionRequest attribute.
  std::vector<std::string> DnsNames() const;
  std::vector<std::string> IpAddresses() const;
  std::vector<std::string> EmailAddresses() const;

  // Checks the self-signature (proof of possession; SM2 with the ID 1234567812345678). kCrypto
  // if it does not verify.
  Status VerifySignature() const;

 private:
  struct Parsed;
  explicit CertificateRequest(std::shared_ptr<const Parsed> p) : p_(std::move(p)) {}
  std::shared_ptr<const Parsed> p_;
};

// What goes into a new CSR.
struct CsrOptions {
  std::string common_name;  // optional
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> email_addresses;
};

// Builds and signs a CSR with key (SM2: SM3 + the standard ID). Names are validated first.
Result<CertificateRequest> CreateCertificateRequest(const crypto::PrivateKey& key,
                                                    const CsrOptions& options);

}  // namespace autoseal::x509
