// Protocol tests for the ACME server (RFC 8555, RFC 9773): an AcmeServer in-process on a free
// loopback port over a fresh CA directory, pebble-challtestsrv (Debian package `pebble`) as its
// DNS server and http-01 responder, and raw JWS requests made with acme::SignJws and
// net::HttpFetch trusting the CA's roots. Every refusal is checked for its problem type and HTTP
// status, and that the server still answers afterwards. challtestsrv is stopped by PID.

#include "acme/server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "challtestsrv.h"
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <mutex>
#include <atomic>
#include <thread>
#include <vector>

#include "acme/jws.h"
#include "ca/authority.h"
#include "core/bytes.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "crypto/signature.h"
#include "net/client.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace autoseal::acme::server {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test_support::CanConnect;
using test_support::ChallTestSrv;
using test_support::FreePort;

// ---- pebble-challtestsrv (as tests/acme/validation_test.cc starts it) ----------------------------

// ---- a raw ACME client ------------------------------------------------------------------------------

std::string B64(std::string_view s) { return Base64UrlEncode(AsBytes(s)); }

json::value ParseJson(const std::string& s) {
  json::error_code ec;
  auto v = json::parse(s, ec);
  return ec ? json::value() : v;
}

std::string Field(const json::value& v, std::string_view key) {
  if (!v.is_object()) return "";
  auto* f = v.get_object().if_contains(key);
  return f && f->is_string() ? std::string(f->get_string()) : "";
}

std::string HeaderOf(const net::HttpResponse& r, std::string_view name) {
  return std::string(r.Header(name).value_or(""));
}

// A response as the tests look at it.
struct Reply {
  int status = 0;
  net::HttpResponse http;
  json::value body;
  std::string Type() const {
    std::string t = Field(body, "type");
    const std::string prefix = "urn:ietf:params:acme:error:";
    return t.starts_with(prefix) ? t.substr(prefix.size()) : t;
  }
  std::string Location() const { return HeaderOf(http, "Location"); }
};

std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << r.status << " " << r.http.body;
}

// Asserts a problem document of the given type and status.
#define EXPECT_PROBLEM(reply, type, status_code)                                   \
  do {                                                                             \
    const Reply& r_ = (reply);                                                     \
    EXPECT_EQ(r_.Type(), type) << r_;                                              \
    EXPECT_EQ(r_.status, status_code) << r_;                                       \
    EXPECT_EQ(HeaderOf(r_.http, "Content-Type"), "application/problem+json") << r_; \
  } while (0)

crypto::PrivateKey NewKey() {
  auto k = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  EXPECT_TRUE(k.has_value());
  return *k;
}

class Client {
 public:
  Client(std::string base, std::string ca_pem, crypto::PrivateKey key)
      : base_(std::move(base)), ca_pem_(std::move(ca_pem)), key_(std::move(key)) {}

  const std::string& kid() const { return kid_; }
  // Failed fetches are not test failures (the server is being killed); they give status 0.
  void tolerate_failures() { tolerate_failures_ = true; }
  const crypto::PrivateKey& key() const { return key_; }
  void set_key(crypto::PrivateKey key) { key_ = std::move(key); }
  std::string Url(std::string_view path) const { return base_ + std::string(path); }

  Reply Fetch(const std::string& method, const std::string& url, const std::string& body = "",
              const std::string& content_type = "application/jose+json") const {
    net::HttpRequest req;
    req.method = method;
    req.target = url;
    if (method == "POST") {
      req.SetHeader("Content-Type", content_type);
      req.body = body;
    }
    net::HttpClientOptions opts;
    opts.ca_pem = ca_pem_;
    Reply r;
    auto resp = net::HttpFetch(req, opts);
    if (!tolerate_failures_) {
      EXPECT_TRUE(resp.has_value()) << method << " " << url << ": " << resp.error().message();
    }
    if (!resp) return r;
    r.status = resp->status;
    r.http = *resp;
    r.body = ParseJson(resp->body);
    return r;
  }

  std::string Nonce() const { return HeaderOf(Fetch("HEAD", Url("/acme/new-nonce")).http, "Replay-Nonce"); }

  // A JWS over payload for url, with kid when the account exists (unless use_jwk).
  std::string Sign(const std::string& url, const std::string& payload, bool use_jwk = false,
                   std::string nonce = "") const {
    if (nonce.empty()) nonce = Nonce();
    auto jws = SignJws(key_, url, nonce, use_jwk ? "" : kid_, payload);
    if (!tolerate_failures_) {
      EXPECT_TRUE(jws.has_value());
    }
    return jws.value_or("");
  }
  Reply Post(const std::string& url, const std::string& payload, bool use_jwk = false) const {
    return Fetch("POST", url, Sign(url, payload, use_jwk));
  }
  Reply PostAsGet(const std::string& url) const { return Post(url, ""); }

  Reply Register(const std::string& extra = "") {
    Reply r = Post(Url("/acme/new-account"), "{\"termsOfServiceAgreed\":true" + extra + "}", true);
    if (r.status == 201 || r.status == 200) kid_ = r.Location();
    return r;
  }

 private:
  std::string base_, ca_pem_;
  crypto::PrivateKey key_;
  std::string kid_;
  bool tolerate_failures_ = false;
};

// A flattened JWS with a hand-made protected header, signed ES256 with key.
std::string CraftJws(const crypto::PrivateKey& key, const json::object& header,
                     const std::string& payload) {
  std::string p = B64(json::serialize(header)), q = B64(payload);
  auto der = crypto::Sign(key, AsBytes(p + "." + q), crypto::DigestAlgorithm::kSha256);
  EXPECT_TRUE(der.has_value());
  auto raw = crypto::EcdsaSignatureToRaw(*der, 32);
  EXPECT_TRUE(raw.has_value());
  return json::serialize(json::object{{"protected", p}, {"payload", q}, {"signature", Base64UrlEncode(*raw)}});
}

json::value JwkOf(const crypto::PublicKey& key) {
  auto jwk = JwkJson(key);
  EXPECT_TRUE(jwk.has_value());
  return ParseJson(*jwk);
}

// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial content octets).
std::string CertId(const x509::Certificate& cert) {
  Bytes serial = cert.Serial();
  if (serial.empty() || (serial[0] & 0x80)) serial.insert(serial.begin(), 0);
  return Base64UrlEncode(cert.AuthorityKeyId()) + "." + Base64UrlEncode(serial);
}

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "acme-server-test.XXXXXX").string();
  char* d = mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr);
  return tmpl;
}

// ---- the fixture ----------------------------------------------------------------------------------

struct Instance {
  std::string dir;
  std::unique_ptr<AcmeServer> server;
  std::string base, ca_pem;
};

class AcmeServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    srv_ = new ChallTestSrv();
    main_ = new Instance(StartNew(RateLimits{}));
  }
  static void TearDownTestSuite() {
    for (Instance* i : {main_}) {
      if (i && i->server) i->server->Stop();
      if (i) std::filesystem::remove_all(i->dir);
      delete i;
    }
    main_ = nullptr;
    delete srv_;
    srv_ = nullptr;
  }

  static ServerOptions Options(const std::string& dir, const RateLimits& limits, bool eab_required) {
    ServerOptions o;
    o.dir = dir;
    o.listen_address = "127.0.0.1:0";
    o.threads = 2;
    o.validation_workers = 4;
    o.validation.dns_server = srv_->dns_server();
    o.validation.http01_port = srv_->http_port();
    o.validation.timeout = 5s;
    o.validation.caa_identities = {"autoseal.test"};
    o.rate_limits = limits;
    o.external_account_required = eab_required;
    return o;
  }

  // A CA in a new directory and a started server over it.
  static Instance StartNew(const RateLimits& limits, bool eab_required = false) {
    Instance inst;
    inst.dir = MakeTempDir();
    auto init = ca::CertificateAuthority::Init(inst.dir);
    EXPECT_TRUE(init.has_value()) << init.error().message();
    Start(inst, limits, eab_required);
    return inst;
  }
  static void Start(Instance& inst, const RateLimits& limits, bool eab_required = false) {
    auto server = AcmeServer::Create(Options(inst.dir, limits, eab_required));
    EXPECT_TRUE(server.has_value()) << server.error().message();
    if (!server) return;
    inst.server = std::move(*server);
    auto st = inst.server->Start();
    EXPECT_TRUE(st.has_value()) << st.error().message();
    inst.base = "https://127.0.0.1:" + std::to_string(inst.server->Port());
    auto authority = ca::CertificateAuthority::Open(inst.dir);
    EXPECT_TRUE(authority.has_value());
    inst.ca_pem.clear();
    for (const auto& root : (*authority)->Roots()) inst.ca_pem += root.Pem();
  }

  void SetUp() override {
    ASSERT_TRUE(srv_->ready()) << "pebble-challtestsrv did not start (Debian package pebble)";
    ASSERT_TRUE(main_ && main_->server);
  }

  Client NewClient(const Instance& inst = *main_) { return Client(inst.base, inst.ca_pem, NewKey()); }
  Client Registered(const Instance& inst = *main_) {
    Client c = NewClient(inst);
    Reply r = c.Register();
    EXPECT_EQ(r.status, 201) << r;
    return c;
  }

  // The server still answers a well-formed request after a refusal.
  void ExpectStillServing(const Instance& inst = *main_) {
    Client c = Registered(inst);
    Reply r = c.PostAsGet(c.kid());
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(Field(r.body, "status"), "valid");
  }

  struct OrderRef {
    std::string url;
    json::value body;
  };
  OrderRef NewOrder(const Client& c, const std::vector<std::string>& names, const std::string& extra = "") {
    json::array ids;
    for (const auto& n : names) ids.push_back(json::object{{"type", "dns"}, {"value", n}});
    Reply r = c.Post(c.Url("/acme/new-order"), "{\"identifiers\":" + json::serialize(ids) + extra + "}");
    EXPECT_EQ(r.status, 201) << r;
    return {r.Location(), r.body};
  }

  std::string KeyAuthorization(const Client& c, const std::string& token) {
    auto tp = JwkThumbprint(c.key());
    EXPECT_TRUE(tp.has_value());
    return token + "." + *tp;
  }

  // Polls url (POST-as-GET) until its status leaves pending/processing.
  Reply Poll(const Client& c, const std::string& url) {
    Reply r;
    for (int i = 0; i < 200; ++i) {
      r = c.PostAsGet(url);
      std::string s = Field(r.body, "status");
      if (s != "pending" && s != "processing") return r;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "still pending: " << url << " " << r;
    return r;
  }

  // Answers every authorization's http-01 challenge through challtestsrv (content: the key
  // authorization, or wrong_content) and triggers it; returns the challenge URLs.
  std::vector<std::string> Respond(const Client& c, const OrderRef& order, const std::string& wrong_content = "",
                                   bool trigger = true) {
    std::vector<std::string> urls;
    for (const auto& a : order.body.at("authorizations").as_array()) {
      Reply authz = c.PostAsGet(std::string(a.as_string()));
      for (const auto& ch : authz.body.at("challenges").as_array()) {
        if (Field(ch, "type") != "http-01") continue;
        std::string token = Field(ch, "token"), url = Field(ch, "url");
        std::string content = wrong_content.empty() ? KeyAuthorization(c, token) : wrong_content;
        EXPECT_TRUE(srv_->Post("/add-http01", json::serialize(json::object{{"token", token}, {"content", content}})));
        if (trigger) {
          Reply t = c.Post(url, "{}");
          EXPECT_EQ(t.status, 200) << t;
        }
        urls.push_back(url);
      }
    }
    return urls;
  }

  // Makes the order ready through http-01.
  void Authorize(const Client& c, const OrderRef& order) {
    Respond(c, order);
    Reply r = Poll(c, order.url);
    ASSERT_EQ(Field(r.body, "status"), "ready") << r;
  }

  static std::string CsrB64(const crypto::PrivateKey& key, const std::vector<std::string>& names) {
    x509::CsrOptions opts;
    opts.dns_names = names;
    auto csr = x509::CreateCertificateRequest(key, opts);
    EXPECT_TRUE(csr.has_value()) << csr.error().message();
    return Base64UrlEncode(csr->Der());
  }

  struct Issued {
    OrderRef order;
    std::string cert_url;
    std::vector<x509::Certificate> chain;
  };
  // newOrder → http-01 → finalize → download.
  Issued Issue(const Client& c, const std::vector<std::string>& names, const std::string& extra = "") {
    Issued out;
    out.order = NewOrder(c, names, extra);
    Authorize(c, out.order);
    auto cert_key = NewKey();
    Reply f = c.Post(Field(out.order.body, "finalize"), "{\"csr\":\"" + CsrB64(cert_key, names) + "\"}");
    EXPECT_EQ(f.status, 200) << f;
    Reply o = Poll(c, out.order.url);
    EXPECT_EQ(Field(o.body, "status"), "valid") << o;
    out.cert_url = Field(o.body, "certificate");
    Reply cert = c.PostAsGet(out.cert_url);
    EXPECT_EQ(cert.status, 200);
    EXPECT_EQ(HeaderOf(cert.http, "Content-Type"), "application/pem-certificate-chain");
    auto chain = x509::Certificate::ParseAll(cert.http.body);
    EXPECT_TRUE(chain.has_value() && !chain->empty());
    if (chain) out.chain = *chain;
    return out;
  }

  Reply Revoke(const Client& c, const x509::Certificate& cert, int reason) {
    return c.Post(c.Url("/acme/revoke-cert"),
                  "{\"certificate\":\"" + Base64UrlEncode(cert.Der()) + "\",\"reason\":" + std::to_string(reason) + "}");
  }

  static ChallTestSrv* srv_;
  static Instance* main_;
};

