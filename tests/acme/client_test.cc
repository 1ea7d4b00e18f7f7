#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "acme/client/client.h"
#include "acme/client/helpers.h"
#include "acme/client/obtain.h"
#include "acme/client/solver.h"
#include "core/file.h"
#include "net/client.h"
#include "net/server.h"

namespace autoseal::acme::client {
namespace {

using namespace std::chrono_literals;

std::string TestData(const std::string& name) {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/testdata/" + name;
}

x509::Certificate LoadCert(const std::string& name) {
  auto pem = ReadFile(TestData(name));
  EXPECT_TRUE(pem.has_value()) << name;
  auto cert = x509::Certificate::FromPem(*pem);
  EXPECT_TRUE(cert.has_value()) << name;
  return *cert;
}

TimePoint At(std::string_view rfc3339) { return *ParseRfc3339(rfc3339); }

// ---- ARI certID (RFC 9773 §4.1) ----

TEST(RenewalCertIdTest, MatchesTheRfc9773Example) {
  auto id = RenewalCertId(LoadCert("ari-rfc9773.pem"));
  ASSERT_TRUE(id.has_value()) << id.error().message();
  EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

TEST(RenewalCertIdTest, SerialWithoutHighBitHasNoLeadingZero) {
  auto id = RenewalCertId(LoadCert("ari-small-serial.pem"));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.EjQ");
}

TEST(RenewalCertIdTest, CertificateWithoutAkiIsRefused) {
  auto id = RenewalCertId(LoadCert("no-aki.pem"));
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code(), ErrorCode::kInvalidArgument);
}

// ---- renewal windows ----

TEST(RenewalWindowTest, DefaultWindowIsTheLastThirdOfTheLifetime) {
  auto cert = LoadCert("ari-rfc9773.pem");  // 90 days
  auto w = DefaultRenewalWindow(cert);
  EXPECT_EQ(w.end, cert.NotAfter());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::hours>(w.end - w.start).count(), 30 * 24);
}

TEST(RenewalWindowTest, WithoutAriRenewsOnlyWhenAThirdIsLeft) {
  auto cert = LoadCert("ari-rfc9773.pem");
  TimePoint nb = cert.NotBefore();
  EXPECT_FALSE(ShouldRenewNow(cert, std::nullopt, nb + 24h, 0.0));
  EXPECT_FALSE(ShouldRenewNow(cert, std::nullopt, nb + 59 * 24h, 0.0));
  EXPECT_TRUE(ShouldRenewNow(cert, std::nullopt, nb + 60 * 24h + 1s, 0.0));
  // With a random point late in the window, a moment early in it is not yet due.
  EXPECT_FALSE(ShouldRenewNow(cert, std::nullopt, nb + 61 * 24h, 0.9));
  EXPECT_TRUE(ShouldRenewNow(cert, std::nullopt, nb + 88 * 24h, 0.9));
}

TEST(RenewalWindowTest, AriWindowOverridesTheLifetimeRule) {
  auto cert = LoadCert("ari-rfc9773.pem");
  TimePoint nb = cert.NotBefore();
  // The CA asks for renewal early (e.g. a mass revocation): days 5-6.
  RenewalWindow early{nb + 5 * 24h, nb + 6 * 24h};
  EXPECT_FALSE(ShouldRenewNow(cert, early, nb + 4 * 24h, 0.5));
  EXPECT_FALSE(ShouldRenewNow(cert, early, nb + 5 * 24h + 11h, 0.5));
  EXPECT_TRUE(ShouldRenewNow(cert, early, nb + 5 * 24h + 13h, 0.5));
  // A window already in the past means "now", whatever the fraction.
  EXPECT_TRUE(ShouldRenewNow(cert, early, nb + 10 * 24h, 1.0));
  // And a late window postpones renewal past the 1/3 point.
  RenewalWindow late{nb + 80 * 24h, nb + 85 * 24h};
  EXPECT_FALSE(ShouldRenewNow(cert, late, nb + 70 * 24h, 0.0));
}

TEST(RenewalWindowTest, ExpiredCertificateIsAlwaysDue) {
  auto cert = LoadCert("ari-rfc9773.pem");
  RenewalWindow future{cert.NotAfter() + 24h, cert.NotAfter() + 48h};
  EXPECT_TRUE(ShouldRenewNow(cert, future, cert.NotAfter() + 1s, 0.0));
}

TEST(RenewalWindowTest, RenewalTimeInterpolatesAndClamps) {
  RenewalWindow w{At("2026-01-01T00:00:00Z"), At("2026-01-03T00:00:00Z")};
  EXPECT_EQ(RenewalTime(w, 0.5), At("2026-01-02T00:00:00Z"));
  EXPECT_EQ(RenewalTime(w, -1), w.start);
  EXPECT_EQ(RenewalTime(w, 7), w.end);
  double f = RandomFraction();
  EXPECT_GE(f, 0.0);
  EXPECT_LT(f, 1.0);
}

TEST(RenewalInfoTest, ParsesTheSuggestedWindow) {
  auto info = ParseRenewalInfo(
      R"({"suggestedWindow":{"start":"2026-01-02T04:00:00Z","end":"2026-01-03T04:00:00Z"},)"
      R"("explanationURL":"https://ca.example/incident"})");
  ASSERT_TRUE(info.has_value()) << info.error().message();
  EXPECT_EQ(info->window.start, At("2026-01-02T04:00:00Z"));
  EXPECT_EQ(info->window.end, At("2026-01-03T04:00:00Z"));
  EXPECT_EQ(info->explanation_url, "https://ca.example/incident");
}

TEST(RenewalInfoTest, RefusesInvertedOrMissingWindows) {
  EXPECT_FALSE(ParseRenewalInfo(
      R"({"suggestedWindow":{"start":"2026-01-03T04:00:00Z","end":"2026-01-02T04:00:00Z"}})"));
  EXPECT_FALSE(ParseRenewalInfo(R"({"explanationURL":"x"})"));
  EXPECT_FALSE(ParseRenewalInfo(R"({"suggestedWindow":{"start":"soon","end":"later"}})"));
  EXPECT_FALSE(ParseRenewalInfo("not json"));
}

// ---- Retry-After (RFC 9110 §10.2.3) ----

TEST(RetryAfterTest, AcceptsSeconds) {
  TimePoint now = At("2026-11-28T12:00:00Z");
  EXPECT_EQ(*ParseRetryAfter("120", now), now + 120s);
  EXPECT_EQ(*ParseRetryAfter(" 3 ", now), now + 3s);
  EXPECT_EQ(*ParseRetryAfter("0", now), now);
}

TEST(RetryAfterTest, AcceptsAllThreeHttpDateForms) {
  TimePoint now = At("1994-11-06T08:00:00Z");
  TimePoint want = At("1994-11-06T08:49:37Z");
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), want);
  EXPECT_EQ(*ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), want);
  EXPECT_EQ(*ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), want);
}

