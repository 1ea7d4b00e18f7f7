#include "gateway/certificate_manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "acme/client/obtain.h"
#include "core/file.h"
#include "core/log.h"

namespace autoseal::gateway {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace ac = acme::client;

namespace {

std::string KeyTypeLabel(crypto::KeyType t) {
  switch (crypto::FamilyOf(t)) {
    case crypto::KeyFamily::kEcdsa:
      return "ecdsa";
    case crypto::KeyFamily::kRsa:
      return "rsa";
    case crypto::KeyFamily::kSm2:
      return "sm2";
    case crypto::KeyFamily::kEd25519:
      return "ed25519";
  }
  return "key";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether the certificate names every one of names (exactly, as the CA issued what was ordered).
bool Covers(const x509::Certificate& leaf, const std::vector<std::string>& names) {
  std::vector<std::string> have;
  for (const auto& n : leaf.DnsNames()) have.push_back(Lower(n));
  for (const auto& n : leaf.IpAddresses()) have.push_back(Lower(n));
  for (const auto& n : names)
    if (std::find(have.begin(), have.end(), Lower(n)) == have.end()) return false;
  return true;
}

// An exclusive flock(2) on a lock file, released when destroyed. flock locks belong to the open
// file description, so two gateways (or two managers in one process) exclude each other.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) {
      flock(fd_, LOCK_UN);
      close(fd_);
    }
  }

 private:
  int fd_;
};

// Takes the lock at path, polling every 100 ms (so a stop request is noticed) until timeout.
// on_wait runs once, when the lock is found held by someone else.
Result<FileLock> AcquireLock(const std::string& path, std::chrono::steady_clock::duration timeout,
                             const std::atomic<bool>& stop, const std::function<void()>& on_wait) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kIo, "cannot open lock " + path + ": " + std::strerror(errno));
  FileLock lock(fd);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool waited = false;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      return Fail(ErrorCode::kIo, "cannot lock " + path + ": " + std::strerror(errno));
    if (!waited) {
      Log(LogLevel::kInfo, "gateway: waiting for the certificate lock held by another gateway",
          {{"lock", path}});
      waited = true;
      if (on_wait) on_wait();
    }
    if (stop.load()) return Fail(ErrorCode::kTimeout, "stopping while waiting for lock " + path);
    if (std::chrono::steady_clock::now() > deadline)
      return Fail(ErrorCode::kTimeout, "lock " + path + " still held by another process");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return lock;
}

// The largest http-01 key authorization read from the shared challenge directory: the token
// (at most kMaxTokenSize) + "." + the base64url SHA-256 account key thumbprint (43).
constexpr size_t kMaxTokenSize = 256;
constexpr size_t kMaxKeyAuthorizationSize = kMaxTokenSize + 1 + 43;

// RFC 8555 §8.1: a challenge token is base64url without padding and carries at least 128 bits of
// entropy, so at least 22 characters. Anything else is never looked up on disk (nor names a file).
bool IsChallengeToken(std::string_view t) {
  if (t.size() < 22 || t.size() > kMaxTokenSize) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// The key authorization another gateway stored for token: a regular file (no symlink; never
// waiting on a FIFO) of at most kMaxKeyAuthorizationSize bytes holding "<token>.<thumbprint>".
// One bounded read on the I/O thread, only for well-formed tokens the manager does not know.
std::optional<std::string> ReadSharedKeyAuthorization(const std::string& dir,
                                                      std::string_view token) {
  std::string path = dir + "/" + std::string(token);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      static_cast<size_t>(st.st_size) <= kMaxKeyAuthorizationSize) {
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  close(fd);
  if (out.size() <= token.size() + 1 || !out.starts_with(token) || out[token.size()] != '.')
    return std::nullopt;
  return out;
}

}  // namespace

// A stored certificate read back: what is served, its parsed leaf and the version it came from.
struct CertificateManager::Loaded {
  std::shared_ptr<const CertifiedKey> key;
  x509::Certificate leaf;
  std::string version;
  std::string issuer;
};