ChallTestSrv* AcmeServerTest::srv_ = nullptr;
Instance* AcmeServerTest::main_ = nullptr;

// ---- JWS checks -----------------------------------------------------------------------------------

TEST_F(AcmeServerTest, ReplayedNonceIsBadNonceWithAFreshNonce) {
  Client c = Registered();
  std::string url = c.kid();
  std::string jws = c.Sign(url, "");
  Reply first = c.Fetch("POST", url, jws);
  EXPECT_EQ(first.status, 200) << first;
  Reply replay = c.Fetch("POST", url, jws);
  EXPECT_PROBLEM(replay, "badNonce", 400);
  std::string fresh = HeaderOf(replay.http, "Replay-Nonce");
  EXPECT_FALSE(fresh.empty());
  // The fresh nonce is good for the retry.
  Reply retry = c.Fetch("POST", url, c.Sign(url, "", false, fresh));
  EXPECT_EQ(retry.status, 200) << retry;
  ExpectStillServing();
}

TEST_F(AcmeServerTest, UrlOtherThanTheRequestUrlIsUnauthorized) {
  Client c = Registered();
  Reply r = c.Fetch("POST", c.kid(), c.Sign(c.Url("/acme/new-order"), ""));
  EXPECT_PROBLEM(r, "unauthorized", 403);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, BadSignatureIsMalformed) {
  Client c = Registered();
  json::object jws = ParseJson(c.Sign(c.kid(), "")).as_object();
  std::string sig(jws["signature"].as_string());
  sig[5] = sig[5] == 'A' ? 'B' : 'A';
  jws["signature"] = sig;
  Reply r = c.Fetch("POST", c.kid(), json::serialize(jws));
  EXPECT_PROBLEM(r, "malformed", 400);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, WrongContentTypeIs415) {
  Client c = Registered();
  Reply r = c.Fetch("POST", c.kid(), c.Sign(c.kid(), ""), "application/json");
  EXPECT_EQ(r.status, 415) << r;
  EXPECT_EQ(r.Type(), "malformed");
  ExpectStillServing();
}

TEST_F(AcmeServerTest, BothJwkAndKidIsMalformed) {
  Client c = Registered();
  json::object header{{"alg", "ES256"}, {"nonce", c.Nonce()}, {"url", c.kid()}, {"kid", c.kid()},
                      {"jwk", JwkOf(c.key())}};
  Reply r = c.Fetch("POST", c.kid(), CraftJws(c.key(), header, ""));
  EXPECT_PROBLEM(r, "malformed", 400);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, UnknownKidIsAccountDoesNotExist) {
  Client c = Registered();
  std::string url = c.Url("/acme/new-order");
  json::object header{{"alg", "ES256"}, {"nonce", c.Nonce()}, {"url", url}, {"kid", c.Url("/acme/acct/987654321")}};
  Reply r = c.Fetch("POST", url, CraftJws(c.key(), header, R"({"identifiers":[{"type":"dns","value":"x.test"}]})"));
  EXPECT_PROBLEM(r, "accountDoesNotExist", 400);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, MacAndNoneAlgorithmsAreBadSignatureAlgorithm) {
  Client c = Registered();
  for (const char* alg : {"HS256", "none"}) {
    json::object header{{"alg", alg}, {"nonce", c.Nonce()}, {"url", c.kid()}, {"kid", c.kid()}};
    Reply r = c.Fetch("POST", c.kid(), CraftJws(c.key(), header, ""));
    EXPECT_PROBLEM(r, "badSignatureAlgorithm", 400);
  }
  ExpectStillServing();
}

// ---- accounts -------------------------------------------------------------------------------------

