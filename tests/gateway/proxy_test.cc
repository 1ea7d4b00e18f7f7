// The gateway end to end on loopback: TLS termination per SNI and key type, the HTTP listener's
// redirects and http-01 answers, and the streaming proxy to an in-process origin.

#include "gateway/proxy.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>

#include "proxy_test_support.h"

namespace autoseal::gateway {
namespace {

using testing::Client;
using testing::MakeCertifiedKey;
using testing::Origin;
using testing::Response;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ecdsa_ = MakeCertifiedKey(crypto::KeyType::kEcdsaP256, {"a.test"});
    a_rsa_ = MakeCertifiedKey(crypto::KeyType::kRsa2048, {"a.test"});
    b_ecdsa_ = MakeCertifiedKey(crypto::KeyType::kEcdsaP256, {"b.test"});
    source_.Set("a.test", "a", {a_ecdsa_, a_rsa_});
    source_.Set("b.test", "b", {b_ecdsa_});
    source_.Set("down.test", "down",
                {MakeCertifiedKey(crypto::KeyType::kEcdsaP256, {"down.test"})});
    challenges_.http01["tok-123_abc"] = "tok-123_abc.thumbprint";
    challenges_.alpn["a.test"] = MakeCertifiedKey(crypto::KeyType::kEcdsaP256, {"a.test"});
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    origin_.Stop();
  }

  std::vector<SiteConfig> Sites() {
    std::string origin = "http://127.0.0.1:" + std::to_string(origin_.port());
    SiteConfig a{.name = "a", .server_names = {"a.test"}, .origin = origin};
    a.hsts.max_age = std::chrono::seconds(600);
    a.hsts.include_subdomains = true;
    SiteConfig b{.name = "b", .server_names = {"b.test", "*.b.test"}, .origin = origin + "/base/"};
    b.hsts.enabled = false;
    SiteConfig down{.name = "down",
                    .server_names = {"down.test"},
                    .origin = "http://127.0.0.1:" + std::to_string(testing::ClosedPort())};
    return {a, b, down};
  }

  void StartGateway(GatewayOptions options = {}) {
    options.http_address = "127.0.0.1:0";
    options.https_address = "127.0.0.1:0";
    options.admin_address = "127.0.0.1:0";
    options.threads = 2;
    options.access_log = false;
    if (options.origin_read_timeout == GatewayOptions{}.origin_read_timeout) {
      options.origin_read_timeout = std::chrono::milliseconds(1500);
    }
    auto gateway = Gateway::Create(options, Sites(), &source_, &challenges_, &metrics_);
    ASSERT_TRUE(gateway.has_value()) << gateway.error().message();
    gateway_ = std::move(*gateway);
    gateway_->Start();
  }

  Response Get(Client& client, const std::string& host, const std::string& target,
               const std::string& extra = "") {
    EXPECT_TRUE(
        client.Write("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n"));
    return client.ReadResponse();
  }

  // Starts a gateway whose HTTP listener proxies instead of redirecting and connects client to
  // it: one connection can then ask for every site.
  void StartPlainProxy(Client& client) {
    GatewayOptions options;
    options.redirect_http = false;
    StartGateway(options);
    ASSERT_TRUE(client.ConnectPlain(gateway_->HttpPort()));
  }

  testing::StaticCertificateSource source_;
  testing::StaticChallenges challenges_;
  Metrics metrics_;
  Origin origin_;
  std::shared_ptr<const CertifiedKey> a_ecdsa_, a_rsa_, b_ecdsa_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTest, PresentsTheSitesCertificatePerSniAndKeyType) {
  StartGateway();
  Client ecdsa;
  ASSERT_TRUE(ecdsa.ConnectTls(gateway_->HttpsPort(), "a.test")) << ecdsa.error();
  EXPECT_EQ(ecdsa.PeerFingerprint(), testing::Fingerprint(*a_ecdsa_));
  EXPECT_EQ(ecdsa.Alpn(), "");
  Client rsa;
  ASSERT_TRUE(rsa.ConnectTls(gateway_->HttpsPort(), "a.test", "RSA-PSS+SHA256:RSA+SHA256"))
      << rsa.error();
  EXPECT_EQ(rsa.PeerFingerprint(), testing::Fingerprint(*a_rsa_));
  EXPECT_EQ(rsa.PeerKeyType(), "RSA");
  Client b;
  ASSERT_TRUE(b.ConnectTls(gateway_->HttpsPort(), "b.test", "", "http/1.1")) << b.error();
  EXPECT_EQ(b.PeerFingerprint(), testing::Fingerprint(*b_ecdsa_));
  EXPECT_EQ(b.Alpn(), "http/1.1");
}

TEST_F(GatewayTest, RefusesUnknownServerNamesAndClientsWithoutSni) {
  StartGateway();
  Client unknown;
  EXPECT_FALSE(unknown.ConnectTls(gateway_->HttpsPort(), "nobody.test"));
  EXPECT_NE(unknown.error().find("unrecognized name"), std::string::npos) << unknown.error();
  Client none;
  EXPECT_FALSE(none.ConnectTls(gateway_->HttpsPort(), ""));
  EXPECT_NE(none.error().find("unrecognized name"), std::string::npos) << none.error();
}

