#pragma once

// The gateway's certificate automation (CertMagic's split: storage + lock, issuer, cache, renewal
// loop with backoff): for every site an ECDSA P-256 and an RSA-2048 certificate, obtained from an
// ACME CA by solving http-01 and tls-alpn-01 on the gateway's own listeners, kept in the data
// directory, renewed at the CA's ARI window (RFC 9773) or when 1/3 of the lifetime is left, and
// published to the listeners as immutable snapshots (a renewal swaps in a new shared_ptr; open
// connections keep the one they started with).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "acme/client/client.h"
#include "acme/client/helpers.h"
#include "acme/client/solver.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "gateway/certificate_source.h"
#include "gateway/metrics.h"
#include "x509/certificate.h"

namespace autoseal::gateway {

using Duration = std::chrono::system_clock::duration;

// Where certificates come from: one CA. The manager calls it from its renewal thread only, one
// call at a time per issuer.
class Issuer {
 public:
  virtual ~Issuer() = default;
  // What the issuer is, for logs and the stored metadata (the ACME directory URL).
  virtual std::string Name() const = 0;
  // Obtains a certificate chain (PEM, leaf first) for names holding key's public key, solving
  // challenges with solvers; replaces is the ARI certID of the certificate being renewed ("" for
  // none; RFC 9773 §5). Errors carry the CA's problem or the transport failure.
  virtual Result<std::string> Issue(const std::vector<std::string>& names,
                                    const crypto::PrivateKey& key, const std::string& replaces,
                                    const std::vector<acme::client::ChallengeSolver*>& solvers) = 0;
  // The CA's suggested renewal window for cert (RFC 9773 §4), nullopt when the CA offers no ARI
  // or does not know the certificate.
  virtual Result<std::optional<acme::client::RenewalInfo>> FetchRenewalInfo(
      const x509::Certificate& cert) = 0;
  // Makes an Issue in progress give up soon (its waits end at once) and later ones fail; called
  // by CertificateManager::Stop from another thread. Thread-safe.
  virtual void Cancel() {}
};

// How an AcmeIssuer reaches its CA.
struct AcmeIssuerOptions {
  std::string directory_url;
  std::string ca_bundle;  // PEM file trusted for the directory's HTTPS ("" = system store)
  std::string data_dir;   // the account lives in acme::client::AccountDir(data_dir, url)
  std::string email;      // account contact, optional
  std::optional<acme::client::ExternalAccountBinding> eab;
  // When set, orders ask for notAfter = now + lifetime (RFC 8555 §7.4; short-lived certificates).
  std::optional<Duration> lifetime;
  std::string profile;  // draft-ietf-acme-profiles profile name, optional
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds poll_timeout{std::chrono::minutes(2)};
  const Clock* clock = &SystemClock::Instance();
};

// An Issuer over RFC 8555 (acme::client): connects (directory, account: created on first use,
// agreeing to the CA's terms of service) lazily and again after a transport failure, so a CA that
// is down at start is retried by the renewal loop. Not thread-safe (the manager serialises calls).
class AcmeIssuer final : public Issuer {
 public:
  explicit AcmeIssuer(AcmeIssuerOptions options) : options_(std::move(options)) {}
  std::string Name() const override { return options_.directory_url; }
  // Fetches the directory and finds or creates the account; errors name the directory URL.
  Status Connect();
  Result<std::string> Issue(const std::vector<std::string>& names, const crypto::PrivateKey& key,
                            const std::string& replaces,
                            const std::vector<acme::client::ChallengeSolver*>& solvers) override;
  Result<std::optional<acme::client::RenewalInfo>> FetchRenewalInfo(
      const x509::Certificate& cert) override;
  void Cancel() override { cancelled_->store(true); }