TEST_F(AcmeServerTest, OnlyReturnExistingForAnUnknownKeyIsAccountDoesNotExist) {
  Client c = NewClient();
  Reply r = c.Post(c.Url("/acme/new-account"), R"({"onlyReturnExisting":true})", true);
  EXPECT_PROBLEM(r, "accountDoesNotExist", 400);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, DeactivatedAccountsKeyIsRefusedAndItsOrdersEnd) {
  Client c = Registered();
  auto order = NewOrder(c, {"deactivated.test"});
  Reply d = c.Post(c.kid(), R"({"status":"deactivated"})");
  ASSERT_EQ(d.status, 200) << d;
  EXPECT_EQ(Field(d.body, "status"), "deactivated");
  // RFC 8555 §7.3.6: nothing authorised by the key is accepted any more, newAccount included.
  EXPECT_PROBLEM(c.PostAsGet(order.url), "unauthorized", 403);
  Reply again = c.Post(c.Url("/acme/new-account"), R"({"termsOfServiceAgreed":true})", true);
  EXPECT_PROBLEM(again, "unauthorized", 403);
  // Its pending order can never complete: the server marked it invalid.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((main_->dir + "/ca/ca.db").c_str(), &db), SQLITE_OK);
  std::string id = order.url.substr(order.url.rfind('/') + 1);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, ("SELECT status FROM orders WHERE id = " + id).c_str(), -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "invalid");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, KeyChangeToAKeyInUseIs409) {
  Client a = Registered(), b = Registered();
  std::string url = a.Url("/acme/key-change");
  json::object inner_payload{{"account", a.kid()}, {"oldKey", JwkOf(a.key())}};
  auto inner = SignJws(b.key(), url, "", "", json::serialize(inner_payload));
  ASSERT_TRUE(inner.has_value());
  Reply r = a.Post(url, *inner);
  EXPECT_EQ(r.status, 409) << r;
  EXPECT_EQ(HeaderOf(r.http, "Content-Type"), "application/problem+json");
  // The account keeps its key.
  EXPECT_EQ(a.PostAsGet(a.kid()).status, 200);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, KeyChangeToAFreshKeySwapsTheKey) {
  Client a = Registered();
  std::string url = a.Url("/acme/key-change");
  auto new_key = NewKey();
  json::object inner_payload{{"account", a.kid()}, {"oldKey", JwkOf(a.key())}};
  auto inner = SignJws(new_key, url, "", "", json::serialize(inner_payload));
  ASSERT_TRUE(inner.has_value());
  Reply r = a.Post(url, *inner);
  ASSERT_EQ(r.status, 200) << r;
  auto old_key = a.key();
  a.set_key(new_key);
  EXPECT_EQ(a.PostAsGet(a.kid()).status, 200);
  a.set_key(old_key);
  EXPECT_PROBLEM(a.PostAsGet(a.kid()), "malformed", 400);
}

TEST_F(AcmeServerTest, EabRequiredRefusesAccountsWithoutAValidBinding) {
  Instance inst = StartNew(RateLimits{}, /*eab_required=*/true);
  ASSERT_TRUE(inst.server);
  auto hmac = AcmeServer::CreateEabKey(inst.dir, "kid-1");
  ASSERT_TRUE(hmac.has_value()) << hmac.error().message();
  auto mac = Base64UrlDecode(*hmac);
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(AcmeServer::CreateEabKey(inst.dir, "kid-1").error().code(), ErrorCode::kAlreadyExists);

  Client c = NewClient(inst);
  EXPECT_PROBLEM(c.Register(), "externalAccountRequired", 400);
  // A binding made with another MAC key or for an unknown kid is refused.
  Bytes wrong_mac(mac->size(), 0x42);
  auto forged = SignExternalAccountBinding(wrong_mac, "kid-1", c.Url("/acme/new-account"), c.key());
  ASSERT_TRUE(forged.has_value());
  EXPECT_PROBLEM(c.Register(",\"externalAccountBinding\":" + *forged), "unauthorized", 403);
  auto unknown = SignExternalAccountBinding(*mac, "kid-unknown", c.Url("/acme/new-account"), c.key());
  ASSERT_TRUE(unknown.has_value());
  EXPECT_PROBLEM(c.Register(",\"externalAccountBinding\":" + *unknown), "unauthorized", 403);

  auto eab = SignExternalAccountBinding(*mac, "kid-1", c.Url("/acme/new-account"), c.key());
  ASSERT_TRUE(eab.has_value());
  Reply ok = c.Register(",\"externalAccountBinding\":" + *eab);
  EXPECT_EQ(ok.status, 201) << ok;
  EXPECT_EQ(c.PostAsGet(c.kid()).status, 200);
  // The key binds one account only.
  Client d = NewClient(inst);
  auto again = SignExternalAccountBinding(*mac, "kid-1", d.Url("/acme/new-account"), d.key());
  ASSERT_TRUE(again.has_value());
  EXPECT_PROBLEM(d.Register(",\"externalAccountBinding\":" + *again), "unauthorized", 403);
  EXPECT_EQ(c.PostAsGet(c.kid()).status, 200);
  inst.server->Stop();
  std::filesystem::remove_all(inst.dir);
}

// ---- orders, authorizations, finalize ---------------------------------------------------------------

TEST_F(AcmeServerTest, FinalizeBeforeReadyIsOrderNotReady) {
  Client c = Registered();
  auto order = NewOrder(c, {"notready.test"});
  Reply r = c.Post(Field(order.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"notready.test"}) + "\"}");
  EXPECT_PROBLEM(r, "orderNotReady", 403);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, CsrWithOtherNamesIsBadCsr) {
  Client c = Registered();
  auto order = NewOrder(c, {"csr-a.test"});
  Authorize(c, order);
  Reply r = c.Post(Field(order.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"csr-b.test"}) + "\"}");
  EXPECT_PROBLEM(r, "badCSR", 400);
  // A CSR with an extra name is refused too, and the order stays ready for a correct one.
  r = c.Post(Field(order.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"csr-a.test", "csr-c.test"}) + "\"}");
  EXPECT_PROBLEM(r, "badCSR", 400);
  EXPECT_EQ(Field(c.PostAsGet(order.url).body, "status"), "ready");
  ExpectStillServing();
}

