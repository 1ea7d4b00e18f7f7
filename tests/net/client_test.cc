#include "net/client.h"

#include <gtest/gtest.h>

#include <chrono>

#include "net/server.h"
#include "test_util.h"

namespace autoseal::net {
namespace {

using namespace std::chrono_literals;

HttpRequest Get(std::string url) {
  HttpRequest request;
  request.target = std::move(url);
  return request;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(HttpFetchTest, ConnectionRefusedIsANetworkErrorNamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(testing::UnusedPort()) + "/x";
  auto result = HttpFetch(Get(url));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNetwork);
  EXPECT_TRUE(Contains(result.error().message(), url)) << result.error().message();
  EXPECT_TRUE(Contains(result.error().message(), "refused")) << result.error().message();
}

TEST(HttpFetchTest, TimesOutAgainstAServerThatNeverAnswers) {
  testing::SilentListener silent;
  const std::string url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/";
  HttpClientOptions options;
  options.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto result = HttpFetch(Get(url), options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kTimeout);
  EXPECT_TRUE(Contains(result.error().message(), url)) << result.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // generous: the bound, not the speed
}

TEST(HttpFetchTest, RefusesResponsesLargerThanTheLimit) {
  auto server = HttpServer::Create(
      {}, [](const HttpRequest&) { return HttpResponse::Text(200, std::string(5000, 'r')); });
  ASSERT_TRUE(server.has_value()) << server.error().message();
  (*server)->Start();
  const std::string url = "http://" + (*server)->LocalAddress() + "/big";
  HttpClientOptions options;
  options.max_response_body_bytes = 1000;
  auto result = HttpFetch(Get(url), options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNetwork);
  EXPECT_TRUE(Contains(result.error().message(), "exceeds 1000 bytes")) << result.error().message();
  EXPECT_TRUE(Contains(result.error().message(), url));

  options.max_response_body_bytes = 5000;
  auto fits = HttpFetch(Get(url), options);
  ASSERT_TRUE(fits.has_value()) << fits.error().message();
  EXPECT_EQ(fits->body.size(), 5000u);
}

TEST(HttpFetchTest, RejectsUnusableUrls) {
  for (const char* url : {"ftp://example.com/", "not a url", "http:///path", "/relative",
                          "http://user:pw@127.0.0.1/", "http://127.0.0.1:99999/"}) {
    auto result = HttpFetch(Get(url));
    ASSERT_FALSE(result.has_value()) << url;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << url;
    EXPECT_TRUE(Contains(result.error().message(), url)) << result.error().message();
  }
  HttpRequest injected = Get("http://127.0.0.1:1/");
  injected.SetHeader("X-Evil", "a\r\nHost: other");
  auto result = HttpFetch(injected);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpFetchTest, SendsHostAndReturnsStatusAndHeadersAsReceived) {
  auto server = HttpServer::Create({}, [](const HttpRequest& request) {
    HttpResponse response =
        HttpResponse::Text(404, std::string(request.Header("host").value_or("")));
    response.headers.emplace_back("X-Multi", "1");
    response.headers.emplace_back("X-Multi", "2");
    return response;
  });
  ASSERT_TRUE(server.has_value()) << server.error().message();
  (*server)->Start();
  const std::string authority = "127.0.0.1:" + std::to_string((*server)->Port());
  auto result = HttpFetch(Get("http://" + authority + "/missing#fragment"));
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(result->body, authority);
  int multi = 0;
  for (const auto& [name, value] : result->headers) multi += name == "X-Multi";
  EXPECT_EQ(multi, 2);
}

}  // namespace
}  // namespace autoseal::net
