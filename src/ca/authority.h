#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"
#include "x509/crl.h"
#include "x509/csr.h"
#include "x509/profile.h"

namespace autoseal::store {
class Database;
}
namespace autoseal::ct {
struct LogEndpoint;
}

namespace autoseal::ca {

// The CA's three hierarchies: ECDSA P-384 root → P-256 intermediate, RSA-4096 → RSA-2048,
// SM2 → SM2.
enum class Hierarchy { kEcc, kRsa, kSm2 };

std::string_view HierarchyName(Hierarchy h);  // "ecc", "rsa", "sm2"
Result<Hierarchy> ParseHierarchy(std::string_view name);
// The hierarchy that issues for a subject key: ECDSA and Ed25519 → ecc, RSA → rsa, SM2 → sm2.
Hierarchy HierarchyFor(const crypto::PublicKey& key);
inline constexpr Hierarchy kAllHierarchies[] = {Hierarchy::kEcc, Hierarchy::kRsa, Hierarchy::kSm2};

// What `Init` found or made, per hierarchy, for the CLI summary.
struct InitReport {
  struct Entry {
    Hierarchy hierarchy;
    bool created;  // false when everything already existed
    x509::Certificate root;
    x509::Certificate intermediate;
    std::optional<x509::Certificate> cross;  // the intermediate cross-signed by another root
  };
  std::vector<Entry> hierarchies;
};

// Status of an issued certificate in the store.
enum class CertificateStatus { kValid, kRevoked };

// A row of the store's certificate table.
struct CertificateRecord {
  std::string serial_hex;
  Hierarchy hierarchy;
  x509::Profile profile;
  std::string subject;
  std::vector<std::string> names;
  TimePoint not_before, not_after, issued_at;
  std::string pem;  // the leaf alone
  CertificateStatus status;
  std::optional<TimePoint> revoked_at;
  std::optional<x509::RevocationReason> reason;
};

// The result of an issuance: the chain, leaf first, then the intermediate.
struct IssuedCertificate {
  x509::Certificate leaf;
  std::vector<x509::Certificate> chain;  // leaf, intermediate
  Hierarchy hierarchy;
  std::string ChainPem() const;
};

// A Certificate Transparency log the CA submits to (RFC 6962 §4.1, §4.2).
struct CtLogConfig {
  std::string url;  // e.g. "http://127.0.0.1:6962"
  // DER SubjectPublicKeyInfo of the log key, which every SCT must verify under. Empty: read
  // from <url>/log.json when the CA is opened (trust on first use; docs/ct.md).
  Bytes key;
};

// Options for opening a CA.
struct CaOptions {
  const Clock* clock = &SystemClock::Instance();
  // When set, issued leaves and intermediates carry cRLDistributionPoints
  // "<crl_base_url>/crl/<hierarchy>.crl" (served by `autoseal ca serve`).
  std::string crl_base_url;
  // Certificate Transparency for TLS server certificates (RFC 6962 §3.1): with logs set, Issue()
  // signs a precertificate (critical poison extension), submits it to every log at once, and
  // fails (kUnsupported, naming each log's problem) unless at least ct_min_scts valid SCTs came
  // back within ct_timeout; it then embeds them (extension 1.3.6.1.4.1.11129.2.4.2) in the
  // certificate, records it, and submits the final certificate to the logs too.
  std::vector<CtLogConfig> ct_logs;
  int ct_min_scts = 2;
  std::chrono::milliseconds ct_timeout{std::chrono::seconds(5)};
};

// A certificate authority over a data directory:
//   <dir>/ca/<hierarchy>/{root,intermediate}.{key,pem}  keys 0600, never overwritten
//   <dir>/ca/<ecc|rsa>/cross.pem                          intermediate cross-signed by the other root
//   <dir>/ca/ca.db                                        SQLite: issued certificates, CRL numbers
//                                                         (and the ACME server's tables)
//   <dir>/ca/crl/<hierarchy>.crl                          the latest CRL (PEM)
// Thread-safe: issuance may run on many threads at once.
class CertificateAuthority {
 public:
  // Creates whatever of the three hierarchies is missing under dir (keys, certificates, store)
  // and leaves existing ones untouched, so running it twice is safe. A key without its
  // certificate (an interrupted init) is reused, never replaced.
  static Result<InitReport> Init(const std::string& dir, const CaOptions& options = {});

  // Opens an initialised CA. kNotFound (suggesting `autoseal ca init`) when it is not.
  static Result<std::unique_ptr<CertificateAuthority>> Open(const std::string& dir,
                                                            const CaOptions& options = {});

  ~CertificateAuthority();

  // Checks the CSR (CheckRequest, skipped when request_checked says the caller ran it for this
  // profile already), issues from the intermediate of the CSR key's family, records the
  // certificate in the store (durably) and then returns it.
  //
  // also_record, when set, runs inside the transaction that records the certificate, with the
  // database and the new leaf: what it writes commits together with the certificate, in one
  // durable commit (the ACME server marks its order valid this way). If it fails, nothing is
  // recorded and Issue fails with its error; the signed certificate is then never returned.
  using RecordHook = std::function<Status(store::Database&, const x509::Certificate&)>;
  Result<IssuedCertificate> Issue(const x509::CertificateRequest& csr, x509::Profile profile,
                                  std::optional<int> days = std::nullopt,
                                  bool request_checked = false,
                                  const RecordHook& also_record = nullptr);

  // Marks a certificate revoked (kNotFound if unknown, kAlreadyExists if already revoked).
  Status Revoke(std::string_view serial_hex, x509::RevocationReason reason);

  // Signs a fresh CRL for the hierarchy's intermediate (next update in 7 days) with an
  // increasing CRL number, writes it to <dir>/ca/crl/<hierarchy>.crl atomically, and returns it.
  Result<x509::Crl> GenerateCrl(Hierarchy hierarchy);

  Result<std::optional<CertificateRecord>> Find(std::string_view serial_hex);

  const x509::Certificate& Root(Hierarchy h) const;
  const x509::Certificate& Intermediate(Hierarchy h) const;
  // The hierarchy's intermediate cross-signed by another hierarchy's root (same subject and
  // key), which gives issued leaves an alternate chain: ECC → RSA root, RSA → ECC root. None
  // for SM2.
  const std::optional<x509::Certificate>& CrossSigned(Hierarchy h) const;
  std::vector<x509::Certificate> Roots() const;
  const std::string& dir() const { return dir_; }
  // The CA's database (<dir>/ca/ca.db). Services in front of the CA keep their own tables in it
  // (store::ApplyMigrations with their own component name) so that what they record about an
  // issuance commits with the certificate (Issue's also_record). Thread-safe; lives as long as
  // the CertificateAuthority.
  store::Database& store() { return *db_; }

 private:
  struct Level {
    x509::Certificate root, intermediate;
    crypto::PrivateKey intermediate_key;
    std::optional<x509::Certificate> cross;
  };
  CertificateAuthority(std::string dir, CaOptions options, std::vector<Level> levels,
                       std::unique_ptr<store::Database> db);

  std::string dir_;
  CaOptions options_;
  std::vector<Level> levels_;  // indexed by Hierarchy
  std::unique_ptr<store::Database> db_;
  std::vector<ct::LogEndpoint> ct_endpoints_;  // options_.ct_logs with their keys
};

// Normalises a serial given by a user: hex with optional ':' separators, any case, leading
// zero bytes dropped. kInvalidArgument otherwise.
Result<std::string> NormalizeSerial(std::string_view text);

}  // namespace autoseal::ca
