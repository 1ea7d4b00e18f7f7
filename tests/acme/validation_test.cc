// Tests for the validation authority against real servers on 127.0.0.1: pebble-challtestsrv
// (Debian package `pebble`) as DNS server and challenge responder, plus in-test HTTP and TLS
// responders for the misbehaviours challtestsrv cannot produce. Every server gets a free port and
// is stopped by PID (or joined) at the end.

#include "acme/server/validation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "challtestsrv.h"
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "acme/server/internal/caa.h"
#include "core/bytes.h"
#include "crypto/digest.h"

namespace autoseal::acme::server {
namespace {

using ::testing::HasSubstr;
using test_support::CanConnect;
using test_support::ChallTestSrv;
using test_support::FreePort;
using test_support::RoundTrip;

constexpr char kKeyAuthorization[] =
    "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

std::string Sha256Base64Url(std::string_view s) {
  return Base64UrlEncode(crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(s)));
}

// A listening TCP socket on 127.0.0.1 (port 0: any).
int Listen(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot listen on 127.0.0.1";
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A plain HTTP/1.1 responder on 127.0.0.1: answers every request with respond(path), records the
// Host headers it saw. Joined at the end.
class HttpResponder {
 public:
  explicit HttpResponder(std::function<std::string(const std::string& path)> respond)
      : respond_(std::move(respond)) {
    fd_ = Listen(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpResponder() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> hosts() {
    std::lock_guard lock(mu_);
    return hosts_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      std::string request;
      char buf[2048];
      ssize_t n;
      timeval tv{2, 0};
      setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      while (request.find("\r\n\r\n") == std::string::npos &&
             (n = read(conn, buf, sizeof buf)) > 0) {
        request.append(buf, static_cast<size_t>(n));
      }
      std::string path = request.substr(4, request.find(' ', 4) - 4);
      size_t host_at = request.find("\r\nHost: ");
      if (host_at != std::string::npos) {
        std::lock_guard lock(mu_);
        hosts_.push_back(
            request.substr(host_at + 8, request.find("\r\n", host_at + 8) - host_at - 8));
      }
      std::string response = respond_(path);
      (void)!write(conn, response.data(), response.size());
      close(conn);
    }
  }

  std::function<std::string(const std::string&)> respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> hosts_;
};

std::string HttpResponse(int status, const std::string& reason, const std::string& body,
                         const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// A self-signed certificate as a TLS-ALPN-01 responder would make it (RFC 8737 §3), with knobs
// to get it wrong.
struct ChallengeCert {
  std::vector<std::string> dns_names;
  bool with_extension = true;
  bool critical = true;
  Bytes digest;
};

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~KeyAndCert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

void MakeCertificate(const ChallengeCert& spec, KeyAndCert& out) {
  out.key = EVP_EC_gen("P-256");
  ASSERT_NE(out.key, nullptr);
  out.cert = X509_new();
  X509_set_version(out.cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), 1729);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 3600);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("acme challenge"), -1, -1, 0);
  X509_set_issuer_name(out.cert, name);
  if (!spec.dns_names.empty()) {
    std::string san;
    for (const auto& n : spec.dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    ASSERT_NE(ext, nullptr);
    X509_add_ext(out.cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (spec.with_extension) {
    ASN1_OCTET_STRING* inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(inner, spec.digest.data(), static_cast<int>(spec.digest.size()));
    unsigned char* der = nullptr;
    int der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(value, der, der_len);
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, spec.critical ? 1 : 0, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(out.cert, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(value);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(inner);
  }
  ASSERT_GT(X509_sign(out.cert, out.key, EVP_sha256()), 0);
}

// A TLS responder on 127.0.0.1 serving one certificate; negotiates "acme-tls/1" only when told.
class TlsResponder {
 public:
  TlsResponder(const ChallengeCert& spec, bool negotiate_acme_alpn) : alpn_(negotiate_acme_alpn) {
    MakeCertificate(spec, cert_);
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert_.cert);
    SSL_CTX_use_PrivateKey(ctx_, cert_.key);
    if (alpn_) {
      SSL_CTX_set_alpn_select_cb(
          ctx_,
          [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
             unsigned int inlen, void*) {
            unsigned char* selected = nullptr;
            static const unsigned char kOffer[] =
                "\x0a"
                "acme-tls/1";
            if (SSL_select_next_proto(&selected, outlen, kOffer, sizeof kOffer - 1, in, inlen) !=
                OPENSSL_NPN_NEGOTIATED) {
              return SSL_TLSEXT_ERR_ALERT_FATAL;
            }
            *out = selected;
            return SSL_TLSEXT_ERR_OK;
          },
          nullptr);
    }
    fd_ = Listen(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsResponder() {
    stop_ = true;
    thread_.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      timeval tv{2, 0};
      setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, conn);
      if (SSL_accept(ssl) == 1) {
        char buf[64];
        SSL_read(ssl, buf, sizeof buf);  // until the client closes
      }
      SSL_free(ssl);
      close(conn);
    }
  }

  bool alpn_;
  KeyAndCert cert_;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The in-test responders write to sockets the validator may already have closed.
    signal(SIGPIPE, SIG_IGN);
    srv_ = new ChallTestSrv();
  }
  static void TearDownTestSuite() {
    delete srv_;
    srv_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(srv_->ready()) << "pebble-challtestsrv did not start (install the Debian package "
                                  "`pebble`, e.g. via scripts/install-deps)";
  }

  ValidationOptions Options() const {
    ValidationOptions options;
    options.dns_server = srv_->dns_server();
    options.http01_port = srv_->http_port();
    options.tlsalpn01_port = srv_->tlsalpn_port();
    options.timeout = std::chrono::milliseconds(3000);
    options.caa_identities = {"autoseal.example"};
    return options;
  }

  static std::unique_ptr<Validator> Make(const ValidationOptions& options) {
    auto validator = Validator::Create(options);
    EXPECT_TRUE(validator.has_value()) << validator.error().message();
    return validator ? std::move(*validator) : nullptr;
  }

  static Identifier Dns(std::string name) { return Identifier{"dns", std::move(name)}; }

  static ChallTestSrv* srv_;
};

ChallTestSrv* ValidationTest::srv_ = nullptr;

// ---------------------------------------------------------------------------------------------
// http-01

TEST_F(ValidationTest, Http01AcceptsTheKeyAuthorizationWithTrailingWhitespace) {
  ASSERT_TRUE(srv_->Post("/add-http01", std::string(R"({"token":"tok-ok","content":")") +
                                            kKeyAuthorization + R"(\r\n"})"));
  auto problem = Make(Options())->ValidateHttp01(Dns("ok.http.test"), "tok-ok", kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, Http01ConnectsToIpIdentifiersDirectly) {
  ASSERT_TRUE(srv_->Post("/add-http01", std::string(R"({"token":"tok-ip","content":")") +
                                            kKeyAuthorization + R"("})"));
  auto problem =
      Make(Options())->ValidateHttp01(Identifier{"ip", "127.0.0.1"}, "tok-ip", kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, Http01ReportsAWrongBody) {
  ASSERT_TRUE(srv_->Post("/add-http01", R"({"token":"tok-wrong","content":"abc"})"));
  auto problem =
      Make(Options())->ValidateHttp01(Dns("wrong.http.test"), "tok-wrong", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kIncorrectResponse);
  EXPECT_THAT(problem->detail,
              HasSubstr("the response body was \"abc\" (3 bytes), expected the key authorization"));
}

TEST_F(ValidationTest, Http01Reports404AndSendsTheIdentifierAsHost) {
  HttpResponder responder(
      [](const std::string&) { return HttpResponse(404, "Not Found", "nope"); });
  ValidationOptions options = Options();
  options.http01_port = responder.port();
  auto problem =
      Make(options)->ValidateHttp01(Dns("Missing.HTTP.test"), "tok404", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kUnauthorized);
  EXPECT_THAT(problem->detail, HasSubstr("/.well-known/acme-challenge/tok404 answered HTTP 404"));
  EXPECT_THAT(responder.hosts(), ::testing::ElementsAre("missing.http.test"));
}

TEST_F(ValidationTest, Http01ReportsConnectionRefused) {
  ValidationOptions options = Options();
  options.http01_port = FreePort();  // nobody listens there
  auto problem = Make(options)->ValidateHttp01(Dns("refused.http.test"), "t", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kConnection);
  EXPECT_THAT(problem->detail,
              HasSubstr("connection refused by 127.0.0.1:" + std::to_string(options.http01_port)));
}

TEST_F(ValidationTest, Http01GivesUpOnAServerThatNeverAnswers) {
  uint16_t port = 0;
  int fd = Listen(&port);  // the kernel completes the handshake; nobody ever reads or writes
  ValidationOptions options = Options();
  options.http01_port = port;
  options.timeout = std::chrono::milliseconds(700);
  auto start = std::chrono::steady_clock::now();
  auto problem = Make(options)->ValidateHttp01(Dns("silent.http.test"), "t", kKeyAuthorization);
  auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kConnection);
  EXPECT_THAT(problem->detail, HasSubstr("within the validation timeout (700 ms)"));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(ValidationTest, Http01DetectsARedirectLoop) {
  uint16_t port = 0;
  HttpResponder responder([&port](const std::string& path) {
    return HttpResponse(302, "Found", "",
                        "Location: http://loop.http.test:" + std::to_string(port) + path + "\r\n");
  });
  port = responder.port();
  ValidationOptions options = Options();
  options.http01_port = port;
  auto problem = Make(options)->ValidateHttp01(Dns("loop.http.test"), "tokloop", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kConnection);
  EXPECT_THAT(problem->detail, HasSubstr("redirect loop"));
}

TEST_F(ValidationTest, Http01StopsAfterTenRedirects) {
  HttpResponder responder([](const std::string& path) {
    return HttpResponse(301, "Moved", "", "Location: " + path + "x\r\n");  // relative, ever longer
  });
  ValidationOptions options = Options();
  options.http01_port = responder.port();
  auto problem = Make(options)->ValidateHttp01(Dns("many.http.test"), "tok", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail, HasSubstr("too many redirects"));
  EXPECT_EQ(responder.hosts().size(), 11u);
}

TEST_F(ValidationTest, Http01RefusesARedirectToAnotherPort) {
  HttpResponder responder([](const std::string&) {
    return HttpResponse(302, "Found", "",
                        "Location: http://badport.http.test:8081/.well-known/acme-challenge/x\r\n");
  });
  ValidationOptions options = Options();
  options.http01_port = responder.port();
  auto problem = Make(options)->ValidateHttp01(Dns("badport.http.test"), "tok", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail, HasSubstr("on port 8081; redirects may only go to ports"));
  EXPECT_EQ(responder.hosts().size(), 1u);
}

TEST_F(ValidationTest, Http01RefusesARedirectToAnotherScheme) {
  HttpResponder responder([](const std::string&) {
    return HttpResponse(302, "Found", "", "Location: ftp://ftp.http.test/x\r\n");
  });
  ValidationOptions options = Options();
  options.http01_port = responder.port();
  auto problem = Make(options)->ValidateHttp01(Dns("ftp.http.test"), "tok", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail, HasSubstr("only http and https redirects are followed"));
}

TEST_F(ValidationTest, Http01FollowsARedirectToHttpsWithoutCheckingTheCertificate) {
  // challtestsrv redirects plain HTTP and serves the token over HTTPS with a self-signed cert.
  ValidationOptions options = Options();
  options.tlsalpn01_port = srv_->https_port();  // an allowed redirect port
  std::string path = "/.well-known/acme-challenge/tok-https";
  ASSERT_TRUE(srv_->Post("/add-redirect", R"({"path":")" + path +
                                              R"(","targetURL":"https://tls.http.test:)" +
                                              std::to_string(srv_->https_port()) + path + R"("})"));
  ASSERT_TRUE(srv_->Post("/add-http01", std::string(R"({"token":"tok-https","content":")") +
                                            kKeyAuthorization + R"("})"));
  auto problem =
      Make(options)->ValidateHttp01(Dns("tls.http.test"), "tok-https", kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, Http01ReportsADnsFailure) {
  ASSERT_TRUE(srv_->Post("/set-servfail", R"({"host":"servfail.http.test."})"));
  auto problem = Make(Options())->ValidateHttp01(Dns("servfail.http.test"), "t", kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kDns);
  EXPECT_THAT(problem->detail, HasSubstr("SERVFAIL"));
}

// ---------------------------------------------------------------------------------------------
// dns-01

TEST_F(ValidationTest, Dns01FindsTheDigestAmongOtherRecords) {
  std::string digest = Sha256Base64Url(kKeyAuthorization);
  ASSERT_TRUE(srv_->Post("/set-txt", R"({"host":"_acme-challenge.ok.dns.test.","value":"other"})"));
  ASSERT_TRUE(srv_->Post("/set-txt",
                         R"({"host":"_acme-challenge.ok.dns.test.","value":")" + digest + R"("})"));
  auto problem = Make(Options())->ValidateDns01(Dns("ok.dns.test"), digest);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, Dns01LooksUnderTheWildcardsBaseName) {
  std::string digest = Sha256Base64Url(kKeyAuthorization);
  ASSERT_TRUE(srv_->Post(
      "/set-txt", R"({"host":"_acme-challenge.wild.dns.test.","value":")" + digest + R"("})"));
  auto problem = Make(Options())->ValidateDns01(Dns("*.wild.dns.test"), digest);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, Dns01ReportsAMissingRecord) {
  auto problem = Make(Options())->ValidateDns01(Dns("missing.dns.test"), "x");
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kUnauthorized);
  EXPECT_EQ(problem->detail, "no TXT record at _acme-challenge.missing.dns.test");
}

TEST_F(ValidationTest, Dns01ReportsTheValuesItSaw) {
  ASSERT_TRUE(
      srv_->Post("/set-txt", R"({"host":"_acme-challenge.wrong.dns.test.","value":"stale"})"));
  auto problem = Make(Options())->ValidateDns01(Dns("wrong.dns.test"), Sha256Base64Url("x"));
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kIncorrectResponse);
  EXPECT_THAT(problem->detail,
              HasSubstr("the TXT record at _acme-challenge.wrong.dns.test is \"stale\""));
}

TEST_F(ValidationTest, Dns01GivesUpOnADnsServerThatNeverAnswers) {
  // A UDP socket nobody reads, and no TCP listener.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ValidationOptions options = Options();
  options.dns_server = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  options.timeout = std::chrono::milliseconds(800);
  auto start = std::chrono::steady_clock::now();
  auto problem = Make(options)->ValidateDns01(Dns("silent.dns.test"), "x");
  auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kDns);
  EXPECT_THAT(problem->detail,
              HasSubstr("timed out looking up TXT for _acme-challenge.silent.dns.test"));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

// ---------------------------------------------------------------------------------------------
// tls-alpn-01

TEST_F(ValidationTest, TlsAlpn01AcceptsAChallengeCertificate) {
  ASSERT_TRUE(srv_->Post("/add-tlsalpn01", std::string(R"({"host":"ok.alpn.test","content":")") +
                                               kKeyAuthorization + R"("})"));
  auto problem = Make(Options())->ValidateTlsAlpn01(Dns("ok.alpn.test"), kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, TlsAlpn01ReportsAWrongDigest) {
  ASSERT_TRUE(srv_->Post("/add-tlsalpn01", R"({"host":"digest.alpn.test","content":"other"})"));
  auto problem = Make(Options())->ValidateTlsAlpn01(Dns("digest.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kIncorrectResponse);
  EXPECT_THAT(problem->detail, HasSubstr("acmeIdentifier extension"));
  EXPECT_THAT(problem->detail,
              HasSubstr("holds " + HexEncode(crypto::Digest(crypto::DigestAlgorithm::kSha256,
                                                            AsBytes("other")))));
}

Bytes KeyAuthorizationDigest() {
  return crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(kKeyAuthorization));
}

TEST_F(ValidationTest, TlsAlpn01AcceptsOurOwnResponder) {
  // The in-test responder is right when told to be, so the failures below are its knobs.
  TlsResponder responder({{"own.alpn.test"}, true, true, KeyAuthorizationDigest()}, true);
  ValidationOptions options = Options();
  options.tlsalpn01_port = responder.port();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("own.alpn.test"), kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, TlsAlpn01RequiresTheAcmeAlpnProtocol) {
  TlsResponder responder({{"noalpn.alpn.test"}, true, true, KeyAuthorizationDigest()}, false);
  ValidationOptions options = Options();
  options.tlsalpn01_port = responder.port();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("noalpn.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kTls);
  EXPECT_THAT(problem->detail, HasSubstr("did not negotiate the ALPN protocol \"acme-tls/1\""));
}

TEST_F(ValidationTest, TlsAlpn01RequiresTheAcmeIdentifierExtension) {
  TlsResponder responder({{"noext.alpn.test"}, false, true, {}}, true);
  ValidationOptions options = Options();
  options.tlsalpn01_port = responder.port();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("noext.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail, HasSubstr("has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)"));
}

TEST_F(ValidationTest, TlsAlpn01RequiresTheExtensionToBeCritical) {
  TlsResponder responder({{"noncrit.alpn.test"}, true, false, KeyAuthorizationDigest()}, true);
  ValidationOptions options = Options();
  options.tlsalpn01_port = responder.port();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("noncrit.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail, HasSubstr("is not marked critical"));
}

TEST_F(ValidationTest, TlsAlpn01RequiresExactlyOneMatchingSan) {
  TlsResponder responder(
      {{"two.alpn.test", "extra.alpn.test"}, true, true, KeyAuthorizationDigest()}, true);
  ValidationOptions options = Options();
  options.tlsalpn01_port = responder.port();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("two.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->detail,
              HasSubstr("subjectAltName DNS:two.alpn.test, DNS:extra.alpn.test, expected exactly "
                        "DNS:two.alpn.test"));
}

TEST_F(ValidationTest, TlsAlpn01ReportsConnectionRefused) {
  ValidationOptions options = Options();
  options.tlsalpn01_port = FreePort();
  auto problem = Make(options)->ValidateTlsAlpn01(Dns("refused.alpn.test"), kKeyAuthorization);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kConnection);
  EXPECT_THAT(problem->detail, HasSubstr("connection refused by 127.0.0.1:"));
}

// ---------------------------------------------------------------------------------------------
// CAA

TEST_F(ValidationTest, CaaAllowsWhenThereAreNoRecords) {
  auto problem = Make(Options())->CheckCaa(Dns("www.nocaa.test"), false);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, CaaAllowsWhenARecordNamesUsWithParameters) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"ours.caa.test.","policies":[
      {"tag":"issue","value":"letsencrypt.org"},
      {"tag":"issue","value":" autoseal.example; account=42"},
      {"tag":"iodef","value":"mailto:x@ours.caa.test"}]})"));
  auto problem = Make(Options())->CheckCaa(Dns("ours.caa.test"), false);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, CaaRefusesWhenRecordsNameOnlyOthers) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"other.caa.test.","policies":[
      {"tag":"issue","value":"letsencrypt.org"}]})"));
  auto problem = Make(Options())->CheckCaa(Dns("other.caa.test"), false);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kCaa);
  EXPECT_EQ(problem->detail, "CAA records for other.caa.test allow only letsencrypt.org");
}

