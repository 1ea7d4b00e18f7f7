#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"

typedef struct x509_st X509;

namespace autoseal::x509 {

namespace internal {
struct CertificateAccess;
}

// keyUsage bits (RFC 5280 §4.2.1.3), as a bit set.
enum KeyUsage : uint32_t {
  kDigitalSignature = 1u << 0,
  kNonRepudiation = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
  kEncipherOnly = 1u << 7,
  kDecipherOnly = 1u << 8,
};
// "digitalSignature, keyEncipherment" for the bits set.
std::string KeyUsageNames(uint32_t bits);

// Extended key usage purposes autoseal issues (RFC 5280 §4.2.1.12 short names).
inline constexpr std::string_view kEkuServerAuth = "serverAuth";
inline constexpr std::string_view kEkuClientAuth = "clientAuth";
inline constexpr std::string_view kEkuEmailProtection = "emailProtection";
inline constexpr std::string_view kEkuTimeStamping = "timeStamping";

// A parsed X.509 certificate. Immutable and cheap to copy (copies share the parsed object);
// const methods are thread-safe. Certificates signed with SM2 carry the SM2 ID for verification.
class Certificate {
 public:
  // Parses one DER certificate; trailing bytes are an error. kParse with OpenSSL's reason.
  static Result<Certificate> FromDer(ByteView der);
  // Parses exactly one PEM "CERTIFICATE" block (the first one if several).
  static Result<Certificate> FromPem(std::string_view pem);
  // Parses every certificate in a PEM bundle, or a single DER certificate. kParse if none.
  static Result<std::vector<Certificate>> ParseAll(std::string_view pem_or_der);
  // Takes a reference on x (not ownership).
  static Result<Certificate> FromX509(X509* x);

  Bytes Der() const;
  std::string Pem() const;

  std::string Subject() const;  // RFC 2253 form, e.g. "CN=example.com,O=autoseal"
  std::string Issuer() const;
  std::string CommonName() const;  // first CN of the subject, or ""
  Bytes Serial() const;            // big-endian magnitude
  std::string SerialHex() const;   // lower-case hex, no separators
  TimePoint NotBefore() const;
  TimePoint NotAfter() const;
  crypto::PublicKey PublicKey() const;
  std::string SignatureAlgorithm() const;  // "ecdsa-with-SHA256", "SM2-with-SM3", ...

  std::vector<std::string> DnsNames() const;
  std::vector<std::string> IpAddresses() const;
  std::vector<std::string> EmailAddresses() const;

  std::optional<uint32_t> KeyUsageBits() const;  // nullopt when the extension is absent
  bool KeyUsageCritical() const;
  std::vector<std::string> ExtendedKeyUsages() const;  // short names, or dotted OIDs if unknown
  bool ExtendedKeyUsageCritical() const;
  bool IsCa() const;
  std::optional<int> PathLength() const;
  std::vector<std::string> PolicyOids() const;
  std::vector<std::string> CrlDistributionPoints() const;
  Bytes SubjectKeyId() const;
  Bytes AuthorityKeyId() const;
  bool HasExtension(std::string_view dotted_oid) const;
  // Dotted OIDs of critical extensions OpenSSL does not recognise (RFC 5280 §4.2: must reject).
  bool HasUnhandledCriticalExtension() const;
  bool IsSelfIssued() const;

  // Checks this certificate's signature with the issuer's key (SM2 with the standard ID).
  Status VerifySignature(const crypto::PublicKey& issuer_key) const;

  bool operator==(const Certificate& other) const;

  // The OpenSSL object, fully decoded (its public key included), for OpenSSL-facing code in
  // x509/, tlcp/ and net/. Borrowed: valid while this Certificate (or a copy) lives.
  X509* raw() const;

 private:
  friend struct internal::CertificateAccess;  // issuance (x509/internal/issuance.h)
  struct State;
  static Result<Certificate> Adopt(X509* owned);
  // A certificate this process just signed: x carries the subject key as encoded bits only
  // (OpenSSL 3.0 decodes a public key through its provider decoders, ~150 µs), and key is the
  // already-decoded key. raw() decodes once, on first use.
  static Result<Certificate> AdoptIssued(X509* owned, crypto::PublicKey key);
  explicit Certificate(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  X509* x() const;  // parsed object (on first use when encoded here); its public key may be
                    // undecoded (see AdoptIssued)
  std::shared_ptr<const State> state_;
};

// The PEM bundle of certificates, in order.
std::string ToPemBundle(const std::vector<Certificate>& certs);

}  // namespace autoseal::x509
