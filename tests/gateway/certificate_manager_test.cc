#include "gateway/certificate_manager.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "acme/client/obtain.h"
#include "core/file.h"
#include "x509/csr.h"
#include "x509/issue.h"

namespace autoseal::gateway {
namespace {

namespace fs = std::filesystem;
namespace ac = acme::client;
using std::chrono::hours;
using std::chrono::minutes;

constexpr int kDays = 90;
const TimePoint kStart = FromUnixSeconds(1'900'000'000);

// A clock tests move by hand, safe to read from several threads.
class TestClock final : public Clock {
 public:
  explicit TestClock(TimePoint t) : now_(t) {}
  TimePoint Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

// A scratch directory per test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/autoseal-gw-mgr-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A CA for the whole binary: an ECDSA root that issues leaves at the test clock's time through
// x509/issue.h, as a CA's issuance does (milliseconds, where a full ca::CertificateAuthority
// spends seconds generating its RSA-4096 root in every test process).
struct SharedCa {
  TestClock clock{kStart};
  crypto::PrivateKey key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  x509::Certificate root = MakeRoot(key);

  static x509::Certificate MakeRoot(const crypto::PrivateKey& key) {
    x509::CertificateSpec spec;
    spec.profile = x509::Profile::kRootCa;
    spec.subject_key = key.Public();
    spec.common_name = "gateway test root";
    spec.organization = "autoseal tests";
    spec.not_before = kStart - hours(24);
    spec.not_after = kStart + hours(24 * 3650);
    auto root = x509::IssueCertificate(spec, nullptr, key);
    CHECK(root.has_value());
    return *root;
  }

  Result<std::string> Issue(const x509::CertificateRequest& csr, int days) {
    auto spec = TRY(
        x509::SpecFromRequest(csr, x509::Profile::kTlsServer, {.days = days, .now = clock.Now()}));
    auto leaf = TRY(x509::IssueCertificate(spec, &root, key));
    return leaf.Pem() + root.Pem();
  }
};

SharedCa& Ca() {
  static SharedCa ca;
  return ca;
}

// An Issuer backed by the in-process CA: what an ACME CA would return, without the network.
class CaIssuer final : public Issuer {
 public:
  explicit CaIssuer(std::string name) : name_(std::move(name)) {}
  std::string Name() const override { return name_; }
  Result<std::string> Issue(const std::vector<std::string>& names, const crypto::PrivateKey& key,
                            const std::string& replaces,
                            const std::vector<ac::ChallengeSolver*>& solvers) override {
    calls++;
    {
      std::lock_guard lock(mu);
      replaces_seen.push_back(replaces);
    }
    if (during_issue) TRY(during_issue(solvers));
    if (down) return Fail(ErrorCode::kNetwork, name_ + " is down");
    auto csr = TRY(x509::CreateCertificateRequest(key, {.dns_names = names}));
    return Ca().Issue(csr, kDays);
  }
  Result<std::optional<ac::RenewalInfo>> FetchRenewalInfo(const x509::Certificate& cert) override {
    ari_calls++;
    if (!ari_window) return std::optional<ac::RenewalInfo>();
    ac::RenewalInfo info;
    info.window = ari_window(cert);
    return std::optional<ac::RenewalInfo>(info);
  }

  void Cancel() override { cancelled = true; }

  std::atomic<int> calls{0};
  std::atomic<int> ari_calls{0};
  std::atomic<bool> cancelled{false};
  std::atomic<bool> down{false};
  std::mutex mu;
  std::vector<std::string> replaces_seen;
  std::function<Status(const std::vector<ac::ChallengeSolver*>&)> during_issue;
  std::function<ac::RenewalWindow(const x509::Certificate&)> ari_window;

 private:
  std::string name_;
};

class CertificateManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every test starts at the CA clock's current time (earlier tests may have moved it).
    issuer = std::make_shared<CaIssuer>("https://ca.test/directory");
  }

  CertificateManagerOptions Options() {
    CertificateManagerOptions o;
    o.data_dir = dir.path();
    o.issuers = {issuer};
    o.clock = &Ca().clock;
    o.random = [] { return 0.5; };
    return o;
  }

  std::unique_ptr<CertificateManager> Make(CertificateManagerOptions o,
                                           std::vector<ManagedSite> sites = {
                                               {"example", {"example.com", "www.example.com"}}}) {
    auto m = CertificateManager::Create(std::move(o), std::move(sites));
    EXPECT_TRUE(m.has_value()) << m.error().message();
    return std::move(*m);
  }

  static x509::Certificate Leaf(const std::shared_ptr<const CertifiedKey>& k) {
    return x509::Certificate::ParseAll(k->chain_pem)->front();
  }

  TestClock& clock() { return Ca().clock; }

  TempDir dir;
  std::shared_ptr<CaIssuer> issuer;
};

TEST_F(CertificateManagerTest, ObtainsAnEcdsaAndAnRsaCertificatePerSiteServedBySni) {
  auto m = Make(Options());
  EXPECT_EQ(m->Lookup("example.com"), nullptr) << "nothing to serve before the first order";
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 2);
  auto site = m->Lookup("www.example.com");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(site->site, "example");
  ASSERT_EQ(site->keys.size(), 2u);
  EXPECT_EQ(site->keys[0]->key_type, crypto::KeyType::kEcdsaP256) << "ECDSA first";
  EXPECT_EQ(site->keys[1]->key_type, crypto::KeyType::kRsa2048);
  for (const auto& k : site->keys) {
    auto leaf = Leaf(k);
    EXPECT_EQ(leaf.DnsNames(), (std::vector<std::string>{"example.com", "www.example.com"}));
    auto key = crypto::PrivateKey::FromPem(k->key_pem);
    ASSERT_TRUE(key.has_value());
    EXPECT_TRUE(leaf.PublicKey().Equals(key->Public())) << "key and chain belong together";
    EXPECT_EQ(k->not_after, leaf.NotAfter());
  }
  EXPECT_EQ(m->Lookup("EXAMPLE.com"), site) << "names are case-insensitive";
  EXPECT_EQ(m->Lookup("other.example.com"), nullptr);
  EXPECT_EQ(m->Lookup("example.org"), nullptr);
}

TEST_F(CertificateManagerTest, StoresKeysWithMode0600AndARestartServesAtOnceWithoutOrdering) {
  {
    auto m = Make(Options());
    m->MaintainOnce();
  }
  for (const char* kind : {"ecdsa", "rsa"}) {
    auto stored = ac::LoadStoredCertificate(dir.path(), std::string("example_") + kind);
    ASSERT_TRUE(stored.has_value()) << kind;
    struct stat st {};
    ASSERT_EQ(stat(stored->key_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << kind;
  }
  auto again = Make(Options());
  auto site = again->Lookup("example.com");
  ASSERT_NE(site, nullptr) << "stored certificates are served before any renewal pass";
  EXPECT_EQ(site->keys.size(), 2u);
  again->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 2) << "nothing due: no new order";
}

TEST_F(CertificateManagerTest, RenewsWhenAThirdOfTheLifetimeIsLeftAndSwapsInANewSnapshot) {
  auto m = Make(Options());
  m->MaintainOnce();
  auto before = m->Lookup("example.com");
  ASSERT_NE(before, nullptr);
  const std::string old_pem = before->keys[0]->chain_pem;
  const TimePoint not_after = before->keys[0]->not_after;
  const TimePoint due = not_after - (not_after - Leaf(before->keys[0]).NotBefore()) / 3;

  clock().Advance(due - clock().Now() - minutes(1));
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 2) << "one minute before 1/3 of the lifetime is left";
  clock().Advance(minutes(2));
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 4);
  auto after = m->Lookup("example.com");
  ASSERT_NE(after, nullptr);
  EXPECT_NE(after, before) << "a renewal publishes a new snapshot";
  EXPECT_NE(after->keys[0]->chain_pem, old_pem);
  EXPECT_GT(after->keys[0]->not_after, not_after);
  EXPECT_EQ(before->keys[0]->chain_pem, old_pem)
      << "connections holding the old one keep it intact";
}