TEST_F(GatewayTest, ServesClientsWithoutSniFromTheDefaultSite) {
  GatewayOptions options;
  options.default_site = "a";
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "")) << client.error();
  EXPECT_EQ(client.PeerFingerprint(), testing::Fingerprint(*a_ecdsa_));
}

TEST_F(GatewayTest, AnswersTlsAlpn01WithTheChallengeCertificateAndCloses) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test", "", "acme-tls/1"))
      << client.error();
  EXPECT_EQ(client.Alpn(), "acme-tls/1");
  EXPECT_EQ(client.PeerFingerprint(), testing::Fingerprint(*challenges_.alpn["a.test"]));
  EXPECT_TRUE(client.PeerClosed());
  Client other;
  EXPECT_FALSE(other.ConnectTls(gateway_->HttpsPort(), "b.test", "", "acme-tls/1"));
}

TEST_F(GatewayTest, ResumesSessionsWithTickets) {
  StartGateway();
  Client first;
  ASSERT_TRUE(first.ConnectTls(gateway_->HttpsPort(), "a.test")) << first.error();
  Response r = Get(first, "a.test", "/");  // TLS 1.3 tickets arrive after the handshake
  ASSERT_EQ(r.status, 200);
  SSL_SESSION* session = SSL_get1_session(first.ssl());
  ASSERT_NE(session, nullptr);
  Client second;
  ASSERT_TRUE(second.ConnectTls(gateway_->HttpsPort(), "a.test", "", "", session))
      << second.error();
  EXPECT_TRUE(SSL_session_reused(second.ssl()));
  SSL_SESSION_free(session);
}

TEST_F(GatewayTest, ProxiesWithForwardingHeadersAndWithoutHopByHopFields) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/echo-headers",
                   "Connection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: 300\r\n"
                   "TE: trailers\r\nProxy-Connection: keep-alive\r\n"
                   "X-Forwarded-For: 203.0.113.7\r\nX-Kept: yes\r\n");
  ASSERT_EQ(r.status, 200);
  std::string seen = r.body;
  for (char& c : seen) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(seen.find("host: a.test\r\n"), std::string::npos) << r.body;
  EXPECT_NE(seen.find("x-kept: yes\r\n"), std::string::npos) << r.body;
  EXPECT_NE(seen.find("x-forwarded-for: 203.0.113.7, 127.0.0.1\r\n"), std::string::npos) << r.body;
  EXPECT_NE(seen.find("x-forwarded-proto: https\r\n"), std::string::npos) << r.body;
  EXPECT_NE(seen.find("forwarded: for=127.0.0.1;host=a.test;proto=https\r\n"), std::string::npos)
      << r.body;
  EXPECT_EQ(seen.find("x-private"), std::string::npos) << r.body;
  EXPECT_EQ(seen.find("keep-alive: 300"), std::string::npos) << r.body;
  EXPECT_EQ(seen.find("\r\nte:"), std::string::npos) << r.body;
  EXPECT_EQ(seen.find("proxy-connection"), std::string::npos) << r.body;
  // The origin's hop-by-hop fields do not reach the client either; HSTS is added.
  EXPECT_FALSE(r.Header("X-Origin-Hop").has_value());
  EXPECT_FALSE(r.Header("Keep-Alive").has_value());
  EXPECT_EQ(r.Header("Strict-Transport-Security").value_or(""), "max-age=600; includeSubDomains");
}