TEST_F(ValidationTest, CaaClimbsToTheParentDomain) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"parent.caa.test.","policies":[
      {"tag":"issue","value":"letsencrypt.org"}]})"));
  auto problem = Make(Options())->CheckCaa(Dns("a.b.parent.caa.test"), false);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->detail, "CAA records for parent.caa.test allow only letsencrypt.org");
}

TEST_F(ValidationTest, CaaUsesIssuewildForWildcards) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"wild.caa.test.","policies":[
      {"tag":"issue","value":"autoseal.example"},
      {"tag":"issuewild","value":"letsencrypt.org"}]})"));
  auto validator = Make(Options());
  EXPECT_FALSE(validator->CheckCaa(Dns("wild.caa.test"), false).has_value());
  auto problem = validator->CheckCaa(Dns("wild.caa.test"), true);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->detail, "CAA issuewild records for wild.caa.test allow only letsencrypt.org");
  auto star = validator->CheckCaa(Dns("*.wild.caa.test"), false);
  ASSERT_TRUE(star.has_value());
}

TEST_F(ValidationTest, CaaFallsBackToIssueForWildcardsWithoutIssuewild) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"nowild.caa.test.","policies":[
      {"tag":"issue","value":";"}]})"));
  auto problem = Make(Options())->CheckCaa(Dns("nowild.caa.test"), true);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->detail, "CAA records for nowild.caa.test forbid issuance by any CA");
}