TEST_F(CertificateManagerTest, RenewsInsideTheAriWindowAndNamesTheCertificateItReplaces) {
  // The CA suggests renewing in the second and third day after issuance (RFC 9773 §4.2).
  issuer->ari_window = [](const x509::Certificate& c) {
    return ac::RenewalWindow{c.NotBefore() + hours(24), c.NotBefore() + hours(72)};
  };
  auto m = Make(Options());
  m->MaintainOnce();
  ASSERT_EQ(issuer->calls.load(), 2);
  const auto first = Leaf(m->Lookup("example.com")->keys[0]);
  m->MaintainOnce();  // fetches ARI for the new certificates
  EXPECT_GE(issuer->ari_calls.load(), 2);
  // random() is pinned at 0.5: the middle of the window, 48 h after issuance.
  clock().Advance(first.NotBefore() + hours(47) - clock().Now());
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 2) << "before the chosen time in the window";
  clock().Advance(hours(2));
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 4) << "renewed long before 1/3 of the 90-day lifetime is left";
  std::lock_guard lock(issuer->mu);
  ASSERT_EQ(issuer->replaces_seen.size(), 4u);
  EXPECT_EQ(issuer->replaces_seen[2], *ac::RenewalCertId(first)) << "RFC 9773 §5 replaces";
}