TEST(RetryAfterTest, PastDatesMeanNow) {
  TimePoint now = At("2026-11-28T12:00:00Z");
  EXPECT_EQ(*ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), now);
}

TEST(RetryAfterTest, RefusesGarbage) {
  TimePoint now = At("2026-11-28T12:00:00Z");
  for (const char* bad : {"", "-5", "soon", "1.5", "Sun, 06 Nov 1994 08:49:37 PST",
                          "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"})
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
}

// ---- Link headers (RFC 8288) ----

TEST(LinkTargetsTest, FindsAlternatesAcrossFieldsAndCommas) {
  net::HttpHeaders h = {
      {"Link", "<https://ca.example/cert/1/alt/1>;rel=\"alternate\", <https://ca.example/dir>;rel=\"index\""},
      {"link", "</cert/1/alt/2>; rel=alternate"},
      {"Link", "<https://ca.example/issuer>;rel=\"up\""},
      {"Link", "<alt/3>;title=\"a, b\";rel=\"next alternate\""},
  };
  auto alts = LinkTargets(h, "alternate", "https://ca.example/cert/1");
  ASSERT_EQ(alts.size(), 3u);
  EXPECT_EQ(alts[0], "https://ca.example/cert/1/alt/1");
  EXPECT_EQ(alts[1], "https://ca.example/cert/1/alt/2");
  EXPECT_EQ(alts[2], "https://ca.example/cert/alt/3");
  auto up = LinkTargets(h, "up", "https://ca.example/cert/1");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0], "https://ca.example/issuer");
  EXPECT_TRUE(LinkTargets(h, "describedby", "https://ca.example/").empty());
}