 private:
  AcmeIssuerOptions options_;
  std::unique_ptr<acme::client::Client> client_;
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

// Told about certificate events, e.g. to export metrics. Called from the renewal thread (and from
// Create/Reload for loaded certificates); implementations must be thread-safe and quick.
class CertificateObserver {
 public:
  virtual ~CertificateObserver() = default;
  // A certificate is now served for site with this key type; not_after is its expiry.
  virtual void CertificateServed(const std::string& site, crypto::KeyType key_type,
                                 TimePoint not_after) = 0;
  // A site no longer has a certificate of this key type (the site was removed).
  virtual void CertificateRemoved(const std::string& site, crypto::KeyType key_type) = 0;
  // An order completed (success) or failed.
  virtual void RenewalSucceeded(const std::string& site, crypto::KeyType key_type) = 0;
  virtual void RenewalFailed(const std::string& site, crypto::KeyType key_type) = 0;
};

// A CertificateObserver that exports to the gateway's registry:
//   autoseal_gateway_certificate_expiry_timestamp_seconds{site,key_type}  (gauge, notAfter)
//   autoseal_gateway_certificate_renewals_total{site,key_type}            (counter)
//   autoseal_gateway_certificate_renewal_failures_total{site,key_type}    (counter)
// metrics is borrowed and must outlive the observer. Thread-safe.
std::unique_ptr<CertificateObserver> MetricsCertificateObserver(Metrics& metrics);

// One site whose certificates are managed.
struct ManagedSite {
  std::string name;                // storage key, logs, metrics; [a-z0-9.-]
  std::vector<std::string> names;  // DNS names on the certificates (lower case; first is the CN)
  bool operator==(const ManagedSite&) const = default;
};

// Renewal policy and storage of a CertificateManager.
struct CertificateManagerOptions {
  std::string data_dir;  // certificates in <data_dir>/certs, locks in <data_dir>/locks
  // [0] the primary CA, then fallbacks; at least one. Shared with the caller (the CLI probes
  // them at start).
  std::vector<std::shared_ptr<Issuer>> issuers;
  std::vector<crypto::KeyType> key_types = {crypto::KeyType::kEcdsaP256, crypto::KeyType::kRsa2048};
  // Challenge types offered to the CA, in order of preference ("http-01", "tls-alpn-01").
  std::vector<std::string> challenges = {"http-01", "tls-alpn-01"};
  // When set, renew at the latest this long before notAfter, even if the ARI window is later.
  std::optional<Duration> renew_before;
  // After this many consecutive failures on one CA the next configured CA is tried.
  int fallback_after_failures = 3;
  // Backoff after a failed order: initial * 2^(failures-1), capped at max, then times a random
  // factor in [0.5, 1): the wait never exceeds max, and slots failing at the cap retry spread
  // over [max/2, max) rather than in lockstep.
  Duration retry_initial = std::chrono::minutes(1);
  Duration retry_max = std::chrono::hours(6);
  // How often the loop looks again when nothing is due (ARI windows can move; RFC 9773 §4.3).
  Duration check_interval = std::chrono::minutes(10);
  // How long an order waits for another gateway's lock on the same certificate before it fails
  // (and is retried with backoff).
  Duration lock_timeout = std::chrono::minutes(10);
  const Clock* clock = &SystemClock::Instance();
  // Random numbers in [0, 1) for window picks and jitter (tests pin them).
  std::function<double()> random = &acme::client::RandomFraction;
  CertificateObserver* observer = nullptr;  // not owned; may be null
};

// What the manager knows about one certificate slot (site × key type), for status output.
struct SlotStatus {
  std::string site;
  crypto::KeyType key_type;
  bool has_certificate = false;
  TimePoint not_after{};
  TimePoint renew_at{};  // when the loop will order a replacement
  int consecutive_failures = 0;
  std::string last_error;
  // An order for this slot is waiting for another gateway's (or manager's) lock on it.
  bool waiting_for_lock = false;
};

// Implements CertificateSource and ChallengeResponder over the data directory and the issuers.
// Lookup, Http01 and TlsAlpn01 are thread-safe and never block on I/O; the other methods may be
// called from any thread (they serialise on an internal mutex).
class CertificateManager final : public CertificateSource, public ChallengeResponder {
 public:
  // Loads what is stored for every site (so the gateway serves at once); nothing is ordered
  // until Start() or MaintainOnce(). kInvalidArgument for options without issuers.
  static Result<std::unique_ptr<CertificateManager>> Create(CertificateManagerOptions options,
                                                            std::vector<ManagedSite> sites);
  ~CertificateManager() override;