TEST_F(CertificateManagerTest, FailedOrdersBackOffExponentiallyUpToTheCapAndKeepServing) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  o.retry_initial = minutes(1);
  o.retry_max = minutes(10);
  // Draws spread over [0, 1) (the golden-ratio sequence), as a real random source's would be.
  auto draws = std::make_shared<int>(0);
  o.random = [draws] { return std::fmod(++*draws * 0.6180339887498949, 1.0); };
  auto m = Make(o);
  m->MaintainOnce();
  auto served = m->Lookup("example.com");
  ASSERT_NE(served, nullptr);
  issuer->down = true;
  const auto leaf = Leaf(served->keys[0]);
  clock().Advance(leaf.NotAfter() - (leaf.NotAfter() - leaf.NotBefore()) / 3 - clock().Now());
  // Nominal waits of 1, 2, 4, 8, then 10 (cap) minutes, each jittered to [nominal/2, nominal].
  const std::vector<Duration> nominal = {minutes(1),  minutes(2),  minutes(4),  minutes(8),
                                         minutes(10), minutes(10), minutes(10), minutes(10)};
  std::set<Duration> at_cap;
  for (size_t i = 0; i < nominal.size(); ++i) {
    int calls = issuer->calls.load();
    m->MaintainOnce();
    EXPECT_EQ(issuer->calls.load(), calls + 1);
    auto st = m->SlotStatuses().at(0);
    EXPECT_EQ(st.consecutive_failures, static_cast<int>(i) + 1);
    EXPECT_NE(st.last_error.find("is down"), std::string::npos);
    const Duration wait = st.renew_at - clock().Now();
    EXPECT_GE(wait, nominal[i] / 2) << "failure " << i + 1;
    EXPECT_LE(wait, nominal[i]) << "failure " << i + 1 << ": never above retry_max";
    if (nominal[i] == o.retry_max) at_cap.insert(wait);
    m->MaintainOnce();
    EXPECT_EQ(issuer->calls.load(), calls + 1) << "no new attempt before the backoff has passed";
    clock().Advance(st.renew_at - clock().Now());
  }
  EXPECT_EQ(at_cap.size(), 4u) << "jitter applies at the cap too: no lockstep retries";
  EXPECT_EQ(m->Lookup("example.com"), served) << "the old certificate is still served";
  issuer->down = false;
  m->MaintainOnce();
  EXPECT_NE(m->Lookup("example.com"), served);
  EXPECT_EQ(m->SlotStatuses().at(0).consecutive_failures, 0);
}