TEST_F(AcmeServerTest, AnotherAccountsResourcesAreUnauthorized) {
  Client owner = Registered(), other = Registered();
  Issued issued = Issue(owner, {"mine.test"});
  auto pending = NewOrder(owner, {"mine-pending.test"});
  std::string authz_url(pending.body.at("authorizations").as_array()[0].as_string());
  Reply authz = owner.PostAsGet(authz_url);
  std::string chall_url = Field(authz.body.at("challenges").as_array()[0], "url");

  EXPECT_PROBLEM(other.PostAsGet(issued.order.url), "unauthorized", 403);
  EXPECT_PROBLEM(other.PostAsGet(authz_url), "unauthorized", 403);
  EXPECT_PROBLEM(other.PostAsGet(chall_url), "unauthorized", 403);
  EXPECT_PROBLEM(other.Post(chall_url, "{}"), "unauthorized", 403);
  EXPECT_PROBLEM(other.PostAsGet(issued.cert_url), "unauthorized", 403);
  EXPECT_PROBLEM(other.Post(Field(pending.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"mine-pending.test"}) + "\"}"),
                 "unauthorized", 403);
  EXPECT_PROBLEM(other.PostAsGet(owner.kid()), "unauthorized", 403);
  EXPECT_PROBLEM(Revoke(other, issued.chain[0], 0), "unauthorized", 403);
  // The owner still sees its pending challenge untouched.
  EXPECT_EQ(Field(owner.PostAsGet(chall_url).body, "status"), "pending");
  ExpectStillServing();
}

TEST_F(AcmeServerTest, WrongKeyAuthorizationIsIncorrectResponseAndTheOrderInvalid) {
  Client c = Registered();
  auto order = NewOrder(c, {"wrong-ka.test"});
  auto urls = Respond(c, order, "not-the-key-authorization");
  ASSERT_EQ(urls.size(), 1u);
  Reply ch = Poll(c, urls[0]);
  EXPECT_EQ(Field(ch.body, "status"), "invalid") << ch;
  Reply err;
  err.body = ch.body.at("error");
  EXPECT_EQ(err.Type(), "incorrectResponse") << ch;
  Reply o = Poll(c, order.url);
  EXPECT_EQ(Field(o.body, "status"), "invalid") << o;
  ExpectStillServing();
}

TEST_F(AcmeServerTest, CaaForbiddingUsIsCaa) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"caa-forbids.test.","policies":[{"tag":"issue","value":"other-ca.example"}]})"));
  Client c = Registered();
  auto order = NewOrder(c, {"caa-forbids.test"});
  auto urls = Respond(c, order);
  ASSERT_EQ(urls.size(), 1u);
  Reply ch = Poll(c, urls[0]);
  EXPECT_EQ(Field(ch.body, "status"), "invalid") << ch;
  Reply err;
  err.body = ch.body.at("error");
  EXPECT_EQ(err.Type(), "caa") << ch;
  EXPECT_EQ(Field(Poll(c, order.url).body, "status"), "invalid");
  ExpectStillServing();
}

// ---- revocation -----------------------------------------------------------------------------------

TEST_F(AcmeServerTest, RevokingTwiceIsAlreadyRevoked) {
  Client c = Registered();
  Issued issued = Issue(c, {"revoke-twice.test"});
  ASSERT_FALSE(issued.chain.empty());
  Reply first = Revoke(c, issued.chain[0], 1);
  EXPECT_EQ(first.status, 200) << first;
  EXPECT_PROBLEM(Revoke(c, issued.chain[0], 1), "alreadyRevoked", 400);
  ExpectStillServing();
}

TEST_F(AcmeServerTest, DisallowedReasonIsBadRevocationReason) {
  Client c = Registered();
  Issued issued = Issue(c, {"bad-reason.test"});
  ASSERT_FALSE(issued.chain.empty());
  for (int reason : {2, 7, 11}) EXPECT_PROBLEM(Revoke(c, issued.chain[0], reason), "badRevocationReason", 400);
  // Still revocable with an allowed reason.
  EXPECT_EQ(Revoke(c, issued.chain[0], 4).status, 200);
  ExpectStillServing();
}

// ---- ARI (RFC 9773) -----------------------------------------------------------------------------------

TEST_F(AcmeServerTest, RenewalInfoWindowLiesInsideTheValidity) {
  Client c = Registered();
  Issued issued = Issue(c, {"ari.test"});
  ASSERT_FALSE(issued.chain.empty());
  const auto& leaf = issued.chain[0];
  Reply r = c.Fetch("GET", c.Url("/acme/renewal-info/" + CertId(leaf)));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_FALSE(HeaderOf(r.http, "Retry-After").empty());
  auto start = ParseRfc3339(Field(r.body.at("suggestedWindow"), "start"));
  auto end = ParseRfc3339(Field(r.body.at("suggestedWindow"), "end"));
  ASSERT_TRUE(start.has_value() && end.has_value()) << r;
  EXPECT_LT(*start, *end);
  EXPECT_GT(*start, leaf.NotBefore());
  EXPECT_LT(*end, leaf.NotAfter());
}

TEST_F(AcmeServerTest, ReplacesRefusesForeignAndAlreadyReplacedCertificates) {
  Client a = Registered(), b = Registered();
  Issued mine = Issue(a, {"replace-me.test"});
  Issued theirs = Issue(b, {"replace-theirs.test"});
  ASSERT_FALSE(mine.chain.empty());
  ASSERT_FALSE(theirs.chain.empty());
  json::array ids{json::object{{"type", "dns"}, {"value", "replace-theirs.test"}}};
  Reply foreign = a.Post(a.Url("/acme/new-order"), "{\"identifiers\":" + json::serialize(ids) +
                                                       ",\"replaces\":\"" + CertId(theirs.chain[0]) + "\"}");
  EXPECT_PROBLEM(foreign, "malformed", 400);
  // Replace mine once, then try again.
  Issued renewal = Issue(a, {"replace-me.test"}, ",\"replaces\":\"" + CertId(mine.chain[0]) + "\"");
  EXPECT_EQ(Field(a.PostAsGet(renewal.order.url).body, "replaces"), CertId(mine.chain[0]));
  ids = json::array{json::object{{"type", "dns"}, {"value", "replace-me.test"}}};
  Reply again = a.Post(a.Url("/acme/new-order"), "{\"identifiers\":" + json::serialize(ids) + ",\"replaces\":\"" +
                                                     CertId(mine.chain[0]) + "\"}");
  EXPECT_PROBLEM(again, "alreadyReplaced", 409);
  ExpectStillServing();
}