TEST_F(ValidationTest, CaaIgnoresUnknownNonCriticalProperties) {
  ASSERT_TRUE(srv_->Post("/add-caa", R"({"host":"tbs.caa.test.","policies":[
      {"tag":"tbs","value":"unknown"}]})"));
  auto problem = Make(Options())->CheckCaa(Dns("tbs.caa.test"), false);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
}

TEST_F(ValidationTest, CaaRefusesWhenTheLookupFails) {
  ASSERT_TRUE(srv_->Post("/set-servfail", R"({"host":"fail.caa.test."})"));
  auto problem = Make(Options())->CheckCaa(Dns("fail.caa.test"), false);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kDns);
  EXPECT_THAT(problem->detail, HasSubstr("SERVFAIL looking up CAA for fail.caa.test"));
}

// challtestsrv cannot set CAA flags, so the critical-flag rule is checked on the decision itself.
TEST(CaaDecisionTest, RefusesAnUnknownCriticalProperty) {
  std::vector<internal::CaaRecord> records = {{0, "issue", "autoseal.example"},
                                              {128, "tbs", "whatever"}};
  auto problem = internal::EvaluateCaa(records, "crit.test", false, {"autoseal.example"});
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->type, ProblemType::kCaa);
  EXPECT_THAT(problem->detail, HasSubstr("critical property \"tbs\""));
}