TEST_F(CertificateManagerTest, BackoffIsCappedFirstThenJitteredBetweenHalfAndAllOfIt) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  o.retry_initial = minutes(10);
  double r = 0.0;
  o.random = [&r] { return r; };
  issuer->down = true;
  auto first_wait = [&](double random) {
    r = random;
    auto m = Make(o);  // failures start again from zero
    m->MaintainOnce();
    return m->SlotStatuses().at(0).renew_at - clock().Now();
  };
  EXPECT_EQ(first_wait(0.0), minutes(5));
  EXPECT_GT(first_wait(0.99), std::chrono::seconds(590));
  EXPECT_LT(first_wait(0.99), minutes(10));
  // Below the first wait: the cap applies before the jitter, so the draws still spread the
  // retries over [retry_max/2, retry_max) instead of all landing on retry_max.
  o.retry_max = minutes(4);
  const Duration low = first_wait(0.0), mid = first_wait(0.5), high = first_wait(0.99);
  EXPECT_EQ(low, minutes(2));
  EXPECT_EQ(mid, minutes(3));
  EXPECT_GT(high, std::chrono::seconds(237));
  EXPECT_LT(high, minutes(4));
}

TEST_F(CertificateManagerTest, FallsBackToTheSecondCaAfterConsecutiveFailures) {
  auto second = std::make_shared<CaIssuer>("https://second.test/directory");
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  o.issuers = {issuer, second};
  o.fallback_after_failures = 2;
  issuer->down = true;
  auto m = Make(o);
  for (int i = 0; i < 2; ++i) {
    m->MaintainOnce();
    clock().Advance(m->SlotStatuses().at(0).renew_at - clock().Now());
  }
  EXPECT_EQ(issuer->calls.load(), 2);
  EXPECT_EQ(second->calls.load(), 0);
  EXPECT_EQ(m->Lookup("example.com"), nullptr);
  m->MaintainOnce();
  EXPECT_EQ(second->calls.load(), 1) << "third attempt goes to the fallback CA";
  ASSERT_NE(m->Lookup("example.com"), nullptr);
  auto meta = ac::LoadStoredCertificate(dir.path(), "example_ecdsa");
  ASSERT_TRUE(meta.has_value());
  EXPECT_NE(meta->meta_json.find("second.test"), std::string::npos) << meta->meta_json;
}