  // Starts the renewal thread (first pass at once). Idempotent.
  void Start();
  // Stops the renewal thread and joins it; an order in flight is cancelled (Issuer::Cancel) and
  // ends within the ACME client's request timeout. Idempotent.
  void Stop();

  // One pass of the renewal loop: orders every missing or due certificate whose backoff has
  // passed, refreshing ARI where its Retry-After allows. Returns when the next pass should run.
  // The renewal thread calls it; tests call it directly with a pinned clock.
  TimePoint MaintainOnce();

  // Replaces the set of sites (SIGHUP): new sites load their stored certificates, removed ones
  // stop being served, a site whose names changed is ordered again. Wakes the renewal thread.
  void ReplaceSites(std::vector<ManagedSite> sites);
  // Re-reads every certificate from the data directory (SIGHUP), keeping what is served when the
  // stored copy is unreadable.
  void ReloadFromStorage();

  std::vector<SlotStatus> SlotStatuses() const;

  // CertificateSource.
  std::shared_ptr<const SiteCertificates> Lookup(std::string_view server_name) const override;
  // ChallengeResponder.
  std::optional<std::string> Http01(std::string_view host, std::string_view token) const override;
  std::shared_ptr<const CertifiedKey> TlsAlpn01(std::string_view server_name) const override;

  // The solvers that publish challenge responses here (for Issuer::Issue).
  std::vector<acme::client::ChallengeSolver*> Solvers();

  // Storage name of a slot: "<site>_<ecdsa|rsa|...>" under <data_dir>/certs.
  static std::string StorageName(const std::string& site, crypto::KeyType key_type);

 private:
  struct Slot;
  struct Site;
  struct Loaded;
  class Http01Publisher;
  class TlsAlpn01Publisher;

  explicit CertificateManager(CertificateManagerOptions options);
  void Loop();
  // Reads and checks a stored certificate (disk I/O).
  static Result<Loaded> LoadStored(const std::string& data_dir, const std::string& storage_name,
                                   crypto::KeyType key_type);
  // What is stored for a slot, nullopt when nothing usable is (logged unless simply absent).
  // Disk I/O: called with storage_mutex_ held and never with mutex_, which Lookup takes.
  std::optional<Loaded> ReadStored(const std::string& site, crypto::KeyType key_type) const;
  // Swaps what ReadStored returned into slot when it changed (and tells the observer if notify).
  // mutex_ held; no I/O.
  void ApplyStored(const Site& site, Slot& slot, const Loaded& loaded, bool notify = true);
  // Orders a new certificate for slot under the storage lock (or adopts one another gateway
  // stored meanwhile). Called without mutex_ held.
  Status Renew(const ManagedSite& site, crypto::KeyType key_type);
  void RefreshAri(const std::string& site, crypto::KeyType key_type);
  TimePoint RenewAt(const Slot& slot) const;
  // How long to wait before the next attempt after this many consecutive failures.
  Duration BackoffWait(int failures) const;
  void Publish();  // rebuilds the lookup index from sites_ (mutex_ held)

  CertificateManagerOptions options_;
  std::unique_ptr<Http01Publisher> http01_;
  std::unique_ptr<TlsAlpn01Publisher> tlsalpn01_;

  // Held from reading storage until what was read is swapped in (so an older read never replaces
  // a newer one); taken before mutex_, never by the listeners' calls.
  std::mutex storage_mutex_;
  mutable std::mutex
      mutex_;  // guards sites_, index_, challenge maps; never held while reading storage
  std::map<std::string, std::unique_ptr<Site>> sites_;
  // name (exact or "*.suffix") → what the site serves
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const SiteCertificates>>> index_;
  std::map<std::string, std::string> http01_tokens_;  // token → key authorization
  std::map<std::string, std::shared_ptr<const CertifiedKey>> tlsalpn01_certs_;  // SNI → cert

  std::mutex issue_mutex_;  // one order at a time (issuers are not thread-safe)
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool wake_requested_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace autoseal::gateway