TEST_F(GatewayTest, ForwardsTheSameRequestHeadOnTheFastAndTheGeneralPath) {
  // A plain HTTP/1.1 GET takes the fast path (gateway/internal/http_head.h); the same request
  // as HTTP/1.0 takes Beast's. The origin must see the same fields either way.
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  const std::string fields =
      "Host: a.test\r\nConnection: keep-alive\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
      "X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\n"
      "X-Forwarded-Proto: http\r\nX-Kept: yes\r\n\r\n";
  auto lines = [](std::string text) {
    for (char& c : text) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    std::vector<std::string> out;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find("\r\n", pos);
      if (end == std::string::npos) end = text.size();
      out.push_back(text.substr(pos, end - pos));
      pos = end + 2;
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ASSERT_TRUE(client.Write("GET /echo-headers HTTP/1.1\r\n" + fields));
  Response fast = client.ReadResponse();
  ASSERT_EQ(fast.status, 200);
  ASSERT_TRUE(client.Write("GET /echo-headers HTTP/1.0\r\n" + fields));
  Response general = client.ReadResponse();
  ASSERT_EQ(general.status, 200);
  EXPECT_EQ(lines(fast.body), lines(general.body));
  std::vector<std::string> seen = lines(fast.body);
  auto has = [&](const std::string& line) {
    return std::find(seen.begin(), seen.end(), line) != seen.end();
  };
  EXPECT_TRUE(has("get /echo-headers http/1.1")) << fast.body;
  EXPECT_TRUE(has("x-forwarded-for: 203.0.113.7, 127.0.0.1")) << fast.body;
  EXPECT_TRUE(has("x-forwarded-proto: https")) << fast.body;
  EXPECT_TRUE(has("forwarded: for=203.0.113.7, for=127.0.0.1;host=a.test;proto=https"))
      << fast.body;
  EXPECT_TRUE(has("x-kept: yes")) << fast.body;
  EXPECT_EQ(fast.body.find("Keep-Alive"), std::string::npos) << fast.body;
  EXPECT_EQ(fast.body.find("TE:"), std::string::npos) << fast.body;

  // A response framed by Content-Length alone is written by the fast path too: hop-by-hop
  // fields dropped, the site's HSTS in place of the origin's, the connection kept.
  for (int i = 0; i < 3; ++i) {
    Response plain = Get(client, "a.test", "/plain");
    ASSERT_EQ(plain.status, 200);
    EXPECT_EQ(plain.body, "plain body");
    EXPECT_FALSE(plain.Header("Keep-Alive").has_value());
    EXPECT_FALSE(plain.Header("Connection").has_value());
    EXPECT_EQ(plain.Header("Strict-Transport-Security").value_or(""),
              "max-age=600; includeSubDomains");
    size_t hsts = 0;
    for (const auto& [name, value] : plain.headers) {
      hsts += strcasecmp(name.c_str(), "Strict-Transport-Security") == 0 ? 1 : 0;
    }
    EXPECT_EQ(hsts, 1u);
  }
  // HEAD gets the head alone, and the connection stays in step.
  ASSERT_TRUE(client.Write("HEAD /plain HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  Response head = client.ReadResponse(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length").value_or(""), "10");
  EXPECT_EQ(Get(client, "a.test", "/plain").body, "plain body");
  // "Connection: close" is honoured: the answer says so and the connection ends.
  Response last = Get(client, "a.test", "/plain", "Connection: close\r\n");
  EXPECT_EQ(last.body, "plain body");
  EXPECT_EQ(last.Header("Connection").value_or(""), "close");
  EXPECT_TRUE(client.PeerClosed());
}

TEST_F(GatewayTest, KeepsClientAndOriginConnectionsAlive) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  for (int i = 0; i < 20; ++i) {
    Response r = Get(client, "a.test", "/n" + std::to_string(i));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "origin ok /n" + std::to_string(i));
  }
  // One client connection, served sequentially: the origin saw one pooled connection.
  EXPECT_EQ(origin_.connections(), 1);
}

TEST_F(GatewayTest, PrefixesTheOriginBasePathAndMatchesWildcardNames) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "b.test")) << client.error();
  Response r = Get(client, "b.test", "/x?y=1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "origin ok /base/x?y=1");
  EXPECT_FALSE(r.Header("Strict-Transport-Security").has_value());
}

TEST_F(GatewayTest, AnswersMisdirectedRequestForAnotherSitesHost) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "b.test", "/");
  EXPECT_EQ(r.status, 421);
  // The connection stays usable for its own site.
  EXPECT_EQ(Get(client, "a.test:443", "/ok").status, 200);
}