TEST_F(CertificateManagerTest, TwoManagersSharingADataDirectoryOrderOnce) {
  auto a = Make(Options());
  auto b = Make(Options());
  auto someone_waits_for_the_lock = [&] {
    for (auto* m : {a.get(), b.get()})
      for (const auto& s : m->SlotStatuses())
        if (s.waiting_for_lock) return true;
    return false;
  };
  // The first order is held until the other manager is demonstrably waiting for the lock, so the
  // two attempts overlap (run one after the other, they would order once even without a lock).
  // Without the lock the other manager orders too instead of waiting: that ends the hold early.
  std::atomic<int> in_issue{0};
  std::atomic<bool> first{true}, overlapped{false}, saw_waiter{false};
  issuer->during_issue = [&](const std::vector<ac::ChallengeSolver*>&) -> Status {
    if (in_issue.fetch_add(1) > 0) overlapped = true;
    if (first.exchange(false)) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!overlapped && std::chrono::steady_clock::now() < deadline) {
        if (someone_waits_for_the_lock()) {
          saw_waiter = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    in_issue.fetch_sub(1);
    return Ok();
  };
  std::thread ta([&] { a->MaintainOnce(); });
  std::thread tb([&] { b->MaintainOnce(); });
  ta.join();
  tb.join();
  EXPECT_TRUE(saw_waiter) << "the second manager waited for the lock while the first ordered";
  EXPECT_FALSE(overlapped) << "never two orders for one certificate at once";
  EXPECT_EQ(issuer->calls.load(), 2) << "one order per key type, whichever manager took the lock";
  EXPECT_FALSE(someone_waits_for_the_lock());
  auto sa = a->Lookup("example.com"), sb = b->Lookup("example.com");
  ASSERT_NE(sa, nullptr);
  ASSERT_NE(sb, nullptr);
  ASSERT_EQ(sa->keys.size(), 2u);
  ASSERT_EQ(sb->keys.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(sa->keys[i]->chain_pem, sb->keys[i]->chain_pem)
        << "both serve the one stored certificate";
}

TEST_F(CertificateManagerTest, AnswersHttp01AndTlsAlpn01WhileTheOrderRuns) {
  const std::string kToken = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";  // RFC 8555 §8.3
  CertificateManager* manager = nullptr;
  CertificateManager* peer = nullptr;
  bool checked = false;
  issuer->during_issue = [&](const std::vector<ac::ChallengeSolver*>& solvers) -> Status {
    EXPECT_EQ(solvers.size(), 2u);
    ac::ChallengeInfo info;
    info.identifier = {"dns", "www.example.com"};
    info.token = kToken;
    info.key_authorization = kToken + ".thumb";
    for (auto* s : solvers) TRY(s->Present(info));
    EXPECT_EQ(manager->Http01("www.example.com", kToken), kToken + ".thumb");
    EXPECT_EQ(manager->Http01("www.example.com", "other"), std::nullopt);
    auto cert = manager->TlsAlpn01("WWW.example.com");
    EXPECT_NE(cert, nullptr);
    if (cert) {
      auto leaf = x509::Certificate::ParseAll(cert->chain_pem);
      EXPECT_TRUE(leaf.has_value());
      if (leaf) {
        // RFC 8737 §3: the identifier as the only SAN, the critical acmeIdentifier extension.
        EXPECT_EQ(leaf->front().DnsNames(), std::vector<std::string>{"www.example.com"});
        EXPECT_TRUE(leaf->front().HasExtension("1.3.6.1.5.5.7.1.31"));
      }
      EXPECT_TRUE(crypto::PrivateKey::FromPem(cert->key_pem).has_value());
    }
    EXPECT_EQ(manager->TlsAlpn01("example.com"), nullptr);
    EXPECT_EQ(peer->Http01("www.example.com", kToken), kToken + ".thumb")
        << "a gateway sharing the data directory answers too";
    for (auto* s : solvers) TRY(s->CleanUp(info));
    EXPECT_EQ(peer->Http01("www.example.com", kToken), std::nullopt);
    EXPECT_EQ(manager->Http01("www.example.com", kToken), std::nullopt);
    EXPECT_EQ(manager->TlsAlpn01("www.example.com"), nullptr);
    checked = true;
    return Ok();
  };
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  auto m = Make(o);
  auto other = Make(o);
  manager = m.get();
  peer = other.get();
  m->MaintainOnce();
  EXPECT_TRUE(checked);
}

TEST_F(CertificateManagerTest, Http01ReadsTheSharedDirectoryOnlyForWellFormedUnknownTokens) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  auto m = Make(o);
  const std::string shared = dir.path() + "/challenges/";
  auto put = [&](const std::string& name, const std::string& content) {
    ASSERT_TRUE(WriteFileAtomic(shared + name, content, 0644).has_value()) << name;
  };
  const std::string t22(22, 'A'), t21(21, 'A');
  put(t22, t22 + ".thumb");
  EXPECT_EQ(m->Http01("example.com", t22), t22 + ".thumb")
      << "22 base64url characters (128 bits): another gateway's challenge is answered";
  put(t21, t21 + ".thumb");
  EXPECT_EQ(m->Http01("example.com", t21), std::nullopt) << "under 128 bits: never read";
  const std::string dotted = t22 + ".x", padded = t22 + "==";
  put(dotted, dotted + ".thumb");
  put(padded, padded + ".thumb");
  EXPECT_EQ(m->Http01("example.com", dotted), std::nullopt) << "not base64url: never read";
  EXPECT_EQ(m->Http01("example.com", padded), std::nullopt) << "padding is not base64url";
  EXPECT_EQ(m->Http01("example.com", "../certs/" + t22), std::nullopt);

  const std::string big(43, 'B');
  put(big, big + "." + std::string(4000, 'x'));
  EXPECT_EQ(m->Http01("example.com", big), std::nullopt) << "larger than a key authorization";
  const std::string other(43, 'C');
  put(other, "something else");
  EXPECT_EQ(m->Http01("example.com", other), std::nullopt) << "not <token>.<thumbprint>";
  const std::string link(43, 'D');
  put("target", link + ".thumb");
  fs::create_symlink(shared + "target", shared + link);
  EXPECT_EQ(m->Http01("example.com", link), std::nullopt) << "symbolic links are not followed";
  // A FIFO would block a plain read on the I/O thread until someone writes it.
  const std::string fifo(43, 'E');
  ASSERT_EQ(mkfifo((shared + fifo).c_str(), 0644), 0);
  auto answer = std::async(std::launch::async, [&] { return m->Http01("example.com", fifo); });
  bool prompt = answer.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!prompt) {  // unblock the reader so the test ends
    int w = open((shared + fifo).c_str(), O_WRONLY | O_CLOEXEC);
    if (w >= 0) close(w);
  }
  EXPECT_TRUE(prompt) << "a FIFO in the challenge directory blocked Http01";
  EXPECT_EQ(answer.get(), std::nullopt);

  // A token this manager presented is answered from memory, whatever the directory holds.
  const std::string mine(43, 'F');
  ac::ChallengeInfo info;
  info.identifier = {"dns", "example.com"};
  info.token = mine;
  info.key_authorization = mine + ".mine";
  ASSERT_TRUE(m->Solvers().front()->Present(info).has_value());
  put(mine, mine + ".stale");
  EXPECT_EQ(m->Http01("example.com", mine), mine + ".mine");
  fs::remove(shared + mine);
  EXPECT_EQ(m->Http01("example.com", mine), mine + ".mine");
}

