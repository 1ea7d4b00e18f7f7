// HTTPS: HttpServer with TLS credentials, HttpFetch verifying them.

#include <gtest/gtest.h>

#include <chrono>

#include "net/client.h"
#include "net/server.h"
#include "test_util.h"

namespace autoseal::net {
namespace {

using namespace std::chrono_literals;

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

HttpRequest Get(std::string url) {
  HttpRequest request;
  request.target = std::move(url);
  return request;
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = testing::MakeTestPki("IP:127.0.0.1");
    ca_file_ = dir_.WriteFile("ca.pem", pki_.ca_cert_pem);
    HttpServerOptions options;
    options.threads = 2;
    options.tls = TlsServerOptions{
        .certificate_chain_pem = pki_.leaf_cert_pem + pki_.ca_cert_pem,
        .private_key_pem = pki_.leaf_key_pem,
    };
    auto server = HttpServer::Create(std::move(options), [](const HttpRequest& request) {
      return HttpResponse::Text(200, "secure " + request.method + " " + request.body);
    });
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_ = std::move(*server);
    server_->Start();
  }

  std::string Url(std::string_view host) const {
    return "https://" + std::string(host) + ":" + std::to_string(server_->Port()) + "/ts";
  }

  testing::TempDir dir_;
  testing::TestPki pki_;
  std::string ca_file_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpsTest, FetchSucceedsWithTheCaBundle) {
  HttpClientOptions options;
  options.ca_file = ca_file_;
  HttpRequest post = Get(Url("127.0.0.1"));
  post.method = "POST";
  post.body = "query";
  auto result = HttpFetch(post, options);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "secure POST query");

  HttpClientOptions inline_ca;
  inline_ca.ca_pem = pki_.ca_cert_pem;
  auto again = HttpFetch(Get(Url("127.0.0.1")), inline_ca);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(again->body, "secure GET ");
}

TEST_F(HttpsTest, FetchFailsVerificationWithoutTheCa) {
  auto result = HttpFetch(Get(Url("127.0.0.1")));  // system trust store only
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNetwork);
  EXPECT_TRUE(Contains(result.error().message(), "certificate verify failed"))
      << result.error().message();
  EXPECT_TRUE(Contains(result.error().message(), Url("127.0.0.1")));

  HttpClientOptions wrong_ca;
  wrong_ca.ca_pem = testing::MakeTestPki("IP:127.0.0.1").ca_cert_pem;
  auto wrong = HttpFetch(Get(Url("127.0.0.1")), wrong_ca);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_TRUE(Contains(wrong.error().message(), "certificate verify failed"))
      << wrong.error().message();
}

TEST_F(HttpsTest, FetchFailsWhenTheCertificateNamesAnotherHost) {
  HttpClientOptions options;
  options.ca_file = ca_file_;
  // The certificate is for IP 127.0.0.1 only; "localhost" is not in it.
  auto result = HttpFetch(Get(Url("localhost")), options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNetwork);
  EXPECT_TRUE(Contains(result.error().message(), "verify failed") ||
              Contains(result.error().message(), "connect"))
      << result.error().message();
}

TEST_F(HttpsTest, PlainHttpToTheTlsPortFailsWithoutHurtingTheServer) {
  HttpClientOptions quick;
  quick.timeout = 3s;
  auto plain = HttpFetch(Get("http://127.0.0.1:" + std::to_string(server_->Port()) + "/"), quick);
  EXPECT_FALSE(plain.has_value());
  HttpClientOptions options;
  options.ca_file = ca_file_;
  auto result = HttpFetch(Get(Url("127.0.0.1")), options);
  ASSERT_TRUE(result.has_value()) << result.error().message();
}

TEST_F(HttpsTest, ReloadSwapsCredentialsForNewConnections) {
  testing::TestPki next = testing::MakeTestPki("IP:127.0.0.1");
  ASSERT_TRUE(server_
                  ->ReloadTls({.certificate_chain_pem = next.leaf_cert_pem,
                               .private_key_pem = next.leaf_key_pem})
                  .has_value());
  HttpClientOptions old_ca;
  old_ca.ca_file = ca_file_;
  EXPECT_FALSE(HttpFetch(Get(Url("127.0.0.1")), old_ca).has_value());
  HttpClientOptions new_ca;
  new_ca.ca_pem = next.ca_cert_pem;
  auto result = HttpFetch(Get(Url("127.0.0.1")), new_ca);
  ASSERT_TRUE(result.has_value()) << result.error().message();

  // A key that does not match keeps the current credentials.
  auto mismatched = server_->ReloadTls(
      {.certificate_chain_pem = pki_.leaf_cert_pem, .private_key_pem = next.leaf_key_pem});
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_EQ(mismatched.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(HttpFetch(Get(Url("127.0.0.1")), new_ca).has_value());
}

TEST(HttpsServerOptionsTest, BadCredentialsFailCreate) {
  testing::TestPki pki = testing::MakeTestPki("IP:127.0.0.1");
  HttpServerOptions options;
  options.tls = TlsServerOptions{.certificate_chain_pem = "not pem", .private_key_pem = "x"};
  auto handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto bad_cert = HttpServer::Create(options, handler);
  ASSERT_FALSE(bad_cert.has_value());
  EXPECT_EQ(bad_cert.error().code(), ErrorCode::kInvalidArgument);

  options.tls = TlsServerOptions{.certificate_chain_file = "/nonexistent/chain.pem",
                                 .private_key_file = "/nonexistent/key.pem"};
  auto missing = HttpServer::Create(options, handler);
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(Contains(missing.error().message(), "/nonexistent/chain.pem"))
      << missing.error().message();

  testing::TempDir dir;
  options.tls = TlsServerOptions{
      .certificate_chain_file = dir.WriteFile("chain.pem", pki.leaf_cert_pem + pki.ca_cert_pem),
      .private_key_file = dir.WriteFile("key.pem", pki.leaf_key_pem)};
  auto from_files = HttpServer::Create(options, handler);
  ASSERT_TRUE(from_files.has_value()) << from_files.error().message();
}

}  // namespace
}  // namespace autoseal::net