Result<CertificateManager::Loaded> CertificateManager::LoadStored(const std::string& data_dir,
                                                                  const std::string& storage_name,
                                                                  crypto::KeyType key_type) {
  auto stored = TRY(ac::LoadStoredCertificate(data_dir, storage_name));
  std::error_code ec;
  std::string version = fs::read_symlink(fs::path(stored.dir) / "current", ec).string();
  auto chain_pem = TRY(ReadFile(stored.chain_path, 1 << 20));
  auto key_pem = TRY(ReadFile(stored.key_path, 1 << 16));
  auto chain = TRY_CONTEXT(x509::Certificate::ParseAll(chain_pem), stored.chain_path);
  auto key = TRY_CONTEXT(crypto::PrivateKey::FromPem(key_pem), stored.key_path);
  if (!chain.front().PublicKey().Equals(key.Public()))
    return Fail(ErrorCode::kPolicy, stored.dir + ": key does not match the certificate");
  auto type = key.Type();
  if (!type || crypto::FamilyOf(*type) != crypto::FamilyOf(key_type))
    return Fail(ErrorCode::kPolicy, stored.dir + ": stored key has the wrong type");
  std::string issuer;
  json::error_code jec;
  json::value meta = json::parse(stored.meta_json, jec);
  if (!jec && meta.is_object())
    if (const json::value* v = meta.get_object().if_contains("issuer"); v && v->is_string())
      issuer = std::string(v->get_string());
  auto ck = std::make_shared<CertifiedKey>();
  ck->chain_pem = std::move(chain_pem);
  ck->key_pem = std::move(key_pem);
  ck->key_type = *type;
  ck->not_after = chain.front().NotAfter();
  return Loaded{std::move(ck), chain.front(), std::move(version), std::move(issuer)};
}

// ---- AcmeIssuer ----

Status AcmeIssuer::Connect() {
  if (client_) return Ok();
  ac::ClientOptions o;
  o.directory_url = options_.directory_url;
  o.ca_file = options_.ca_bundle;
  o.request_timeout = options_.request_timeout;
  o.poll_timeout = options_.poll_timeout;
  o.clock = options_.clock;
  o.user_agent = "autoseal-gateway/0.1";
  // Polling waits end early once cancelled (the client then stops after a few quick polls, as
  // it counts the waits it asked for).
  o.sleep = [cancelled = cancelled_](std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (!cancelled->load()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= end) break;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(50)));
    }
  };
  auto client =
      TRY_CONTEXT(ac::Client::Create(std::move(o)), "ACME directory " + options_.directory_url);
  ac::AccountOptions a;
  a.dir = ac::AccountDir(options_.data_dir, options_.directory_url);
  if (!options_.email.empty()) a.contact.push_back("mailto:" + options_.email);
  // Configuring a CA for the gateway is taken as agreeing to its terms (docs/gateway.md), as
  // Caddy does.
  a.terms_of_service_agreed = true;
  a.eab = options_.eab;
  TRY_CONTEXT(client->LoadOrCreateAccount(a), "ACME account at " + options_.directory_url);
  client_ = std::move(client);
  return Ok();
}

Result<std::string> AcmeIssuer::Issue(const std::vector<std::string>& names,
                                      const crypto::PrivateKey& key, const std::string& replaces,
                                      const std::vector<ac::ChallengeSolver*>& solvers) {
  if (cancelled_->load()) return Fail(ErrorCode::kTimeout, "stopping");
  TRY(Connect());
  ac::ObtainRequest r;
  r.names = names;
  r.replaces = replaces;
  r.profile = options_.profile;
  if (options_.lifetime) r.not_after = options_.clock->Now() + *options_.lifetime;
  auto obtained = ac::ObtainCertificate(*client_, r, key, solvers);
  if (!obtained) {
    // A transport failure may mean a restarted or moved CA: fetch the directory again next time.
    if (obtained.error().code() == ErrorCode::kNetwork ||
        obtained.error().code() == ErrorCode::kTimeout)
      client_.reset();
    return Fail(obtained.error());
  }
  return obtained->chain_pem;
}

Result<std::optional<ac::RenewalInfo>> AcmeIssuer::FetchRenewalInfo(const x509::Certificate& cert) {
  TRY(Connect());
  if (client_->directory().renewal_info.empty()) return std::optional<ac::RenewalInfo>();
  auto info = client_->FetchRenewalInfo(cert);
  if (!info) {
    if (info.error().code() == ErrorCode::kNetwork || info.error().code() == ErrorCode::kTimeout)
      client_.reset();
    return Fail(info.error());
  }
  return std::optional<ac::RenewalInfo>(std::move(*info));
}

// ---- metrics ----

