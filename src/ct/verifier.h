#pragma once

// Checks the SCTs embedded in a certificate (extension 1.3.6.1.4.1.11129.2.4.2, RFC 6962 §3.3)
// against a list of known logs, ECDSA and SM2 logs alike, and applies a policy: at least
// min_valid valid SCTs from distinct logs. Optionally fetches an inclusion proof from each log.
//
// Log list file (JSON; docs/ct.md "Log list"):
//   {"logs": [{"description": "autoseal ECDSA log", "url": "http://127.0.0.1:6962",
//              "key": "<base64 DER SubjectPublicKeyInfo>", "operator": "autoseal"}, ...]}
// The log ID is SHA-256 of the key, as in RFC 6962 §3.2.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "ct/sct.h"
#include "x509/certificate.h"

namespace autoseal::ct {

struct KnownLog {
  std::string description;
  std::string url;  // submission/monitoring prefix, no trailing slash
  std::string operator_name;
  LogPublicKey key;
};

// A set of known logs. Immutable; thread-safe.
class LogList {
 public:
  // Parses the JSON format above. kParse naming the bad entry.
  static Result<LogList> Parse(std::string_view json);
  static Result<LogList> Load(const std::string& path);
  const KnownLog* Find(const Hash& log_id) const;
  const std::vector<KnownLog>& logs() const { return logs_; }
  // Serialises back to the JSON format.
  std::string ToJson() const;
  void Add(KnownLog log) { logs_.push_back(std::move(log)); }

 private:
  std::vector<KnownLog> logs_;
};

struct SctPolicy {
  int min_valid = 2;  // valid SCTs from distinct logs
  bool online = false;  // fetch get-sth and get-proof-by-hash from each log and check inclusion
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct SctCheck {
  SignedCertificateTimestamp sct;
  std::string log;     // description, or base64 log ID when unknown
  std::string status;  // "valid", "invalid", "unknown log", "future timestamp"
  std::string inclusion;  // online only: "included in tree of size N", or the failure
};

struct SctReport {
  std::vector<SctCheck> scts;
  int valid_distinct_logs = 0;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Verifies the embedded SCTs of leaf (issued by issuer) at time now.
SctReport VerifyEmbeddedScts(const x509::Certificate& leaf, const x509::Certificate& issuer,
                             const LogList& logs, const SctPolicy& policy, TimePoint now);

// The embedded SCT list of a DER certificate; nullopt if it has none. kParse if malformed.
Result<std::optional<std::vector<SignedCertificateTimestamp>>> EmbeddedScts(ByteView cert_der);

// The SignedEntry an embedded SCT covers: precert_entry with the issuer's key hash and the TBS
// without the SCT list extension.
Result<SignedEntry> PrecertEntryFromFinal(ByteView cert_der, ByteView issuer_der);

}  // namespace autoseal::ct