TEST_F(GatewayTest, RoutesAbsoluteFormOnItsAuthorityAndForwardsOriginForm) {
  StartGateway();
  Client b;
  ASSERT_TRUE(b.ConnectTls(gateway_->HttpsPort(), "b.test")) << b.error();
  // RFC 9112 §3.2.2: the target's authority replaces Host; the origin gets origin-form.
  Response r = Get(b, "b.test", "https://B.test/x?y=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "origin ok /base/x?y=1");
  EXPECT_EQ(Get(b, "b.test", "http://b.test").body, "origin ok /base/");
  Client a;
  ASSERT_TRUE(a.ConnectTls(gateway_->HttpsPort(), "a.test")) << a.error();
  // Host names this connection's site, the target another one: the target decides, 421.
  EXPECT_EQ(Get(a, "a.test", "http://b.test/x").status, 421);
  Response echoed = Get(a, "b.test", "http://a.test/echo-headers");
  EXPECT_EQ(echoed.status, 200);
  EXPECT_NE(echoed.body.find("GET /echo-headers HTTP/1.1\r\n"), std::string::npos) << echoed.body;
  EXPECT_NE(echoed.body.find("\r\nHost: a.test\r\n"), std::string::npos) << echoed.body;
  // The gateway is no forward proxy: CONNECT is 405; authority-form for another method, the
  // asterisk-form for anything but OPTIONS, and other schemes are 400.
  ASSERT_TRUE(a.Write("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"));
  EXPECT_EQ(a.ReadResponse().status, 405);
  EXPECT_EQ(Get(a, "a.test", "a.test:443").status, 400);
  EXPECT_EQ(Get(a, "a.test", "*").status, 400);
  EXPECT_EQ(Get(a, "a.test", "ftp://a.test/x").status, 400);
  EXPECT_EQ(Get(a, "a.test", "http://user@a.test/x").status, 400);
  ASSERT_TRUE(a.Write("OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  Response options = a.ReadResponse();
  EXPECT_EQ(options.status, 200);
  EXPECT_EQ(options.body, "origin ok *");
  // On the HTTP listener the redirect keeps the absolute-form target's path.
  Client plain;
  ASSERT_TRUE(plain.ConnectPlain(gateway_->HttpPort()));
  Response redirect = Get(plain, "a.test", "http://a.test/path?q=1");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.Header("Location").value_or(""),
            "https://a.test:" + std::to_string(gateway_->HttpsPort()) + "/path?q=1");
}

TEST_F(GatewayTest, RefusesOversizedHeadersWith431) {
  GatewayOptions options;
  options.max_header_bytes = 4096;
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/", "X-Big: " + std::string(8000, 'x') + "\r\n");
  EXPECT_EQ(r.status, 431);
}

TEST_F(GatewayTest, RefusesAmbiguousRequestFraming) {
  StartGateway();
  // RFC 9112 §6.3: Transfer-Encoding without chunked last, or with Content-Length: 400, closed.
  for (const char* framing :
       {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: 5, 6\r\n"}) {
    Client client;
    ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
    ASSERT_TRUE(client.Write(std::string("POST /upload HTTP/1.1\r\nHost: a.test\r\n") + framing +
                             "\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n"));
    Response r = client.ReadResponse();
    EXPECT_EQ(r.status, 400) << framing;
    EXPECT_TRUE(client.PeerClosed()) << framing;
  }
  EXPECT_EQ(origin_.requests(), 0);
}

TEST_F(GatewayTest, ForwardsARepeatedIdenticalContentLengthOnce) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("POST /echo-headers HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
                   "Content-Length: 5\r\n\r\nhello"));
  Response r = client.ReadResponse();
  ASSERT_EQ(r.status, 200);
  std::string seen = r.body;
  for (char& c : seen) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  size_t first = seen.find("content-length:");
  ASSERT_NE(first, std::string::npos) << r.body;
  EXPECT_EQ(seen.find("content-length:", first + 1), std::string::npos) << r.body;
  EXPECT_NE(seen.find("content-length: 5\r\n"), std::string::npos) << r.body;
  // A transfer coding the gateway cannot pass on before chunked: 501 (RFC 9112 §6.1), closed.
  Client coded;
  ASSERT_TRUE(coded.ConnectTls(gateway_->HttpsPort(), "a.test")) << coded.error();
  ASSERT_TRUE(
      coded.Write("POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n"
                  "\r\n0\r\n\r\n"));
  EXPECT_EQ(coded.ReadResponse().status, 501);
  EXPECT_TRUE(coded.PeerClosed());
}

TEST_F(GatewayTest, KeepsFramingAndHostWhateverConnectionNames) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("POST /upload HTTP/1.1\r\nHost: a.test\r\n"
                   "Connection: content-length, host\r\nContent-Length: 5\r\n\r\nhello"));
  Response r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "received 5");
  EXPECT_EQ(origin_.requests(), 1);
}

TEST_F(GatewayTest, AnswersBadGatewayWhenTheOriginIsDown) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "down.test")) << client.error();
  Response r = Get(client, "down.test", "/");
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("502 Bad Gateway"), std::string::npos);
  EXPECT_EQ(r.Header("Content-Type").value_or(""), "text/html; charset=utf-8");
  // Still keep-alive: a second request on the same connection gets its answer too.
  EXPECT_EQ(Get(client, "down.test", "/").status, 502);
}

TEST_F(GatewayTest, AnswersHeadWithoutContentWhenTheGatewayAnswersItself) {
  // RFC 9110 §9.3.2: no content in a response to HEAD. A page sent anyway would be read as the
  // start of the next response on the connection.
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "down.test")) << client.error();
  auto head = [&](const std::string& host, const std::string& extra) {
    EXPECT_TRUE(client.Write("HEAD /x HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n"));
    return client.ReadResponse(/*head=*/true);
  };
  Response fast = head("down.test", "");  // the fast path's 502
  EXPECT_EQ(fast.status, 502);
  EXPECT_NE(fast.Header("Content-Length").value_or("0"), "0");  // the length a GET would get
  // A Connection option leaves the request to the general path.
  EXPECT_EQ(head("down.test", "X-Opt: 1\r\nConnection: x-opt\r\n").status, 502);
  EXPECT_EQ(head("a.test", "").status, 421);  // another site's name on this connection
  Response get = Get(client, "down.test", "/");
  EXPECT_EQ(get.status, 502);
  EXPECT_NE(get.body.find("502 Bad Gateway"), std::string::npos) << get.body;
  EXPECT_EQ(get.Header("Content-Length").value_or(""), fast.Header("Content-Length").value_or(""));

  Client plain;  // the HTTP listener's redirect
  ASSERT_TRUE(plain.ConnectPlain(gateway_->HttpPort()));
  ASSERT_TRUE(plain.Write("HEAD / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  EXPECT_EQ(plain.ReadResponse(/*head=*/true).status, 301);
  Response redirect = Get(plain, "a.test", "/");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.body, "Moved to HTTPS\n");
}