namespace {

constexpr std::string_view kExpiry = "autoseal_gateway_certificate_expiry_timestamp_seconds";
constexpr std::string_view kRenewals = "autoseal_gateway_certificate_renewals_total";
constexpr std::string_view kFailures = "autoseal_gateway_certificate_renewal_failures_total";

class MetricsObserver final : public CertificateObserver {
 public:
  explicit MetricsObserver(Metrics& m) : m_(m) {}
  void CertificateServed(const std::string& site, crypto::KeyType t, TimePoint not_after) override {
    m_.GetGauge(kExpiry, "notAfter of the certificate served, in Unix seconds", Labels(site, t))
        ->Set(static_cast<double>(ToUnixSeconds(not_after)));
  }
  void CertificateRemoved(const std::string& site, crypto::KeyType) override {
    m_.RemoveSeries(kExpiry, "site", site);
  }
  void RenewalSucceeded(const std::string& site, crypto::KeyType t) override {
    m_.GetCounter(kRenewals, "Certificates obtained", Labels(site, t))->Add();
  }
  void RenewalFailed(const std::string& site, crypto::KeyType t) override {
    m_.GetCounter(kFailures, "Failed certificate orders", Labels(site, t))->Add();
  }

 private:
  static MetricLabels Labels(const std::string& site, crypto::KeyType t) {
    return {{"site", site}, {"key_type", KeyTypeLabel(t)}};
  }
  Metrics& m_;
};

}  // namespace

std::unique_ptr<CertificateObserver> MetricsCertificateObserver(Metrics& metrics) {
  return std::make_unique<MetricsObserver>(metrics);
}

// ---- manager state ----

struct CertificateManager::Slot {
  crypto::KeyType key_type;
  std::shared_ptr<const CertifiedKey> current;
  std::optional<x509::Certificate> leaf;
  std::string version;  // the stored version served ("v3")
  std::string issuer;   // Issuer::Name() of the CA that issued it
  bool covers_names = false;
  std::optional<ac::RenewalWindow> ari;
  TimePoint ari_next_check{};
  double fraction = 0.5;  // where in the renewal window this certificate renews
  int failures = 0;       // consecutive
  TimePoint next_attempt{};
  std::string last_error;
  bool waiting_for_lock = false;
};

struct CertificateManager::Site {
  ManagedSite config;
  std::vector<Slot> slots;
  std::shared_ptr<const SiteCertificates> published;
};

class CertificateManager::Http01Publisher final : public ac::ChallengeSolver {
 public:
  explicit Http01Publisher(CertificateManager& m) : m_(m) {}
  std::string_view Type() const override { return "http-01"; }
  Status Present(const ac::ChallengeInfo& c) override {
    // Also in the data directory, so every gateway sharing it answers (whichever one the CA's
    // validation request reaches; CertMagic's distributed solving).
    if (IsChallengeToken(c.token))
      TRY(WriteFileAtomic(m_.options_.data_dir + "/challenges/" + c.token, c.key_authorization,
                          0644));
    std::lock_guard lock(m_.mutex_);
    m_.http01_tokens_[c.token] = c.key_authorization;
    return Ok();
  }
  Status CleanUp(const ac::ChallengeInfo& c) override {
    if (IsChallengeToken(c.token))
      std::remove((m_.options_.data_dir + "/challenges/" + c.token).c_str());
    std::lock_guard lock(m_.mutex_);
    m_.http01_tokens_.erase(c.token);
    return Ok();
  }

 private:
  CertificateManager& m_;
};

class CertificateManager::TlsAlpn01Publisher final : public ac::ChallengeSolver {
 public:
  explicit TlsAlpn01Publisher(CertificateManager& m) : m_(m) {}
  std::string_view Type() const override { return "tls-alpn-01"; }
  Status Present(const ac::ChallengeInfo& c) override {
    auto made = TRY(ac::MakeTlsAlpn01Certificate(c.identifier, c.key_authorization));
    auto ck = std::make_shared<CertifiedKey>();
    ck->chain_pem = std::move(made.certificate_pem);
    ck->key_pem = std::move(made.key_pem);
    ck->key_type = crypto::KeyType::kEcdsaP256;
    ck->not_after = m_.options_.clock->Now() + std::chrono::hours(24 * 7);
    std::lock_guard lock(m_.mutex_);
    m_.tlsalpn01_certs_[made.server_name] = std::move(ck);
    return Ok();
  }
  Status CleanUp(const ac::ChallengeInfo& c) override {
    auto made = ac::MakeTlsAlpn01Certificate(c.identifier, c.key_authorization);
    std::string sni = c.identifier.value;
    if (made) sni = made->server_name;
    std::lock_guard lock(m_.mutex_);
    m_.tlsalpn01_certs_.erase(Lower(sni));
    return Ok();
  }

