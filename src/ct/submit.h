#pragma once

// The CA side of CT: submitting a (pre)certificate chain to several logs at once and collecting
// verified SCTs (RFC 6962 §4.1, §4.2), and building the SCT list extension (§3.3). Thread-safe.

#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"
#include "ct/sct.h"

namespace autoseal::ct {

// A log to submit to: its URL prefix (no trailing slash) and its key, which every returned SCT
// must verify under.
struct LogEndpoint {
  std::string url;
  LogPublicKey key;
  std::string description;
};

// Reads a log's key from <url>/log.json (served by `autoseal ct serve`). Trust on first use:
// prefer pinning keys with a log list (ct/verifier.h). kNetwork / kParse on failure.
Result<LogEndpoint> FetchLogEndpoint(const std::string& url, std::chrono::milliseconds timeout);

struct SubmitOptions {
  int min_scts = 2;  // fewer valid SCTs than this fails the submission
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // for the whole round, all logs at once
};

// What each log said, for messages and logs.
struct SubmitResult {
  std::vector<SignedCertificateTimestamp> scts;  // valid ones, in the order of logs
  std::vector<std::string> failures;             // "<url>: <reason>"
};

// Submits chain (leaf or precertificate first, then its issuer, …) to every log concurrently,
// with add-pre-chain when precert, and keeps the SCTs that verify under each log's key over the
// entry the log was asked to include. Fails with kUnsupported (the CA turns it into a problem
// document) when fewer than options.min_scts came back in time, listing each log's failure.
Result<SubmitResult> SubmitToLogs(const std::vector<LogEndpoint>& logs, const std::vector<Bytes>& chain,
                                  bool precert, const SubmitOptions& options);

// The SignedEntry a log signs for this chain: x509_entry of chain[0], or for a precertificate
// precert_entry with SHA-256 of chain[1]'s key and the TBS without the poison extension.
Result<SignedEntry> EntryForChain(const std::vector<Bytes>& chain, bool precert);

// The DER Extension element carrying an SCT list (1.3.6.1.4.1.11129.2.4.2, non-critical): its
// extnValue is an OCTET STRING wrapping the TLS SignedCertificateTimestampList.
Bytes SctListExtension(const std::vector<SignedCertificateTimestamp>& scts);
// The DER Extension element of the precertificate poison (…2.4.3, critical, ASN.1 NULL).
Bytes PoisonExtension();

}  // namespace autoseal::ct
