#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"

typedef struct X509_crl_st X509_CRL;

namespace autoseal::x509 {

// RFC 5280 §5.3.1 CRLReason codes (7 is unused, 8 removeFromCRL is not used by autoseal).
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};
std::string_view RevocationReasonName(RevocationReason reason);  // "keyCompromise", ...
// Accepts the RFC 5280 names (case-insensitive) or the numeric code.
Result<RevocationReason> ParseRevocationReason(std::string_view text);

struct RevokedCertificate {
  Bytes serial;
  TimePoint revocation_date;
  RevocationReason reason = RevocationReason::kUnspecified;
};

// A parsed or generated CRL. Immutable, cheap to copy.
class Crl {
 public:
  static Result<Crl> FromDer(ByteView der);
  static Result<Crl> FromPem(std::string_view pem);
  Bytes Der() const;
  std::string Pem() const;
  std::string Issuer() const;
  TimePoint ThisUpdate() const;
  TimePoint NextUpdate() const;
  std::optional<uint64_t> Number() const;
  std::vector<RevokedCertificate> Revoked() const;
  // Verifies the signature with the issuer's key (SM2 with the standard ID, which OpenSSL 3.0's
  // X509_CRL_verify cannot set).
  Status VerifySignature(const crypto::PublicKey& issuer_key) const;
  X509_CRL* raw() const { return crl_.get(); }

 private:
  explicit Crl(std::shared_ptr<X509_CRL> c) : crl_(std::move(c)) {}
  friend Result<Crl> CreateCrl(const Certificate&, const crypto::PrivateKey&,
                               const std::vector<RevokedCertificate>&, TimePoint, TimePoint, uint64_t);
  std::shared_ptr<X509_CRL> crl_;
};

// Builds and signs a v2 CRL (RFC 5280 §5) with authorityKeyIdentifier and cRLNumber; each entry
// carries its reasonCode unless unspecified. Thread-safe.
Result<Crl> CreateCrl(const Certificate& issuer, const crypto::PrivateKey& issuer_key,
                      const std::vector<RevokedCertificate>& revoked, TimePoint this_update,
                      TimePoint next_update, uint64_t crl_number);

}  // namespace autoseal::x509