// ---- chain selection ----

TEST(SelectPreferredChainTest, PicksTheChainIssuedByThePreferredRoot) {
  std::vector<std::vector<x509::Certificate>> chains = {{LoadCert("root-a.pem")},
                                                        {LoadCert("root-b.pem")}};
  EXPECT_EQ(SelectPreferredChain(chains, "Test Root B"), 1u);
  EXPECT_EQ(SelectPreferredChain(chains, "Test Root A"), 0u);
}

TEST(SelectPreferredChainTest, FallsBackToTheDefaultChain) {
  std::vector<std::vector<x509::Certificate>> chains = {{LoadCert("root-a.pem")},
                                                        {LoadCert("root-b.pem")}};
  EXPECT_EQ(SelectPreferredChain(chains, "Someone Else"), 0u);
  EXPECT_EQ(SelectPreferredChain(chains, ""), 0u);
  EXPECT_EQ(SelectPreferredChain({}, "Test Root B"), 0u);
}

// ---- challenge values ----

TEST(ChallengeValuesTest, KeyAuthorizationAndDnsRecord) {
  EXPECT_EQ(KeyAuthorization("tok", "thumb"), "tok.thumb");
  // base64url(SHA-256("tok.thumb")), computed with: printf tok.thumb | openssl dgst -sha256 -binary | basenc --base64url (padding dropped)
  EXPECT_EQ(Dns01TxtValue("tok.thumb"), "sYAwVrqDtVOuJZvAHurSAYPoEt5fFV_C4bdSOOW-o5Y");
  EXPECT_EQ(Dns01RecordName("*.example.com"), "_acme-challenge.example.com.");
  EXPECT_EQ(Dns01RecordName("www.example.com."), "_acme-challenge.www.example.com.");
}

TEST(IdentifiersTest, ClassifiesNormalisesAndDeduplicates) {
  auto ids = IdentifiersForNames({"WWW.Example.com", "192.0.2.1", "www.example.com", "2001:DB8::1",
                                  "*.example.com"});
  ASSERT_TRUE(ids.has_value()) << ids.error().message();
  ASSERT_EQ(ids->size(), 4u);
  EXPECT_EQ((*ids)[0], (Identifier{"dns", "*.example.com"}));
  EXPECT_EQ((*ids)[1], (Identifier{"dns", "www.example.com"}));
  EXPECT_EQ((*ids)[2], (Identifier{"ip", "192.0.2.1"}));
  EXPECT_EQ((*ids)[3], (Identifier{"ip", "2001:db8::1"}));
  EXPECT_FALSE(IdentifiersForNames({}).has_value());
  EXPECT_FALSE(IdentifiersForNames({"bad..name"}).has_value());
}

TEST(RevocationReasonTest, NamesAndNumbers) {
  EXPECT_EQ(*ParseRevocationReason("keyCompromise"), 1);
  EXPECT_EQ(*ParseRevocationReason("key-compromise"), 1);
  EXPECT_EQ(*ParseRevocationReason("superseded"), 4);
  EXPECT_EQ(*ParseRevocationReason("5"), 5);
  EXPECT_FALSE(ParseRevocationReason("7").has_value());
  EXPECT_FALSE(ParseRevocationReason("because").has_value());
}

// ---- problem documents ----

