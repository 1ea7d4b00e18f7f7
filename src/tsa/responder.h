#pragma once

// The RFC 3161 responder: TimeStampReq DER in, TimeStampResp DER out. Builds the TSTInfo and the
// CMS SignedData itself (DER with the constant parts precomputed at construction) and signs with
// crypto::Sign, so ECDSA, RSA and SM2 (SM3, ID 1234567812345678; OpenSSL 3.0's TS/CMS code cannot
// sign with SM2) share one code path. docs/tsa.md describes the exact encoding.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "crypto/prepared.h"
#include "tsa/clock_status.h"
#include "tsa/messages.h"
#include "tsa/serial.h"
#include "x509/certificate.h"

namespace autoseal::tsa {

// autoseal's default TSA policy: a UUID-derived OID (ITU-T X.667 arc 2.25), so no registration is
// needed. Operators with their own policy pass --policy.
inline constexpr std::string_view kDefaultPolicyOid = "2.25.284402370485225929707697603283588437172";

struct ResponderOptions {
  crypto::PrivateKey key;
  // The TSA certificate first (critical EKU timeStamping only), then its intermediates; all of
  // them go into a token whose request sets certReq.
  std::vector<x509::Certificate> chain;
  std::string policy_oid = std::string(kDefaultPolicyOid);
  // Further policies a request may ask for (reqPolicy); anything else is unacceptedPolicy.
  std::vector<std::string> other_policies;
  // TSTInfo accuracy in microseconds; 0 omits the field.
  int64_t accuracy_micros = 1000000;
  // Fraction digits of genTime (0..6).
  int precision_digits = 3;
  const Clock* clock = &SystemClock::Instance();
  // Required; must outlive the responder.
  SerialSource* serials = nullptr;
  // Optional; when set with require_synced_clock, an unsynchronised clock gives timeNotAvailable.
  const ClockStatusSource* clock_status = nullptr;
  bool require_synced_clock = false;
  // Imprint algorithms accepted; SHA-1 is always refused (CA/B CSBR §6.8).
  std::vector<crypto::DigestAlgorithm> accepted_digests = {
      crypto::DigestAlgorithm::kSha256, crypto::DigestAlgorithm::kSha384,
      crypto::DigestAlgorithm::kSha512, crypto::DigestAlgorithm::kSm3};
};

// Counters since construction.
struct ResponderStats {
  uint64_t granted = 0;
  uint64_t rejected = 0;
};

// Thread-safe: Respond may run on many threads at once.
class Responder {
 public:
  // Checks the options (key matches the certificate, which has the critical timeStamping EKU;
  // key type ECDSA, RSA or SM2; policy OIDs valid) and precomputes the constant DER.
  // kInvalidArgument / kPolicy naming the problem.
  static Result<std::unique_ptr<Responder>> Create(ResponderOptions options);

  // Answers one DER TimeStampReq with a DER TimeStampResp: a token (status granted), or a
  // rejection with the failInfo RFC 3161 names (badDataFormat, badAlg, unacceptedPolicy,
  // unacceptedExtension, timeNotAvailable, systemFailure). Never fails otherwise.
  Bytes Respond(ByteView request_der) const;

  ResponderStats Stats() const;
  const ResponderOptions& options() const { return options_; }
  crypto::DigestAlgorithm signer_digest() const { return signer_digest_; }

 private:
  explicit Responder(ResponderOptions options);
 public:
  ~Responder();

 private:
  Status Precompute();
  Bytes Reject(FailureInfo info, std::string_view text) const;

  ResponderOptions options_;
  std::shared_ptr<const crypto::PreparedSigner> signer_;
  crypto::DigestAlgorithm signer_digest_ = crypto::DigestAlgorithm::kSha256;
  std::vector<Bytes> accepted_policies_;  // OID contents
  Bytes policy_tlv_;
  Bytes accuracy_tlv_;
  Bytes digest_algorithm_;      // AlgorithmIdentifier
  Bytes signature_algorithm_;   // AlgorithmIdentifier
  Bytes signer_identifier_;     // IssuerAndSerialNumber
  Bytes content_type_attr_;     // Attribute contentType = id-ct-TSTInfo
  Bytes ess_attr_;              // Attribute signingCertificateV2
  Bytes message_digest_prefix_; // Attribute messageDigest up to the digest octets
  int attr_order_[3] = {0, 1, 2};  // DER SET OF order of {contentType, messageDigest, ess}
  Bytes certificates_;          // [0] IMPLICIT SET OF Certificate
  Bytes digest_algorithms_set_; // SET { digestAlgorithm }
  mutable std::atomic<uint64_t> granted_{0};
  mutable std::atomic<uint64_t> rejected_{0};
};

}  // namespace autoseal::tsa