 private:
  CertificateManager& m_;
};

// ---- CertificateManager ----

std::string CertificateManager::StorageName(const std::string& site, crypto::KeyType key_type) {
  return site + "_" + KeyTypeLabel(key_type);
}

CertificateManager::CertificateManager(CertificateManagerOptions options)
    : options_(std::move(options)),
      http01_(std::make_unique<Http01Publisher>(*this)),
      tlsalpn01_(std::make_unique<TlsAlpn01Publisher>(*this)) {}

CertificateManager::~CertificateManager() { Stop(); }

Result<std::unique_ptr<CertificateManager>> CertificateManager::Create(
    CertificateManagerOptions options, std::vector<ManagedSite> sites) {
  if (options.issuers.empty() || !options.issuers.front())
    return Fail(ErrorCode::kInvalidArgument, "certificate manager: no ACME CA configured");
  if (options.key_types.empty())
    return Fail(ErrorCode::kInvalidArgument, "certificate manager: no key types");
  if (options.data_dir.empty())
    return Fail(ErrorCode::kInvalidArgument, "certificate manager: no data directory");
  for (const auto& c : options.challenges)
    if (c != "http-01" && c != "tls-alpn-01")
      return Fail(ErrorCode::kInvalidArgument, "certificate manager: unknown challenge type " + c);
  TRY(MakeDirectories(options.data_dir + "/certs", 0700));
  TRY(MakeDirectories(options.data_dir + "/locks", 0700));
  TRY(MakeDirectories(options.data_dir + "/challenges", 0700));
  std::unique_ptr<CertificateManager> m(new CertificateManager(std::move(options)));
  m->ReplaceSites(std::move(sites));
  return m;
}

std::vector<ac::ChallengeSolver*> CertificateManager::Solvers() {
  std::vector<ac::ChallengeSolver*> out;
  for (const auto& c : options_.challenges) {
    if (c == "http-01") out.push_back(http01_.get());
    if (c == "tls-alpn-01") out.push_back(tlsalpn01_.get());
  }
  return out;
}

std::optional<CertificateManager::Loaded> CertificateManager::ReadStored(
    const std::string& site, crypto::KeyType key_type) const {
  auto loaded = LoadStored(options_.data_dir, StorageName(site, key_type), key_type);
  if (!loaded) {
    if (loaded.error().code() != ErrorCode::kNotFound)
      Log(LogLevel::kWarning, "gateway: stored certificate unusable, ordering a new one",
          {{"site", site},
           {"key_type", KeyTypeLabel(key_type)},
           {"error", loaded.error().message()}});
    return std::nullopt;
  }
  return std::move(*loaded);
}

void CertificateManager::ApplyStored(const Site& site, Slot& slot, const Loaded& loaded,
                                     bool notify) {
  if (loaded.version == slot.version && slot.current) return;  // unchanged
  bool same_cert = slot.leaf && slot.leaf->Serial() == loaded.leaf.Serial();
  slot.current = loaded.key;
  slot.leaf = loaded.leaf;
  slot.version = loaded.version;
  slot.issuer = loaded.issuer;
  slot.covers_names = Covers(loaded.leaf, site.config.names);
  if (!same_cert) {
    slot.ari.reset();
    slot.ari_next_check = TimePoint{};
    slot.fraction = options_.random();
  }
  if (options_.observer && notify)
    options_.observer->CertificateServed(site.config.name, slot.key_type, loaded.leaf.NotAfter());
}