TEST_F(GatewayTest, AnswersGatewayTimeoutWhenTheOriginIsSlow) {
  GatewayOptions options;
  options.origin_read_timeout = std::chrono::milliseconds(500);
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/slow");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("504 Gateway Timeout"), std::string::npos);
}

TEST_F(GatewayTest, WaitsForTheOriginBeyondTheHeaderTimeout) {
  // header_timeout < the origin's delay < origin_read_timeout: the client gets the answer.
  GatewayOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.origin_read_timeout = std::chrono::seconds(20);
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/sleep?ms=4000");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slept");
}

TEST_F(GatewayTest, DeliversTheGatewayTimeoutAfterTheHeaderTimeout) {
  // header_timeout < origin_read_timeout < the origin's delay: the 504 reaches the client.
  GatewayOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.origin_read_timeout = std::chrono::seconds(4);
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/sleep?ms=20000");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("504 Gateway Timeout"), std::string::npos);
}

TEST_F(GatewayTest, RetriesOnlyIdempotentRequestsOnAClosedPooledConnection) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  // The origin closes a pooled connection behind its answer: the next GET finds it closed and
  // is retried on a fresh connection.
  ASSERT_EQ(Get(client, "a.test", "/reply-then-close").status, 200);
  Response again = Get(client, "a.test", "/after-close");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, "origin ok /after-close");
  EXPECT_EQ(origin_.requests(), 2);  // the first try never reached the closing origin's parser
  // A POST (no body) that the origin drops on a pooled connection is not sent again (RFC 9110
  // §9.2.2): the origin may have acted on it.
  ASSERT_EQ(Get(client, "a.test", "/warm").status, 200);
  ASSERT_TRUE(
      client.Write("POST /close-on-post HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 502);
  EXPECT_EQ(origin_.requests(), 4);
}

// An origin that sends more than the response it framed: those bytes answer no request, and the
// pooled connection holding them must not carry the next one, of any site on that origin. The
// plain listener serves a.test and b.test on one client connection, so from one I/O thread's
// origin connection pool.
TEST_F(GatewayTest, NeverPassesOnBytesAnOriginSentBehindItsResponse) {
  Client client;
  ASSERT_NO_FATAL_FAILURE(StartPlainProxy(client));
  // Right behind a chunked response (read by the general path), in the same write.
  EXPECT_EQ(Get(client, "a.test", "/extra-now").body, "ok");
  EXPECT_EQ(Get(client, "a.test", "/one").body, "origin ok /one");
  EXPECT_EQ(Get(client, "b.test", "/two").body, "origin ok /base/two");
}

TEST_F(GatewayTest, NeverPassesOnBytesAnOriginSentAfterItsResponse) {
  Client client;
  ASSERT_NO_FATAL_FAILURE(StartPlainProxy(client));
  // Once the response has gone out (the fast path) and its connection is back in the pool.
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(Get(client, "a.test", "/extra-later").body, "ok");
    ASSERT_TRUE(testing::Eventually([&] { return origin_.unasked_sent() == i; }));
    EXPECT_EQ(Get(client, i == 1 ? "a.test" : "b.test", "/next").body,
              i == 1 ? "origin ok /next" : "origin ok /base/next");
  }
}

TEST_F(GatewayTest, RelaysChunkedBodiesBothWays) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n"
                   "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  Response up = client.ReadResponse();
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, "received 11");
  Response down = Get(client, "a.test", "/chunked");
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.Header("Transfer-Encoding").value_or(""), "chunked");
  EXPECT_EQ(down.body, "hello, chunked world");
  // A close-delimited origin body reaches an HTTP/1.1 client chunked, on a kept connection.
  Response close_delimited = Get(client, "a.test", "/close-delimited");
  EXPECT_EQ(close_delimited.status, 200);
  EXPECT_EQ(close_delimited.body, "until the end");
  EXPECT_EQ(Get(client, "a.test", "/after").status, 200);
}

TEST_F(GatewayTest, AnswersExpectContinueBeforeTheBody) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("PUT /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n"
                   "Expect: 100-continue\r\n\r\n"));
  Response interim = client.ReadResponse();
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(client.Write("data"));
  Response final_response = client.ReadResponse();
  EXPECT_EQ(final_response.status, 200);
  EXPECT_EQ(final_response.body, "received 4");
}

TEST_F(GatewayTest, PassesWebSocketUpgradesThrough) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  Response r = client.ReadResponse(/*head=*/true);
  ASSERT_EQ(r.status, 101);
  EXPECT_EQ(r.Header("Upgrade").value_or(""), "websocket");
  std::string message = "\x81\x05hello";  // bytes of a frame; the tunnel does not parse them
  ASSERT_TRUE(client.Write(message));
  std::string echoed;
  while (echoed.size() < message.size()) {
    std::string more = client.ReadSome();
    ASSERT_FALSE(more.empty());
    echoed += more;
  }
  EXPECT_EQ(echoed, message);
}