TEST(CaaDecisionTest, AcceptsKnownCriticalPropertiesAndCaseInsensitiveTags) {
  std::vector<internal::CaaRecord> records = {{128, "ISSUE", "AutoSeal.Example."},
                                              {128, "iodef", "mailto:a@b"}};
  EXPECT_FALSE(internal::EvaluateCaa(records, "x.test", false, {"autoseal.example"}).has_value());
}

TEST(ValidatorCreateTest, RejectsAnUnusableDnsServer) {
  ValidationOptions options;
  options.dns_server = "not a server";
  EXPECT_FALSE(Validator::Create(options).has_value());
}

}  // namespace
}  // namespace autoseal::acme::server

namespace autoseal::acme::server {
namespace {

// RFC 6761 §6.3: localhost names resolve to loopback without DNS, and have no CAA records.
// The DNS server configured here is a free port nobody answers on: any query would fail.
TEST_F(ValidationTest, LocalhostNamesResolveToLoopbackWithoutDns) {
  HttpResponder responder([](const std::string&) { return HttpResponse(200, "OK", kKeyAuthorization); });
  ValidationOptions options = Options();
  options.dns_server = "127.0.0.1:" + std::to_string(FreePort());
  options.http01_port = responder.port();
  options.timeout = std::chrono::milliseconds(2000);
  auto validator = Make(options);
  auto problem = validator->ValidateHttp01(Dns("demo.localhost"), "tok-local", kKeyAuthorization);
  EXPECT_FALSE(problem.has_value()) << problem->detail;
  EXPECT_FALSE(validator->CheckCaa(Dns("demo.localhost"), false).has_value());
  // An ordinary name still needs DNS, and the unanswering server makes it fail.
  EXPECT_TRUE(validator->ValidateHttp01(Dns("demo.example"), "tok-local", kKeyAuthorization).has_value());
}

}  // namespace
}  // namespace autoseal::acme::server