// The listeners' calls (Lookup on every handshake) never wait for a read of the data directory:
// storage is read first and swapped in under the lock afterwards.
TEST_F(CertificateManagerTest, LookupDoesNotWaitWhileStorageIsRead) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  auto m = Make(o);
  m->MaintainOnce();
  auto served = m->Lookup("example.com");
  ASSERT_NE(served, nullptr);
  auto stored = ac::LoadStoredCertificate(dir.path(), "example_ecdsa");
  ASSERT_TRUE(stored.has_value());
  auto chain = ReadFile(stored->chain_path);
  ASSERT_TRUE(chain.has_value());
  // The stored chain becomes a FIFO: reading it blocks until the test writes it.
  fs::remove(stored->chain_path);
  ASSERT_EQ(mkfifo(stored->chain_path.c_str(), 0600), 0);
  const std::vector<std::pair<const char*, std::function<void()>>> readers = {
      {"ReloadFromStorage", [&] { m->ReloadFromStorage(); }},
      {"ReplaceSites",
       [&] {
         m->ReplaceSites({{"example", {"example.com", "www.example.com"}}});
       }},
  };
  for (const auto& [what, read_storage] : readers) {
    std::thread reader(read_storage);
    // A non-blocking open for writing succeeds once the reader has the FIFO open; keeping it
    // open leaves the reader blocked in read().
    int w = -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((w = open(stored->chain_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_GE(w, 0) << what << " never read the stored chain";
    auto lookup = std::async(std::launch::async, [&] { return m->Lookup("example.com"); });
    auto alpn = std::async(std::launch::async, [&] { return m->TlsAlpn01("example.com"); });
    bool prompt = lookup.wait_for(std::chrono::seconds(5)) == std::future_status::ready &&
                  alpn.wait_for(std::chrono::seconds(1)) == std::future_status::ready;
    if (w >= 0) {
      EXPECT_EQ(write(w, chain->data(), chain->size()), static_cast<ssize_t>(chain->size()));
      close(w);
    }
    reader.join();
    EXPECT_TRUE(prompt) << "Lookup waited for " << what << "'s disk read";
    EXPECT_EQ(lookup.get(), served) << what;
    EXPECT_EQ(alpn.get(), nullptr);
  }
  auto after = m->Lookup("example.com");
  ASSERT_NE(after, nullptr);
  ASSERT_EQ(after->keys.size(), 1u);
  EXPECT_EQ(after->keys[0], served->keys[0]) << "the same certificate read back: nothing swapped";
}

TEST_F(CertificateManagerTest, WildcardNamesMatchOneLabel) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  auto m = Make(o, {{"wild", {"*.apps.example.com"}}});
  m->MaintainOnce();
  EXPECT_NE(m->Lookup("a.apps.example.com"), nullptr);
  EXPECT_EQ(m->Lookup("apps.example.com"), nullptr);
  EXPECT_EQ(m->Lookup("b.a.apps.example.com"), nullptr);
}

TEST_F(CertificateManagerTest, ReplacingSitesDropsRemovedOnesAndReordersChangedNames) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  auto m = Make(o, {{"a", {"a.example"}}, {"b", {"b.example"}}});
  m->MaintainOnce();
  ASSERT_EQ(issuer->calls.load(), 2);
  m->ReplaceSites({{"a", {"a.example", "www.a.example"}}});
  EXPECT_EQ(m->Lookup("b.example"), nullptr) << "removed site no longer served";
  EXPECT_NE(m->Lookup("a.example"), nullptr) << "old certificate served until the new one exists";
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 3) << "names changed: ordered again";
  auto site = m->Lookup("www.a.example");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(Leaf(site->keys[0]).DnsNames(),
            (std::vector<std::string>{"a.example", "www.a.example"}));
}