TEST_F(GatewayTest, ClosesAnIdleTunnelOnBothSides) {
  // The origin accepts the upgrade, then neither reads nor writes. The client sends until every
  // buffer on the way is full, so one direction waits on a write to the origin and the other on
  // a read from it: the idle timeout must end both, and Stop() must not wait for the drain.
  GatewayOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  options.shutdown_timeout = std::chrono::seconds(40);
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(
      client.Write("GET /ws-silent HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\n\r\n"));
  Response r = client.ReadResponse(/*head=*/true);
  ASSERT_EQ(r.status, 101);
  std::thread writer([&] {
    std::string block(1 << 16, 'w');
    while (client.Write(block)) {
    }
  });
  EXPECT_TRUE(testing::Eventually([&] {
    return metrics_.RenderPrometheus().find("autoseal_gateway_open_connections 0\n") !=
           std::string::npos;
  }));
  auto start = std::chrono::steady_clock::now();
  gateway_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  writer.join();
}

TEST_F(GatewayTest, StreamsLargeBodiesBothWaysInBoundedMemory) {
  StartGateway();
  constexpr uint64_t kSize = 200ull << 20;
  uint64_t before = testing::PeakRss();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(client.Write("POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: " +
                           std::to_string(kSize) + "\r\n\r\n"));
  std::string block(1 << 16, 'u');
  for (uint64_t sent = 0; sent < kSize; sent += block.size()) ASSERT_TRUE(client.Write(block));
  Response up = client.ReadResponse();
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, "received " + std::to_string(kSize));
  ASSERT_TRUE(client.Write("GET /download?n=" + std::to_string(kSize) +
                           " HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  Response down = client.ReadResponse(false, /*discard_body=*/true);
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(client.body_bytes, kSize);
  // Gateway, origin and client share this process: all of them together grew far less than
  // one body.
  EXPECT_LT(testing::PeakRss() - before, 64ull << 20);
}

TEST_F(GatewayTest, SwapsInARenewedCertificateWithoutDroppingAConnection) {
  StartGateway();
  Client downloading;
  ASSERT_TRUE(downloading.ConnectTls(gateway_->HttpsPort(), "a.test")) << downloading.error();
  const std::string old_fingerprint = downloading.PeerFingerprint();
  constexpr uint64_t kSize = 64ull << 20;
  ASSERT_TRUE(downloading.Write("GET /download?n=" + std::to_string(kSize) +
                                " HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  std::string started = downloading.ReadSome();  // the download is under way
  ASSERT_FALSE(started.empty());

  auto renewed = MakeCertifiedKey(crypto::KeyType::kEcdsaP256, {"a.test"});
  source_.Set("a.test", "a", {renewed, a_rsa_});
  Client fresh;
  ASSERT_TRUE(fresh.ConnectTls(gateway_->HttpsPort(), "a.test")) << fresh.error();
  EXPECT_EQ(fresh.PeerFingerprint(), testing::Fingerprint(*renewed));
  EXPECT_NE(fresh.PeerFingerprint(), old_fingerprint);
  EXPECT_EQ(Get(fresh, "a.test", "/").status, 200);

  // The old connection finishes its download and serves another request.
  uint64_t got = started.size() - std::min(started.size(), started.find("\r\n\r\n") + 4);
  while (got < kSize) {
    std::string more = downloading.ReadSome();
    ASSERT_FALSE(more.empty()) << "download cut at " << got;
    got += more.size();
  }
  EXPECT_EQ(got, kSize);
  EXPECT_EQ(Get(downloading, "a.test", "/again").status, 200);
}

TEST_F(GatewayTest, RedirectsPlainHttpToHttpsAndAnswersHttp01) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectPlain(gateway_->HttpPort()));
  Response r = Get(client, "a.test", "/path?q=1");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.Header("Location").value_or(""),
            "https://a.test:" + std::to_string(gateway_->HttpsPort()) + "/path?q=1");
  ASSERT_TRUE(client.Write("POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 308);
  Response token = Get(client, "a.test", "/.well-known/acme-challenge/tok-123_abc");
  EXPECT_EQ(token.status, 200);
  EXPECT_EQ(token.body, "tok-123_abc.thumbprint");
  EXPECT_EQ(Get(client, "a.test", "/.well-known/acme-challenge/unknown").status, 404);
  EXPECT_EQ(Get(client, "unknown.test", "/").status, 404);
}

TEST_F(GatewayTest, ProxiesPlainHttpWhenRedirectsAreOff) {
  // Behind another TLS terminator the HTTP listener proxies; plain GETs take the fast path over
  // the bare socket, and the ACME challenge path is still answered by the gateway itself.
  GatewayOptions options;
  options.redirect_http = false;
  StartGateway(options);
  Client client;
  ASSERT_TRUE(client.ConnectPlain(gateway_->HttpPort()));
  for (int i = 0; i < 3; ++i) {
    Response r = Get(client, "a.test", "/plain");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "plain body");
    // HSTS belongs to HTTPS responses only (RFC 6797 §7.2): the origin's own field passes.
    EXPECT_EQ(r.Header("Strict-Transport-Security").value_or(""), "max-age=1");
  }
  Response echo = Get(client, "a.test", "/echo-headers");
  ASSERT_EQ(echo.status, 200);
  EXPECT_NE(echo.body.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("Forwarded: for=127.0.0.1;host=a.test;proto=http\r\n"),
            std::string::npos)
      << echo.body;
  Response token = Get(client, "a.test", "/.well-known/acme-challenge/tok-123_abc");
  EXPECT_EQ(token.status, 200);
  EXPECT_EQ(token.body, "tok-123_abc.thumbprint");
  EXPECT_EQ(Get(client, "a.test", "/after").body, "origin ok /after");
}

TEST_F(GatewayTest, ServesMetricsOnTheAdminListener) {
  StartGateway();
  {
    Client client;
    ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
    ASSERT_EQ(Get(client, "a.test", "/").status, 200);
    Client down;
    ASSERT_TRUE(down.ConnectTls(gateway_->HttpsPort(), "down.test")) << down.error();
    ASSERT_EQ(Get(down, "down.test", "/").status, 502);
  }
  Client admin;
  ASSERT_TRUE(admin.ConnectPlain(gateway_->AdminPort()));
  Response health = Get(admin, "localhost", "/healthz");
  EXPECT_EQ(health.status, 200);
  // Requests are counted once their last byte is written, so the scrape may run a bit ahead.
  Response m;
  testing::Eventually([&] {
    m = Get(admin, "localhost", "/metrics");
    return m.body.find("site=\"down\",code=\"5xx\"} 1") != std::string::npos &&
           m.body.find("site=\"a\",code=\"2xx\"} 1") != std::string::npos;
  });
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("autoseal_gateway_requests_total{site=\"a\",code=\"2xx\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("autoseal_gateway_requests_total{site=\"down\",code=\"5xx\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("autoseal_gateway_upstream_errors_total{kind=\"connect\"} 1\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("autoseal_gateway_request_duration_seconds_count{site=\"a\"} 1\n"),
            std::string::npos)
      << m.body;
}

TEST_F(GatewayTest, ReplacedSitesApplyToNewRequests) {
  StartGateway();
  std::vector<SiteConfig> sites = Sites();
  sites[0].hsts.max_age = std::chrono::seconds(42);
  sites[0].hsts.include_subdomains = false;
  ASSERT_TRUE(gateway_->ReplaceSites(sites).has_value());
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  Response r = Get(client, "a.test", "/");
  EXPECT_EQ(r.Header("Strict-Transport-Security").value_or(""), "max-age=42");
  sites[0].origin = "ftp://nope";
  EXPECT_FALSE(gateway_->ReplaceSites(sites).has_value());
  EXPECT_EQ(Get(client, "a.test", "/").status, 200);
}

TEST_F(GatewayTest, AnswersRequestsInFlightWhileSitesAreReplaced) {
  // A reload frees the previous site table once no request holds it. Freed memory is overwritten
  // (glibc's M_PERTURB) so that a request still reading a replaced Site fails here even without
  // a sanitizer.
  mallopt(M_PERTURB, 0xa5);
  StartGateway();
  const std::vector<SiteConfig> sites = Sites();
  std::atomic<bool> done{false};
  std::thread reloader([&] {
    while (!done) {
      EXPECT_TRUE(gateway_->ReplaceSites(sites).has_value());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  // Several keep-alive connections per I/O thread, each waiting on a slow origin while the
  // others' requests pick up new tables; half of the requests take the general path.
  std::atomic<int> right{0};
  std::vector<std::thread> clients;
  constexpr int kClients = 6, kRequests = 20;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      Client client;
      if (!client.ConnectTls(gateway_->HttpsPort(), "a.test")) return;
      for (int i = 0; i < kRequests; ++i) {
        Response r = Get(client, "a.test", "/sleep?ms=20",
                         i % 2 == 0 ? "" : "X-Opt: 1\r\nConnection: x-opt\r\n");
        if (r.status != 200 || r.body != "slept" ||
            r.Header("Strict-Transport-Security") != "max-age=600; includeSubDomains") {
          return;
        }
        ++right;
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  reloader.join();
  mallopt(M_PERTURB, 0);
  EXPECT_EQ(right.load(), kClients * kRequests);
}

TEST_F(GatewayTest, StopLetsAnInFlightRequestFinish) {
  StartGateway();
  Client client;
  ASSERT_TRUE(client.ConnectTls(gateway_->HttpsPort(), "a.test")) << client.error();
  ASSERT_TRUE(client.Write("GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  ASSERT_TRUE(testing::Eventually([&] { return origin_.requests() == 1; }));
  std::thread stopper([&] { gateway_->Stop(); });
  Response r = client.ReadResponse();
  stopper.join();
  // The slow origin answers after the 1.5 s read timeout set by StartGateway: 504, sent during
  // the drain and marked as the connection's last.
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.Header("Connection").value_or(""), "close");
}

TEST_F(GatewayTest, ClosesIdleKeepAliveConnections) {
  GatewayOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  StartGateway(options);
  Client idle;
  ASSERT_TRUE(idle.ConnectTls(gateway_->HttpsPort(), "a.test")) << idle.error();
  ASSERT_EQ(Get(idle, "a.test", "/").status, 200);
  EXPECT_TRUE(idle.PeerClosed());  // closed after 300 ms without a next request
}

TEST_F(GatewayTest, ClosesConnectionsWhoseHeaderNeverCompletes) {
  GatewayOptions options;
  options.header_timeout = std::chrono::milliseconds(500);
  StartGateway(options);
  Client slowloris;
  ASSERT_TRUE(slowloris.ConnectTls(gateway_->HttpsPort(), "a.test")) << slowloris.error();
  slowloris.Write("GET / HTTP/1.1\r\nHost: a.test\r\nX-Slow: ");
  EXPECT_TRUE(slowloris.PeerClosed());  // the header never completed
}

TEST_F(GatewayTest, ATimedOutConnectionNeverTouchesTheNextConnectionsDescriptor) {
  // A's client deadline passes while its coroutine waits for the rest of the origin's body; the
  // sweep ends A's client side. B then connects and may get A's old descriptor number. When the
  // origin resumes, A's coroutine must not write its TLS records into (or read from) B's socket.
  GatewayOptions options;
  options.client_io_timeout = std::chrono::seconds(1);
  options.origin_read_timeout = std::chrono::seconds(20);
  StartGateway(options);
  Client a;
  ASSERT_TRUE(a.ConnectTls(gateway_->HttpsPort(), "a.test")) << a.error();
  ASSERT_TRUE(a.Write("GET /stall-body?ms=5000 HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  const auto origin_resumes = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos ||
         got.size() - got.find("\r\n\r\n") - 4 < 32768) {
    std::string more = a.ReadSome();
    ASSERT_FALSE(more.empty());
    got += more;
  }
  // The rest of what the origin sent before it stalled may follow; then the gateway closes,
  // after client_io_timeout, long before the origin resumes.
  for (std::string more = a.ReadSome(); !more.empty(); more = a.ReadSome()) got += more;
  EXPECT_TRUE(a.PeerClosed());
  EXPECT_LT(std::chrono::steady_clock::now(), origin_resumes);
  EXPECT_EQ(got.find("later"), std::string::npos);
  a.Close();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>());
    ASSERT_TRUE(clients.back()->ConnectTls(gateway_->HttpsPort(), "a.test"))
        << clients.back()->error();
  }
  // Let A's coroutine resume and finish (or fail) its write while the new connections idle.
  std::this_thread::sleep_until(origin_resumes + std::chrono::seconds(1));
  for (auto& b : clients) {
    Response r = Get(*b, "a.test", "/b");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "origin ok /b");
  }
}

TEST_F(GatewayTest, RefusesTlcpAndNonTlsClientsBeforeOpenSsl) {
  StartGateway();
  // A TLCP ClientHello record header (GB/T 38636-2020: record version 0x0101).
  Client tlcp;
  ASSERT_TRUE(tlcp.ConnectPlain(gateway_->HttpsPort()));
  ASSERT_TRUE(tlcp.Write(std::string("\x16\x01\x01\x00\x30", 5) + std::string(0x30, '\0')));
  EXPECT_TRUE(tlcp.PeerClosed());
  Client plain;
  ASSERT_TRUE(plain.ConnectPlain(gateway_->HttpsPort()));
  ASSERT_TRUE(plain.Write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  EXPECT_TRUE(plain.PeerClosed());
  EXPECT_TRUE(testing::Eventually([&] {
    return metrics_.RenderPrometheus().find("autoseal_gateway_tls_handshake_failures_total 2\n") !=
           std::string::npos;
  }));
}

TEST_F(GatewayTest, RefusesConnectionsBeyondTheLimit) {
  GatewayOptions options;
  options.max_connections = 1;
  StartGateway(options);
  Client first;
  ASSERT_TRUE(first.ConnectTls(gateway_->HttpsPort(), "a.test")) << first.error();
  ASSERT_EQ(Get(first, "a.test", "/").status, 200);
  Client second;
  EXPECT_FALSE(second.ConnectTls(gateway_->HttpsPort(), "a.test"));
  first.Close();
  EXPECT_TRUE(testing::Eventually([&] {
    Client third;
    return third.ConnectTls(gateway_->HttpsPort(), "a.test");
  }));
}

TEST(GatewayCreateTest, RefusesBadSitesAndOptions) {
  testing::StaticCertificateSource source;
  testing::StaticChallenges challenges;
  GatewayOptions options;
  options.http_address = "127.0.0.1:0";
  options.https_address = "127.0.0.1:0";
  SiteConfig bad{.name = "x", .server_names = {"X.test"}, .origin = "http://127.0.0.1:1"};
  auto r = Gateway::Create(options, {bad}, &source, &challenges, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("X.test"), std::string::npos) << r.error().message();
  SiteConfig good{.name = "x", .server_names = {"x.test"}, .origin = "http://127.0.0.1:1"};
  options.default_site = "y";
  r = Gateway::Create(options, {good}, &source, &challenges, nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("\"y\""), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace autoseal::gateway