// Of two orders naming the same certificate in "replaces" (RFC 9773 §5), the first finalized
// becomes valid; the second is refused with alreadyReplaced and marked invalid, and the
// certificate signed for it is still recorded by the CA rather than rolled back.
TEST_F(AcmeServerTest, OfTwoPendingReplacementsOnlyTheFirstFinalizedBecomesValid) {
  Client a = Registered();
  Issued original = Issue(a, {"replace-twice.test"});
  ASSERT_FALSE(original.chain.empty());
  std::string extra = ",\"replaces\":\"" + CertId(original.chain[0]) + "\"";
  OrderRef first = NewOrder(a, {"replace-twice.test"}, extra);
  OrderRef second = NewOrder(a, {"replace-twice.test"}, extra);
  Authorize(a, first);
  Authorize(a, second);
  Reply f1 = a.Post(Field(first.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"replace-twice.test"}) + "\"}");
  EXPECT_EQ(f1.status, 200) << f1;
  Reply f2 = a.Post(Field(second.body, "finalize"), "{\"csr\":\"" + CsrB64(NewKey(), {"replace-twice.test"}) + "\"}");
  EXPECT_PROBLEM(f2, "alreadyReplaced", 409);
  EXPECT_EQ(Field(a.PostAsGet(first.url).body, "status"), "valid");
  EXPECT_EQ(Field(a.PostAsGet(second.url).body, "status"), "invalid");
  ExpectStillServing();
}

int CountCertificatesFor(const std::string& dir, const std::string& name) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/ca/ca.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string sql = "SELECT COUNT(*) FROM certificates WHERE names LIKE '%" + name + "%'";
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
  int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// Finalize requests racing for one order get one certificate signed between them: the others