TEST(ProblemErrorTest, CarriesTypeDetailAndSubproblems) {
  Error e = ProblemError(
      R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"some names refused",)"
      R"("subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"CAA forbids",)"
      R"("identifier":{"type":"dns","value":"a.example"}}]})",
      403);
  EXPECT_EQ(e.code(), ErrorCode::kPolicy);
  EXPECT_NE(e.message().find("urn:ietf:params:acme:error:rejectedIdentifier: some names refused"),
            std::string::npos);
  EXPECT_NE(e.message().find("a.example: urn:ietf:params:acme:error:caa: CAA forbids"), std::string::npos);
  EXPECT_TRUE(IsProblem(e, ProblemType::kRejectedIdentifier));
  EXPECT_TRUE(IsProblem(e.WithContext("newOrder"), ProblemType::kRejectedIdentifier));
  EXPECT_FALSE(IsProblem(e, ProblemType::kBadNonce));
}

TEST(ProblemErrorTest, NonProblemBodiesStillSayWhatHappened) {
  Error e = ProblemError("<html>bad gateway</html>", 502);
  EXPECT_EQ(e.code(), ErrorCode::kNetwork);
  EXPECT_NE(e.message().find("HTTP 502"), std::string::npos);
}

// ---- the client against a scripted fake ACME server ----

// A tiny ACME server: directory, nonces, newAccount that answers badNonce a given number of
// times, and an order that is "processing" with Retry-After until polled enough. It checks no
// signatures: the client's JWS is tested against Pebble in tests/interop.
class FakeAcmeServer {
 public:
  FakeAcmeServer() {
    net::HttpServerOptions o;
    o.threads = 1;
    auto s = net::HttpServer::Create(o, [this](const net::HttpRequest& r) { return Handle(r); });
    EXPECT_TRUE(s.has_value());
    server_ = std::move(*s);
    base_ = "http://" + server_->LocalAddress();
    server_->Start();
  }
  std::string DirectoryUrl() const { return base_ + "/dir"; }

  std::atomic<int> bad_nonces_left{0};
  std::atomic<int> new_account_posts{0};
  std::atomic<int> processing_polls_left{0};
  std::string retry_after = "7";

 private:
  net::HttpResponse Handle(const net::HttpRequest& r) {
    std::string path(r.Path());
    net::HttpResponse resp;
    resp.SetHeader("Replay-Nonce", "nonce-" + std::to_string(counter_++));
    if (path == "/dir") {
      resp = net::HttpResponse::Make(200, "application/json",
                                     R"({"newNonce":")" + base_ + R"(/nonce","newAccount":")" + base_ +
                                         R"(/acct","newOrder":")" + base_ + R"(/order","revokeCert":")" +
                                         base_ + R"(/revoke","renewalInfo":")" + base_ + R"(/ari/"})");
      return resp;
    }
    if (path == "/nonce") return resp;
    if (path == "/acct" && r.method == "POST") {
      ++new_account_posts;
      if (bad_nonces_left.fetch_sub(1) > 0) {
        auto p = net::HttpResponse::Make(400, "application/problem+json",
                                         R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"})");
        p.SetHeader("Replay-Nonce", "nonce-" + std::to_string(counter_++));
        return p;
      }
      auto a = net::HttpResponse::Make(200, "application/json", R"({"status":"valid"})");
      a.SetHeader("Location", base_ + "/acct/1");
      a.SetHeader("Replay-Nonce", "nonce-" + std::to_string(counter_++));
      return a;
    }
    if (path == "/order/1" && r.method == "POST") {
      bool processing = processing_polls_left.fetch_sub(1) > 0;
      auto o = net::HttpResponse::Make(
          200, "application/json",
          std::string(R"({"status":")") + (processing ? "processing" : "valid") +
              R"(","identifiers":[{"type":"dns","value":"a.example"}],"authorizations":[],)"
              R"("finalize":")" + base_ + R"(/fin","certificate":")" + base_ + R"(/cert"})");
      if (processing) o.SetHeader("Retry-After", retry_after);
      o.SetHeader("Replay-Nonce", "nonce-" + std::to_string(counter_++));
      return o;
    }
    return net::HttpResponse::Text(404, "no\n");
  }

  std::atomic<int> counter_{0};
  std::unique_ptr<net::HttpServer> server_;
  std::string base_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("acme-client-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Client> Connect(int max_retries = 3) {
    ClientOptions o;
    o.directory_url = server_.DirectoryUrl();
    o.max_bad_nonce_retries = max_retries;
    o.request_timeout = 5s;
    o.sleep = [this](std::chrono::milliseconds d) {
      std::lock_guard lock(mutex_);
      sleeps_.push_back(d);
    };
    auto c = Client::Create(o);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return std::move(*c);
  }

  FakeAcmeServer server_;
  std::filesystem::path dir_;
  std::mutex mutex_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST_F(ClientTest, ReadsTheDirectory) {
  auto c = Connect();
  EXPECT_EQ(c->directory().new_account, server_.DirectoryUrl().substr(0, server_.DirectoryUrl().size() - 4) + "/acct");
  // The trailing slash of renewalInfo is dropped so "<renewalInfo>/<certID>" is right.
  EXPECT_TRUE(c->directory().renewal_info.ends_with("/ari"));
}