TEST_F(CertificateManagerTest, ExportsExpiryAndRenewalCountersAsMetrics) {
  Metrics metrics;
  auto observer = MetricsCertificateObserver(metrics);
  auto o = Options();
  o.observer = observer.get();
  auto m = Make(o);
  m->MaintainOnce();
  issuer->down = true;
  clock().Advance(hours(24 * 80));
  m->MaintainOnce();
  std::string text = metrics.RenderPrometheus();
  auto not_after = m->Lookup("example.com")->keys[0]->not_after;
  EXPECT_NE(text.find("autoseal_gateway_certificate_expiry_timestamp_seconds{site=\"example\",key_"
                      "type=\"ecdsa\"} " +
                      std::to_string(ToUnixSeconds(not_after))),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("autoseal_gateway_certificate_renewals_total{site=\"example\",key_type=\"rsa\"} 1"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("autoseal_gateway_certificate_renewal_failures_total{site=\"example\",key_"
                      "type=\"ecdsa\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(CertificateManagerTest, RenewBeforeOverridesALaterWindow) {
  auto o = Options();
  o.key_types = {crypto::KeyType::kEcdsaP256};
  o.renew_before = hours(24 * 89);
  auto m = Make(o);
  m->MaintainOnce();
  ASSERT_EQ(issuer->calls.load(), 1);
  clock().Advance(hours(23));
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 1);
  clock().Advance(hours(2));
  m->MaintainOnce();
  EXPECT_EQ(issuer->calls.load(), 2) << "renewed 89 days before notAfter";
}

TEST_F(CertificateManagerTest, StopCancelsAnOrderInFlight) {
  std::atomic<bool> entered{false};
  // An order that would run until the CA gives up (as a slow CA's polling does).
  issuer->during_issue = [&](const std::vector<ac::ChallengeSolver*>&) -> Status {
    entered = true;
    for (int i = 0; i < 600 && !issuer->cancelled; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Fail(ErrorCode::kTimeout, "gave up");
  };
  auto m = Make(Options());
  m->Start();
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  m->Stop();
  EXPECT_TRUE(issuer->cancelled) << "Stop cancelled the order instead of waiting 30 s for it";
  EXPECT_EQ(issuer->calls.load(), 1) << "no further order after Stop";
}

TEST_F(CertificateManagerTest, RefusesOptionsWithoutACa) {
  CertificateManagerOptions o;
  o.data_dir = dir.path();
  auto m = CertificateManager::Create(o, {});
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("no ACME CA"), std::string::npos);
}

}  // namespace
}  // namespace autoseal::gateway