void CertificateManager::ReplaceSites(std::vector<ManagedSite> sites) {
  std::lock_guard storage_lock(storage_mutex_);
  // Storage is read before mutex_ is taken (Lookup takes it on every handshake), then swapped in.
  std::map<std::string, Loaded> stored;  // storage name → what is stored
  for (const auto& cfg : sites)
    for (auto t : options_.key_types)
      if (auto loaded = ReadStored(cfg.name, t)) stored.emplace(StorageName(cfg.name, t), *loaded);
  std::map<std::string, std::unique_ptr<Site>> next;
  std::vector<std::pair<std::string, crypto::KeyType>> removed;
  {
    std::lock_guard lock(mutex_);
    for (auto& cfg : sites) {
      auto it = sites_.find(cfg.name);
      std::unique_ptr<Site> site;
      if (it != sites_.end()) {
        site = std::move(it->second);
        sites_.erase(it);
      } else {
        site = std::make_unique<Site>();
        for (auto t : options_.key_types) site->slots.push_back(Slot{.key_type = t});
      }
      site->config = cfg;
      for (auto& slot : site->slots) {
        if (slot.leaf) slot.covers_names = Covers(*slot.leaf, cfg.names);
        // A configuration change deserves a prompt attempt, not the remaining backoff.
        slot.next_attempt = TimePoint{};
        slot.failures = 0;
      }
      next[cfg.name] = std::move(site);
    }
    for (auto& [name, site] : sites_)
      for (auto& slot : site->slots)
        if (slot.current) removed.emplace_back(name, slot.key_type);
    sites_ = std::move(next);
    for (auto& [name, site] : sites_) {
      for (auto& slot : site->slots)
        if (auto it = stored.find(StorageName(name, slot.key_type)); it != stored.end())
          ApplyStored(*site, slot, it->second);
      site->published.reset();
    }
    Publish();
  }
  if (options_.observer)
    for (auto& [name, type] : removed) options_.observer->CertificateRemoved(name, type);
  {
    std::lock_guard lock(wake_mutex_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

void CertificateManager::ReloadFromStorage() {
  {
    std::lock_guard storage_lock(storage_mutex_);  // the set of sites cannot change meanwhile
    std::vector<std::pair<std::string, crypto::KeyType>> slots;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [name, site] : sites_)
        for (const auto& slot : site->slots) slots.emplace_back(name, slot.key_type);
    }
    // Read without mutex_ (Lookup takes it on every handshake), then swap in under it.
    std::map<std::string, Loaded> stored;
    for (const auto& [name, type] : slots)
      if (auto loaded = ReadStored(name, type)) stored.emplace(StorageName(name, type), *loaded);
    std::lock_guard lock(mutex_);
    for (auto& [name, site] : sites_) {
      for (auto& slot : site->slots) {
        auto it = stored.find(StorageName(name, slot.key_type));
        if (it == stored.end()) continue;
        std::string before = slot.version;
        ApplyStored(*site, slot, it->second);
        if (slot.version != before) site->published.reset();
      }
    }
    Publish();
  }
  {
    std::lock_guard lock(wake_mutex_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

void CertificateManager::Publish() {
  auto index = std::make_shared<std::map<std::string, std::shared_ptr<const SiteCertificates>>>();
  for (auto& [name, site] : sites_) {
    if (!site->published) {
      auto sc = std::make_shared<SiteCertificates>();
      sc->site = name;
      // Slots are in options_.key_types order: ECDSA first, which listeners prefer.
      for (const auto& slot : site->slots)
        if (slot.current) sc->keys.push_back(slot.current);
      site->published = std::move(sc);
    }
    if (site->published->keys.empty()) continue;
    for (const auto& n : site->config.names) index->emplace(Lower(n), site->published);
  }
  index_ = std::move(index);
}

std::shared_ptr<const SiteCertificates> CertificateManager::Lookup(
    std::string_view server_name) const {
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const SiteCertificates>>> index;
  {
    std::lock_guard lock(mutex_);
    index = index_;
  }
  if (!index) return nullptr;
  std::string name = Lower(server_name);
  if (auto it = index->find(name); it != index->end()) return it->second;
  // RFC 6125 §6.4.3: a wildcard matches exactly one left-most label.
  if (size_t dot = name.find('.'); dot != std::string::npos && dot > 0) {
    if (auto it = index->find("*" + name.substr(dot)); it != index->end()) return it->second;
  }
  return nullptr;
}

std::optional<std::string> CertificateManager::Http01(std::string_view,
                                                      std::string_view token) const {
  // The token (≥128 bits of entropy, RFC 8555 §8.3) identifies the challenge; the Host header
  // may carry a port or differ in case, so it is not compared.
  {
    std::lock_guard lock(mutex_);
    auto it = http01_tokens_.find(std::string(token));
    if (it != http01_tokens_.end()) return it->second;
  }
  // A challenge another gateway sharing the data directory presented: one small bounded local
  // read, only for a well-formed token not known here (never for arbitrary paths).
  if (!IsChallengeToken(token)) return std::nullopt;
  return ReadSharedKeyAuthorization(options_.data_dir + "/challenges", token);
}

std::shared_ptr<const CertifiedKey> CertificateManager::TlsAlpn01(
    std::string_view server_name) const {
  std::lock_guard lock(mutex_);
  auto it = tlsalpn01_certs_.find(Lower(server_name));
  return it == tlsalpn01_certs_.end() ? nullptr : it->second;
}

TimePoint CertificateManager::RenewAt(const Slot& slot) const {
  if (!slot.current || !slot.leaf || !slot.covers_names) return TimePoint::min();
  const x509::Certificate& leaf = *slot.leaf;
  TimePoint at;
  if (slot.ari) {
    // RFC 9773 §4.2: "select a uniform random time within the suggested window".
    at = ac::RenewalTime(*slot.ari, slot.fraction);
  } else {
    // DESIGN.md §2: without ARI, renew when 1/3 of the lifetime is left.
    at = ac::DefaultRenewalWindow(leaf).start;
  }
  if (options_.renew_before) at = std::min(at, leaf.NotAfter() - *options_.renew_before);
  return at;
}

void CertificateManager::RefreshAri(const std::string& site_name, crypto::KeyType key_type) {
  std::optional<x509::Certificate> leaf;
  std::string issuer_name;
  {
    std::lock_guard lock(mutex_);
    auto it = sites_.find(site_name);
    if (it == sites_.end()) return;
    for (auto& slot : it->second->slots)
      if (slot.key_type == key_type && slot.leaf) {
        leaf = slot.leaf;
        issuer_name = slot.issuer;
      }
  }
  if (!leaf) return;
  std::shared_ptr<Issuer> issuer;
  for (const auto& i : options_.issuers)
    if (i && i->Name() == issuer_name) issuer = i;
  TimePoint now = options_.clock->Now();
  std::optional<ac::RenewalInfo> info;
  TimePoint next_check = TimePoint::max();  // no ARI from this CA: look again with the next cert
  if (issuer) {
    Result<std::optional<ac::RenewalInfo>> fetched;
    {
      std::lock_guard issue_lock(issue_mutex_);
      fetched = issuer->FetchRenewalInfo(*leaf);
    }
    if (!fetched) {
      Log(LogLevel::kInfo, "gateway: renewal information unavailable, using the default window",
          {{"site", site_name},
           {"key_type", KeyTypeLabel(key_type)},
           {"error", fetched.error().message()}});
      next_check = now + options_.check_interval;
    } else if (*fetched) {
      info = **fetched;
      // RFC 9773 §4.3: poll again after Retry-After; bounded to [1 min, 24 h] against
      // unreasonable values, 6 h when absent.
      TimePoint retry = info->retry_after.value_or(now + std::chrono::hours(6));
      next_check = std::clamp(retry, now + std::chrono::minutes(1), now + std::chrono::hours(24));
    }
  }
  std::lock_guard lock(mutex_);
  auto it = sites_.find(site_name);
  if (it == sites_.end()) return;
  for (auto& slot : it->second->slots) {
    if (slot.key_type != key_type || !slot.leaf || slot.leaf->Serial() != leaf->Serial()) continue;
    if (info) slot.ari = info->window;
    slot.ari_next_check = next_check;
  }
}

Duration CertificateManager::BackoffWait(int failures) const {
  // Exponential, capped first, then jittered: a uniformly random point in [capped/2, capped), so
  // a fleet whose failures reached the cap spreads its retries over half the cap instead of all
  // retrying retry_max after the last failure ("equal jitter"), and no wait exceeds retry_max.
  auto initial = std::chrono::duration<double>(options_.retry_initial);
  auto cap = std::chrono::duration<double>(options_.retry_max);
  auto nominal = std::min(initial * std::ldexp(1.0, std::clamp(failures - 1, 0, 30)), cap);
  double r = std::clamp(options_.random(), 0.0, 1.0);
  auto wait = std::chrono::duration_cast<Duration>(nominal * (0.5 + 0.5 * r));
  return std::clamp<Duration>(wait, Duration::zero(), options_.retry_max);
}

TimePoint CertificateManager::MaintainOnce() {
  TimePoint now = options_.clock->Now();
  // ARI first: a moved window can make a certificate due now.
  std::vector<std::pair<std::string, crypto::KeyType>> ari_due;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, site] : sites_)
      for (auto& slot : site->slots)
        if (slot.leaf && slot.covers_names && slot.ari_next_check <= now)
          ari_due.emplace_back(name, slot.key_type);
  }
  for (const auto& [name, type] : ari_due) {
    if (stop_.load()) break;
    RefreshAri(name, type);
  }

  std::vector<std::pair<ManagedSite, crypto::KeyType>> due;
  now = options_.clock->Now();
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, site] : sites_)
      for (auto& slot : site->slots)
        if (now >= RenewAt(slot) && now >= slot.next_attempt)
          due.emplace_back(site->config, slot.key_type);
  }
  for (const auto& [site, type] : due) {
    if (stop_.load()) break;
    auto st = Renew(site, type);
    now = options_.clock->Now();
    std::lock_guard lock(mutex_);
    auto it = sites_.find(site.name);
    if (it == sites_.end()) continue;
    for (auto& slot : it->second->slots) {
      if (slot.key_type != type) continue;
      if (st) {
        slot.failures = 0;
        slot.next_attempt = TimePoint{};
        slot.last_error.clear();
        continue;
      }
      slot.failures++;
      slot.last_error = st.error().message();
      const Duration wait = BackoffWait(slot.failures);
      slot.next_attempt = now + wait;
      Log(LogLevel::kWarning, "gateway: certificate order failed, retrying with backoff",
          {{"site", site.name},
           {"key_type", KeyTypeLabel(type)},
           {"failures", std::to_string(slot.failures)},
           {"retry_in_s",
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count())},
           {"next_attempt", FormatRfc3339(slot.next_attempt)},
           {"error", st.error().message()}});
      if (options_.observer) options_.observer->RenewalFailed(site.name, type);
    }
  }

  TimePoint next = options_.clock->Now() + options_.check_interval;
  std::lock_guard lock(mutex_);
  for (auto& [name, site] : sites_)
    for (auto& slot : site->slots) {
      next = std::min(next, std::max(RenewAt(slot), slot.next_attempt));
      if (slot.leaf && slot.covers_names) next = std::min(next, slot.ari_next_check);
    }
  return next;
}