TEST_F(ClientTest, RetriesBadNonceAndSucceeds) {
  auto c = Connect(3);
  server_.bad_nonces_left = 2;
  AccountOptions a;
  a.dir = dir_.string();
  auto account = c->LoadOrCreateAccount(a);
  ASSERT_TRUE(account.has_value()) << account.error().message();
  EXPECT_EQ(account->url, c->AccountUrl());
  EXPECT_EQ(server_.new_account_posts.load(), 3);
  EXPECT_TRUE(FileExists(dir_.string() + "/account.key"));
  EXPECT_EQ(std::filesystem::status(dir_ / "account.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(ClientTest, GivesUpAfterBoundedBadNonceRetries) {
  auto c = Connect(2);
  server_.bad_nonces_left = 1000;
  AccountOptions a;
  a.dir = dir_.string();
  auto account = c->LoadOrCreateAccount(a);
  ASSERT_FALSE(account.has_value());
  EXPECT_TRUE(IsProblem(account.error(), ProblemType::kBadNonce)) << account.error().message();
  EXPECT_EQ(server_.new_account_posts.load(), 3);  // the first try and two retries
}

TEST_F(ClientTest, PollingHonoursRetryAfter) {
  auto c = Connect();
  server_.bad_nonces_left = 0;
  AccountOptions a;
  a.dir = dir_.string();
  ASSERT_TRUE(c->LoadOrCreateAccount(a).has_value());
  server_.processing_polls_left = 2;
  auto order = c->PollOrder(server_.DirectoryUrl().substr(0, server_.DirectoryUrl().size() - 4) + "/order/1");
  ASSERT_TRUE(order.has_value()) << order.error().message();
  EXPECT_EQ(order->status, "valid");
  ASSERT_EQ(sleeps_.size(), 2u);
  // Retry-After: 7 replaces the 500 ms backoff (the clock moves on a little between requests).
  for (auto d : sleeps_) {
    EXPECT_LE(d, 7000ms);
    EXPECT_GT(d, 6000ms);
  }
}

TEST_F(ClientTest, PollingGivesUpAtTheDeadline) {
  ClientOptions o;
  o.directory_url = server_.DirectoryUrl();
  o.poll_timeout = 20s;
  o.sleep = [](std::chrono::milliseconds) {};
  auto c = Client::Create(o);
  ASSERT_TRUE(c.has_value());
  AccountOptions a;
  a.dir = dir_.string();
  ASSERT_TRUE((*c)->LoadOrCreateAccount(a).has_value());
  server_.processing_polls_left = 1000;
  auto order = (*c)->PollOrder(server_.DirectoryUrl().substr(0, server_.DirectoryUrl().size() - 4) + "/order/1");
  ASSERT_FALSE(order.has_value());
  EXPECT_EQ(order.error().code(), ErrorCode::kTimeout);
}

// ---- solvers ----

TEST(Http01SolverTest, ServesTheKeyAuthorizationUntilCleanedUp) {
  auto s = Http01Solver::Create("127.0.0.1:0");
  ASSERT_TRUE(s.has_value()) << s.error().message();
  ChallengeInfo c{"http-01", {"dns", "a.example"}, false, "tok123", "tok123.thumb"};
  ASSERT_TRUE((*s)->Present(c).has_value());
  net::HttpRequest r;
  r.target = "http://" + (*s)->LocalAddress() + "/.well-known/acme-challenge/tok123";
  auto resp = net::HttpFetch(r);
  ASSERT_TRUE(resp.has_value()) << resp.error().message();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "tok123.thumb");
  ASSERT_TRUE((*s)->CleanUp(c).has_value());
  resp = net::HttpFetch(r);
  ASSERT_TRUE(resp.has_value());
  EXPECT_EQ(resp->status, 404);
}

TEST(Dns01ExecSolverTest, CallsTheHookLikeLegoExec) {
  auto dir = std::filesystem::temp_directory_path() / ("dns-hook-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string script = (dir / "hook.sh").string(), log = (dir / "calls").string();
  {
    std::ofstream f(script);
    f << "#!/bin/sh\necho \"$1 $2 $3\" >> " << log << "\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Dns01ExecSolver s(script);
  ChallengeInfo c{"dns-01", {"dns", "example.com"}, true, "tok", "tok.thumb"};
  ASSERT_TRUE(s.Present(c).has_value());
  ASSERT_TRUE(s.CleanUp(c).has_value());
  auto calls = ReadFile(log);
  ASSERT_TRUE(calls.has_value());
  std::string v = Dns01TxtValue("tok.thumb");
  EXPECT_EQ(*calls, "present _acme-challenge.example.com. " + v + "\ncleanup _acme-challenge.example.com. " + v + "\n");
  std::filesystem::remove_all(dir);
}

TEST(Dns01ExecSolverTest, ReportsFailureWithTheHooksMessage) {
  auto dir = std::filesystem::temp_directory_path() / ("dns-hook-fail-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string script = (dir / "hook.sh").string();
  {
    std::ofstream f(script);
    f << "#!/bin/sh\necho 'zone not found' >&2\nexit 3\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Dns01ExecSolver s(script);
  auto st = s.Present({"dns-01", {"dns", "example.com"}, false, "t", "t.x"});
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("exited with 3: zone not found"), std::string::npos) << st.error().message();
  std::filesystem::remove_all(dir);
}

TEST(Dns01ExecSolverTest, KillsAHookThatHangs) {
  auto dir = std::filesystem::temp_directory_path() / ("dns-hook-hang-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string script = (dir / "hook.sh").string();
  {
    std::ofstream f(script);
    f << "#!/bin/sh\nexec sleep 30\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Dns01ExecSolver hang(script, 300ms);
  auto st = hang.Present({"dns-01", {"dns", "example.com"}, false, "t", "t.x"});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kTimeout);
  std::filesystem::remove_all(dir);
}

// ---- storage ----

TEST(CertificateStoreTest, SwapsVersionsAtomicallyAndKeepsThePrevious) {
  auto dir = std::filesystem::temp_directory_path() / ("cert-store-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  ASSERT_TRUE(key.has_value());
  for (int i = 1; i <= 3; ++i) {
    auto s = StoreCertificate(dir.string(), "*.example.com", *key, "chain " + std::to_string(i) + "\n", "{}");
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(*ReadFile(s->chain_path), "chain " + std::to_string(i) + "\n");
    EXPECT_EQ(std::filesystem::status(s->key_path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  auto cdir = dir / "certs" / "_wildcard.example.com";
  EXPECT_FALSE(std::filesystem::exists(cdir / "v1"));
  EXPECT_TRUE(std::filesystem::exists(cdir / "v2"));
  EXPECT_EQ(std::filesystem::read_symlink(cdir / "current"), "v3");
  EXPECT_FALSE(LoadStoredCertificate(dir.string(), "other.example").has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace autoseal::acme::client
