#pragma once

// Submission checking for add-chain / add-pre-chain (RFC 6962 §3.1, §4.1, §4.2) at the DER level:
// issuer certificates (intermediates and roots) and their decoded keys are cached by the SHA-256
// of their DER, and a leaf's signature is checked over its TBSCertificate bytes with the cached
// issuer key, without decoding the leaf's own public key (OpenSSL 3.0 spends ~150 µs per key
// decode). Thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "crypto/prepared.h"
#include "ct/merkle.h"
#include "ct/sct.h"
#include "x509/certificate.h"

namespace autoseal::ct {

// Limits on what a submission may contain (every input is bounded).
inline constexpr size_t kMaxChainLength = 10;
inline constexpr size_t kMaxCertificateBytes = 64 * 1024;

// Parses an add-chain / add-pre-chain body: {"chain": [base64 DER, ...]}. kParse naming what is
// wrong (not JSON, no chain, empty chain, a non-string or bad base64 element, too many or too
// large certificates).
Result<std::vector<Bytes>> ParseAddChainRequest(std::string_view body);

namespace internal {
// The two halves of ParseAddChainRequest, public for the fuzzer, which checks that they agree:
// a strict scan of the usual form {"chain":["<base64>",...]} (nullopt for anything else, errors
// included), and the general Boost.JSON parser that decides everything the scan leaves.
std::optional<std::vector<Bytes>> ScanAddChainRequest(std::string_view body);
Result<std::vector<Bytes>> ParseAddChainRequestJson(std::string_view body);
}  // namespace internal

// A submission that passed every check: what goes into the log.
struct AcceptedChain {
  SignedEntry entry;          // what the SCT and the leaf cover
  Bytes precertificate;       // precert_entry: the precertificate DER (extra_data)
  std::vector<Hash> issuers;  // SHA-256 fingerprints of the chain after the leaf, root last
  std::vector<std::shared_ptr<const Bytes>>
      issuer_ders;  // the DER of each, same order (shared with the cache)
  Hash identity{};  // SHA-256(entry type || signed entry): the duplicate key
};

struct ChainPolicy {
  bool reject_expired = false;        // refuse leaves whose notAfter has passed
  bool reject_not_yet_valid = false;  // refuse leaves whose notBefore is in the future
};

class ChainValidator {
 public:
  // roots: the accepted roots (get-roots returns them in this order).
  ChainValidator(std::vector<x509::Certificate> roots, ChainPolicy policy = {});

  const std::vector<x509::Certificate>& roots() const { return roots_; }

  // Checks chain (leaf first; the root may be omitted) for add-chain (precert false) or
  // add-pre-chain (true): every certificate parses, each is signed by the next, the last leads
  // to an accepted root, intermediates are CAs; a precertificate carries the critical poison
  // extension and a certificate must not; a Precertificate Signing Certificate (EKU
  // 1.3.6.1.4.1.11129.2.4.4) is honoured as RFC 6962 §3.1 describes. kPolicy / kParse /
  // kCrypto with a message fit for the submitter.
  Result<AcceptedChain> Validate(const std::vector<Bytes>& chain, bool precert,
                                 TimePoint now) const;

  // Cached issuers (tests and metrics).
  size_t CachedIssuers() const;

 private:
  struct Issuer {
    std::shared_ptr<const Bytes> der;
    Hash fingerprint{};
    crypto::PublicKey key;
    Bytes subject;        // whole Name element
    Bytes spki;           // whole SubjectPublicKeyInfo element
    Bytes aki_extension;  // whole AKI Extension element, or empty
    bool precert_signing = false;
    std::shared_ptr<const Issuer> parent;  // null for a root
    // This issuer and those above it up to the root: fingerprints and DER (AcceptedChain's).
    std::vector<Hash> path_fingerprints;
    std::vector<std::shared_ptr<const Bytes>> path_ders;
    // Verifies what this issuer signs with its usual digest, without re-initialising OpenSSL.
    std::shared_ptr<const crypto::PreparedVerifier> verifier;
    Status VerifyChild(ByteView tbs, ByteView signature, crypto::DigestAlgorithm digest) const;
  };
  Result<std::shared_ptr<const Issuer>> IssuerFor(const std::vector<Bytes>& chain, size_t index,
                                                  ByteView expected_subject, int depth) const;
  std::shared_ptr<const Issuer> Lookup(ByteView der) const;
  void Cache(const std::shared_ptr<const Issuer>& issuer) const;  // holds mu_ exclusively

  std::vector<x509::Certificate> roots_;
  ChainPolicy policy_;
  std::unordered_map<std::string, std::shared_ptr<const Issuer>> roots_by_subject_;
  mutable std::shared_mutex mu_;
  // By the certificate's DER (views into Issuer::der): a submission's intermediates are found
  // without hashing them.
  mutable std::unordered_map<std::string_view, std::shared_ptr<const Issuer>> cache_;
};

}  // namespace autoseal::ct
