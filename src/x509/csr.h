#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/key.h"

typedef struct X509_req_st X509_REQ;

namespace autoseal::x509 {

// A parsed PKCS#10 certificate signing request. Immutable, cheap to copy, thread-safe const
// methods. SM2-signed requests carry the SM2 ID for verification.
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

  // Checks the self-signature (proof of possession). kCrypto if it does not verify.
  Status VerifySignature() const;

  X509_REQ* raw() const { return req_.get(); }

 private:
  static Result<CertificateRequest> Adopt(X509_REQ* owned);
  explicit CertificateRequest(std::shared_ptr<X509_REQ> r) : req_(std::move(r)) {}
  std::shared_ptr<X509_REQ> req_;
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