Status CertificateManager::Renew(const ManagedSite& site, crypto::KeyType key_type) {
  const std::string storage = StorageName(site.name, key_type);
  const std::string label = KeyTypeLabel(key_type);
  std::lock_guard issue_lock(issue_mutex_);
  // While another gateway holds the lock, the slot's status says so.
  auto set_waiting = [&](bool waiting) {
    std::lock_guard lock(mutex_);
    if (auto it = sites_.find(site.name); it != sites_.end())
      for (auto& slot : it->second->slots)
        if (slot.key_type == key_type) slot.waiting_for_lock = waiting;
  };
  bool waited = false;
  auto acquired = AcquireLock(
      options_.data_dir + "/locks/" + storage + ".lock",
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.lock_timeout), stop_,
      [&] {
        waited = true;
        set_waiting(true);
      });
  if (waited) set_waiting(false);
  auto lock = TRY(std::move(acquired));

  // CertMagic's rule: look at storage again once the lock is held. Another gateway sharing the
  // directory may have stored a certificate while we waited; adopt it unless it is due too.
  int failures = 0;
  std::optional<x509::Certificate> old_leaf;
  std::optional<ac::RenewalWindow> old_ari;
  std::string old_issuer;
  {
    std::lock_guard storage_lock(storage_mutex_);
    const std::optional<Loaded> stored = ReadStored(site.name, key_type);  // without mutex_
    std::lock_guard lock2(mutex_);
    auto it = sites_.find(site.name);
    if (it == sites_.end()) return Ok();  // removed meanwhile
    Site& s = *it->second;
    for (auto& slot : s.slots) {
      if (slot.key_type != key_type) continue;
      std::string before = slot.version;
      Slot probe = slot;
      if (stored) ApplyStored(s, probe, *stored, /*notify=*/false);
      if (probe.version != before && probe.current && probe.covers_names &&
          options_.clock->Now() < RenewAt(probe)) {
        slot = std::move(probe);
        if (options_.observer)
          options_.observer->CertificateServed(site.name, key_type, slot.leaf->NotAfter());
        s.published.reset();
        Publish();
        Log(LogLevel::kInfo, "gateway: using the certificate another gateway stored",
            {{"site", site.name},
             {"key_type", label},
             {"version", slot.version},
             {"not_after", FormatRfc3339(slot.leaf->NotAfter())}});
        return Ok();
      }
      failures = slot.failures;
      old_leaf = slot.leaf;
      old_ari = slot.ari;
      old_issuer = slot.issuer;
    }
  }

  const size_t n = options_.issuers.size();
  const int per_ca = std::max(1, options_.fallback_after_failures);
  std::shared_ptr<Issuer> issuer = options_.issuers[static_cast<size_t>(failures / per_ca) % n];
  if (!issuer) issuer = options_.issuers.front();
  // RFC 9773 §5: "replaces" names the certificate being renewed, for the CA that issued it and
  // only when it offers ARI.
  std::string replaces;
  if (old_leaf && old_ari && old_issuer == issuer->Name())
    if (auto id = ac::RenewalCertId(*old_leaf)) replaces = *id;
  Log(LogLevel::kInfo, "gateway: ordering certificate",
      {{"site", site.name},
       {"key_type", label},
       {"ca", issuer->Name()},
       {"renewal", old_leaf ? "true" : "false"}});
  auto key = TRY(crypto::PrivateKey::Generate(key_type));
  auto chain_pem = issuer->Issue(site.names, key, replaces, Solvers());
  if (!chain_pem && !replaces.empty() &&
      ac::IsProblem(chain_pem.error(), acme::ProblemType::kAlreadyReplaced)) {
    // Another client (or an earlier attempt of ours) already replaced it: order afresh.
    chain_pem = issuer->Issue(site.names, key, "", Solvers());
  }
  if (!chain_pem) return Fail(chain_pem.error().WithContext(issuer->Name()));
  auto chain = TRY_CONTEXT(x509::Certificate::ParseAll(*chain_pem), "issued chain");
  if (!chain.front().PublicKey().Equals(key.Public()))
    return Fail(ErrorCode::kPolicy, issuer->Name() + ": issued certificate does not hold our key");
  if (!Covers(chain.front(), site.names))
    return Fail(ErrorCode::kPolicy,
                issuer->Name() + ": issued certificate lacks some of the site's names");
  json::array names;
  for (const auto& nm : site.names) names.emplace_back(nm);
  json::object meta{{"site", site.name},
                    {"names", std::move(names)},
                    {"key_type", std::string(crypto::KeyTypeName(key_type))},
                    {"issuer", issuer->Name()},
                    {"obtained_at", FormatRfc3339(options_.clock->Now())},
                    {"replaces", replaces}};
  TRY_CONTEXT(ac::StoreCertificate(options_.data_dir, storage, key, *chain_pem,
                                   json::serialize(meta) + "\n"),
              "storing the certificate");
  const TimePoint not_after = chain.front().NotAfter();
  {
    std::lock_guard storage_lock(storage_mutex_);
    const std::optional<Loaded> stored = ReadStored(site.name, key_type);  // without mutex_
    std::lock_guard lock2(mutex_);
    auto it = sites_.find(site.name);
    if (it != sites_.end()) {
      for (auto& slot : it->second->slots) {
        if (slot.key_type != key_type || !stored) continue;
        ApplyStored(*it->second, slot, *stored);
      }
      it->second->published.reset();
      Publish();
    }
  }
  Log(LogLevel::kInfo, "gateway: certificate obtained",
      {{"site", site.name},
       {"key_type", label},
       {"ca", issuer->Name()},
       {"serial", chain.front().SerialHex()},
       {"not_after", FormatRfc3339(not_after)},
       {"replaces", replaces}});
  if (options_.observer) options_.observer->RenewalSucceeded(site.name, key_type);
  return Ok();
}