// are refused with orderNotReady, and the CA records exactly one certificate for the name. (The
// race a reviewer reproduced, a racer claiming the order just after the winner released it, is
// timing-dependent and this test does not hit it reliably; it guards the outcome.)
TEST_F(AcmeServerTest, ConcurrentFinalizesOfOneOrderSignOneCertificate) {
  Client a = Registered();
  constexpr int kOrders = 4, kRacers = 16;
  for (int o = 0; o < kOrders; ++o) {
    std::string name = "finalize-race-" + std::to_string(o) + ".test";
    OrderRef order = NewOrder(a, {name});
    Authorize(a, order);
    std::vector<std::string> bodies;
    for (int i = 0; i < kRacers; ++i) bodies.push_back("{\"csr\":\"" + CsrB64(NewKey(), {name}) + "\"}");
    std::atomic<int> ok{0}, not_ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kRacers; ++i) {
      threads.emplace_back([&, i] {
        // Staggered, so that some racer reads the order just before the winner's commit and asks
        // for the claim just after the winner has released it.
        std::string jws = a.Sign(Field(order.body, "finalize"), bodies[i]);
        std::this_thread::sleep_for(std::chrono::microseconds(250 * i));
        Reply r = a.Fetch("POST", Field(order.body, "finalize"), jws);
        if (r.status == 200) ++ok;
        else if (r.status == 403 && Field(r.body, "type") == "urn:ietf:params:acme:error:orderNotReady") ++not_ready;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 1) << name;
    EXPECT_EQ(not_ready.load(), kRacers - 1) << name;
    EXPECT_EQ(Field(Poll(a, order.url).body, "status"), "valid") << name;
    EXPECT_EQ(CountCertificatesFor(main_->dir, name), 1) << name;
  }
}

// ---- rate limits (own server with a tiny order limit) ------------------------------------------------

TEST_F(AcmeServerTest, ExceedingTheOrderLimitIsRateLimitedWithRetryAfter) {
  RateLimits limits;
  limits.orders_per_account_per_hour = 2;
  Instance inst = StartNew(limits);
  ASSERT_TRUE(inst.server);
  Client c = Registered(inst);
  NewOrder(c, {"rl1.test"});
  NewOrder(c, {"rl2.test"});
  Reply r = c.Post(c.Url("/acme/new-order"), R"({"identifiers":[{"type":"dns","value":"rl3.test"}]})");
  EXPECT_PROBLEM(r, "rateLimited", 429);
  std::string retry = HeaderOf(r.http, "Retry-After");
  ASSERT_FALSE(retry.empty());
  EXPECT_GT(std::stoi(retry), 0);
  EXPECT_LE(std::stoi(retry), 3600);
  // Another account is not limited, and the server keeps serving.
  Client other = Registered(inst);
  NewOrder(other, {"rl4.test"});
  ExpectStillServing(inst);
  inst.server->Stop();
  std::filesystem::remove_all(inst.dir);
}

// ---- durability -------------------------------------------------------------------------------------

// Sets a challenge to "processing" directly in the store, as a crash right after acknowledging
// the client's POST to the challenge would leave it (Stop() itself drains the queue).
// Runs sql on the CA's database (where the ACME tables live) behind the server's back; returns
// the rows the last statement changed.
int ExecOnCaDatabase(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/ca/ca.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  int changes = sqlite3_changes(db);
  sqlite3_close(db);
  return changes;
}

void MarkProcessing(const std::string& dir, const std::string& token) {
  EXPECT_EQ(ExecOnCaDatabase(dir, "UPDATE challenges SET status = 'processing' WHERE token = '" + token + "'"), 1);
}

TEST_F(AcmeServerTest, RestartKeepsStateAndCompletesAProcessingChallenge) {
  Instance inst = StartNew(RateLimits{});
  ASSERT_TRUE(inst.server);
  Client c = Registered(inst);
  Issued issued = Issue(c, {"durable.test"});
  ASSERT_FALSE(issued.chain.empty());
  auto pending = NewOrder(c, {"resume.test"});
  // The response is in place at challtestsrv, but the challenge is not triggered by the client.
  Respond(c, pending, "", /*trigger=*/false);
  Reply authz = c.PostAsGet(std::string(pending.body.at("authorizations").as_array()[0].as_string()));
  std::string token, chall_url;
  for (const auto& ch : authz.body.at("challenges").as_array())
    if (Field(ch, "type") == "http-01") token = Field(ch, "token"), chall_url = Field(ch, "url");
  ASSERT_FALSE(token.empty());

  inst.server->Stop();
  inst.server.reset();
  MarkProcessing(inst.dir, token);
  Start(inst, RateLimits{});
  ASSERT_TRUE(inst.server);
  // The port may differ after the restart; the account URL's path stays the same.
  std::string path = c.kid().substr(c.kid().find("/acme/"));
  Client again(inst.base, inst.ca_pem, c.key());
  Reply acct = again.Post(again.Url("/acme/new-account"), R"({"onlyReturnExisting":true})", true);
  ASSERT_EQ(acct.status, 200) << acct;
  EXPECT_EQ(acct.Location(), again.Url(path));
  Client resumed(inst.base, inst.ca_pem, c.key());
  resumed.Register();  // same key: returns the existing account (kid)
  ASSERT_EQ(resumed.kid(), again.Url(path));

  auto rebase = [&](const std::string& url) { return again.Url(url.substr(url.find("/acme/"))); };
  Reply order = resumed.PostAsGet(rebase(issued.order.url));
  EXPECT_EQ(Field(order.body, "status"), "valid") << order;
  Reply cert = resumed.PostAsGet(rebase(issued.cert_url));
  ASSERT_EQ(cert.status, 200) << cert;
  auto chain = x509::Certificate::ParseAll(cert.http.body);
  ASSERT_TRUE(chain.has_value() && !chain->empty());
  EXPECT_EQ((*chain)[0].Der(), issued.chain[0].Der());

  Reply ch = Poll(resumed, rebase(chall_url));
  EXPECT_EQ(Field(ch.body, "status"), "valid") << ch;
  Reply o = Poll(resumed, rebase(pending.url));
  EXPECT_EQ(Field(o.body, "status"), "ready") << o;
  ExpectStillServing(inst);
  inst.server->Stop();
  std::filesystem::remove_all(inst.dir);
}


// Rebuilds the layout of an older autoseal: the ACME tables in <dir>/acme/acme.db (schema
// version 1), none in the CA's database.
void MoveAcmeTablesToLegacyFile(const std::string& dir) {
  std::string sql = "ATTACH DATABASE '" + dir + "/acme/acme.db' AS legacy; PRAGMA legacy.user_version = 1;";
  for (const char* t : {"accounts", "eab_keys", "orders", "authorizations", "challenges"})
    sql += std::string("CREATE TABLE legacy.") + t + " AS SELECT * FROM main." + t + ";";
  for (const char* t : {"challenges", "authorizations", "orders", "eab_keys", "accounts"})
    sql += std::string("DELETE FROM main.") + t + ";";
  ExecOnCaDatabase(dir, sql);
}

TEST_F(AcmeServerTest, AnOlderSeparateAcmeDatabaseIsImportedOnce) {
  Instance inst = StartNew(RateLimits{});
  ASSERT_TRUE(inst.server);
  Client c = Registered(inst);
  Issued issued = Issue(c, {"legacy.test"});
  ASSERT_FALSE(issued.chain.empty());
  inst.server->Stop();
  inst.server.reset();
  MoveAcmeTablesToLegacyFile(inst.dir);
  const std::string path = c.kid().substr(c.kid().find("/acme/"));
  for (int start = 0; start < 2; ++start) {
    Start(inst, RateLimits{});
    ASSERT_TRUE(inst.server);
    EXPECT_FALSE(std::filesystem::exists(inst.dir + "/acme/acme.db"));
    EXPECT_TRUE(std::filesystem::exists(inst.dir + "/acme/acme.db.imported"));
    Client again(inst.base, inst.ca_pem, c.key());
    again.Register();
    EXPECT_EQ(again.kid(), again.Url(path)) << "the account kept its URL";
    auto rebase = [&](const std::string& url) { return again.Url(url.substr(url.find("/acme/"))); };
    Reply order = again.PostAsGet(rebase(issued.order.url));
    EXPECT_EQ(Field(order.body, "status"), "valid") << order;
    Reply cert = again.PostAsGet(rebase(issued.cert_url));
    ASSERT_EQ(cert.status, 200) << cert;
    auto chain = x509::Certificate::ParseAll(cert.http.body);
    ASSERT_TRUE(chain.has_value() && !chain->empty());
    EXPECT_EQ((*chain)[0].Der(), issued.chain[0].Der());
    // New orders get ids after the imported ones.
    auto next = NewOrder(again, {"after-import.test"});
    EXPECT_NE(next.url, rebase(issued.order.url));
    inst.server->Stop();
    inst.server.reset();
  }
  std::filesystem::remove_all(inst.dir);
}

// `autoseal ca serve` in a child process over dir, on port, validating through challtestsrv;
// returns its PID (0 if it did not come up).
pid_t StartServeProcess(const std::string& dir, int port, const ChallTestSrv& srv) {
#ifdef AUTOSEAL_BINARY
  std::vector<std::string> args = {AUTOSEAL_BINARY, "ca", "serve", "--dir", dir,
                                   "--listen", "127.0.0.1:" + std::to_string(port),
                                   "--http01-port", std::to_string(srv.http_port()),
                                   "--dns-server", srv.dns_server(), "--caa-identity", "autoseal.test",
                                   "--threads", "2", "--validation-workers", "4"};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = ::open((dir + "/serve.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (CanConnect(static_cast<uint16_t>(port))) return pid;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return 0;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
#else
  (void)dir, (void)port, (void)srv;
#endif
  return 0;
}

// DESIGN.md §5: "Killing the process at any point loses nothing that was acknowledged; after a
// restart pending orders carry on." Four clients drive issuances against `autoseal ca serve`,
// remembering every acknowledged step (order created, challenge accepted, certificate
// downloaded); the server is SIGKILLed while they are mid-flight and restarted over the same
// directory. Every acknowledged order must still be there in at least the acknowledged state,
// every downloaded certificate must be served identically, and every unfinished order must
// still complete.
TEST_F(AcmeServerTest, SigkillUnderLoadLosesNothingAcknowledged) {
#ifndef AUTOSEAL_BINARY
  GTEST_SKIP() << "built without the autoseal binary";
#else
  Instance inst;
  inst.dir = MakeTempDir();
  auto init = ca::CertificateAuthority::Init(inst.dir);
  ASSERT_TRUE(init.has_value()) << init.error().message();
  for (const auto& e : init->hierarchies) inst.ca_pem += e.root.Pem();
  const int port = FreePort();
  inst.base = "https://127.0.0.1:" + std::to_string(port);
  pid_t pid = StartServeProcess(inst.dir, port, *srv_);
  ASSERT_GT(pid, 0) << "autoseal ca serve did not start; see " << inst.dir << "/serve.log";

  struct Ack {
    std::string order_url, finalize_url, cert_url;
    std::string name;
    int stage = 0;  // 1: order created, 2: challenge accepted, 3: certificate downloaded
    std::string cert_pem;
  };
  constexpr int kClients = 4;
  constexpr int kDownloadsBeforeKill = 12;
  std::mutex mu;
  std::vector<std::unique_ptr<Ack>> acks;
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(NewClient(inst));
    ASSERT_EQ(clients.back().Register().status, 201);
    clients.back().tolerate_failures();
  }
  std::atomic<int> downloaded{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      const Client& c = clients[static_cast<size_t>(t)];
      for (int n = 0; !stop; ++n) {
        auto ack = std::make_unique<Ack>();
        ack->name = std::string("k").append(std::to_string(t)).append("-").append(std::to_string(n)).append(".crash.test");
        Reply o = c.Post(c.Url("/acme/new-order"),
                         R"({"identifiers":[{"type":"dns","value":")" + ack->name + R"("}]})");
        if (o.status != 201) continue;
        Ack* a = ack.get();
        {
          std::lock_guard lock(mu);
          a->order_url = o.Location();
          a->finalize_url = Field(o.body, "finalize");
          a->stage = 1;
          acks.push_back(std::move(ack));
        }
        Reply authz = c.PostAsGet(std::string(o.body.at("authorizations").as_array()[0].as_string()));
        if (authz.status != 200) continue;
        std::string token, chall;
        for (const auto& ch : authz.body.at("challenges").as_array())
          if (Field(ch, "type") == "http-01") token = Field(ch, "token"), chall = Field(ch, "url");
        srv_->Post("/add-http01", json::serialize(json::object{{"token", token}, {"content", KeyAuthorization(c, token)}}));
        if (c.Post(chall, "{}").status != 200) continue;
        a->stage = 2;
        std::string status;
        for (int i = 0; i < 100 && !stop && status != "ready"; ++i) {
          Reply p = c.PostAsGet(a->order_url);
          if (p.status != 200) break;
          status = Field(p.body, "status");
          if (status != "ready") std::this_thread::sleep_for(20ms);
        }
        if (status != "ready") continue;
        Reply f = c.Post(a->finalize_url, "{\"csr\":\"" + CsrB64(NewKey(), {a->name}) + "\"}");
        if (f.status != 200 || Field(f.body, "status") != "valid") continue;
        Reply cert = c.PostAsGet(Field(f.body, "certificate"));
        if (cert.status != 200) continue;
        std::lock_guard lock(mu);
        a->cert_url = Field(f.body, "certificate");
        a->cert_pem = cert.http.body;
        a->stage = 3;
        ++downloaded;
      }
    });
  }
  for (int i = 0; i < 1200 && downloaded < kDownloadsBeforeKill; ++i) std::this_thread::sleep_for(50ms);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_GE(downloaded.load(), kDownloadsBeforeKill) << "the load did not get going; see " << inst.dir << "/serve.log";

  pid = StartServeProcess(inst.dir, port, *srv_);
  ASSERT_GT(pid, 0) << "autoseal ca serve did not restart; see " << inst.dir << "/serve.log";
  int unfinished = 0;
  for (const auto& a : acks) {
    const Client& c = clients[static_cast<size_t>(a->name[1] - '0')];
    Reply o = c.PostAsGet(a->order_url);
    ASSERT_EQ(o.status, 200) << a->order_url << " was acknowledged and is gone: " << o;
    const std::string status = Field(o.body, "status");
    if (a->stage == 3) {
      EXPECT_EQ(status, "valid") << a->order_url;
      Reply cert = c.PostAsGet(a->cert_url);
      EXPECT_EQ(cert.status, 200) << a->cert_url;
      EXPECT_EQ(cert.http.body, a->cert_pem) << a->cert_url;
      continue;
    }
    // Not downloaded: the order carries on from where it was.
    if (a->stage == 2) {
      EXPECT_NE(status, "pending") << a->order_url << ": an accepted challenge was lost";
    }
    ++unfinished;
    Reply authz = c.PostAsGet(std::string(o.body.at("authorizations").as_array()[0].as_string()));
    for (const auto& ch : authz.body.at("challenges").as_array()) {
      if (Field(ch, "type") != "http-01" || Field(ch, "status") != "pending") continue;
      srv_->Post("/add-http01", json::serialize(json::object{{"token", Field(ch, "token")},
                                                            {"content", KeyAuthorization(c, Field(ch, "token"))}}));
      EXPECT_EQ(c.Post(Field(ch, "url"), "{}").status, 200);
    }
    Reply ready = Poll(c, a->order_url);
    if (Field(ready.body, "status") == "ready") {
      Reply f = c.Post(a->finalize_url, "{\"csr\":\"" + CsrB64(NewKey(), {a->name}) + "\"}");
      EXPECT_EQ(f.status, 200) << f;
      ready = Poll(c, a->order_url);
    }
    EXPECT_EQ(Field(ready.body, "status"), "valid") << a->order_url << " did not carry on: " << ready;
  }
  RecordProperty("orders", static_cast<int>(acks.size()));
  RecordProperty("unfinished_at_kill", unfinished);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(inst.dir);
#endif
}
}  // namespace
}  // namespace autoseal::acme::server