std::vector<SlotStatus> CertificateManager::SlotStatuses() const {
  std::vector<SlotStatus> out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, site] : sites_)
    for (const auto& slot : site->slots) {
      SlotStatus s;
      s.site = name;
      s.key_type = slot.key_type;
      s.has_certificate = slot.current != nullptr;
      if (slot.leaf) s.not_after = slot.leaf->NotAfter();
      s.renew_at = std::max(RenewAt(slot), slot.next_attempt);
      s.consecutive_failures = slot.failures;
      s.last_error = slot.last_error;
      s.waiting_for_lock = slot.waiting_for_lock;
      out.push_back(std::move(s));
    }
  return out;
}

void CertificateManager::Start() {
  if (thread_.joinable() || stop_.load()) return;
  thread_ = std::thread([this] { Loop(); });
}

void CertificateManager::Stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stop_.store(true);
  }
  for (const auto& issuer : options_.issuers)
    if (issuer) issuer->Cancel();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertificateManager::Loop() {
  while (!stop_.load()) {
    TimePoint next = MaintainOnce();
    auto wait = next - options_.clock->Now();
    // Re-evaluate at least every check interval, and never spin.
    wait = std::clamp<Duration>(wait, std::chrono::milliseconds(200), options_.check_interval);
    std::unique_lock lock(wake_mutex_);
    wake_.wait_for(lock, wait, [this] { return stop_.load() || wake_requested_; });
    wake_requested_ = false;
  }
}

}  // namespace autoseal::gateway
