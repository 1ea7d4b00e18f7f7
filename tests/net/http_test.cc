#include "net/http.h"

#include <gtest/gtest.h>

namespace autoseal::net {
namespace {

TEST(ParseHostPortTest, AcceptsIpv4Ipv6AndNames) {
  auto v4 = ParseHostPort("127.0.0.1:8555");
  ASSERT_TRUE(v4.has_value()) << v4.error().message();
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 8555);

  auto v6 = ParseHostPort("[::1]:443");
  ASSERT_TRUE(v6.has_value()) << v6.error().message();
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 443);

  auto name = ParseHostPort("localhost:80");
  ASSERT_TRUE(name.has_value()) << name.error().message();
  EXPECT_EQ(name->first, "localhost");
  EXPECT_EQ(name->second, 80);

  auto any = ParseHostPort("0.0.0.0:0");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->second, 0);
}

TEST(ParseHostPortTest, RejectsAmbiguousOrIncompleteAddresses) {
  for (const char* bad :
       {"127.0.0.1", "::1:443", "[::1]", "[::1]443", "[nothost]:80", ":8080", "host:", "host:-1",
        "host:65536", "host:8o", "bad host:80", "-host:80", "[::1:80", "host:123456"}) {
    auto result = ParseHostPort(bad);
    ASSERT_FALSE(result.has_value()) << bad;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find(bad), std::string::npos) << result.error().message();
  }
}

TEST(ParseHostPortTest, FormatHostPortRoundTrips) {
  EXPECT_EQ(FormatHostPort("::1", 443), "[::1]:443");
  EXPECT_EQ(FormatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  auto parsed = ParseHostPort(FormatHostPort("fe80::1", 8443));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, "fe80::1");
}

TEST(HttpMessageTest, HeaderLookupIgnoresCase) {
  HttpRequest request;
  request.headers = {{"Content-Type", "application/json"}, {"X-Twice", "1"}, {"x-twice", "2"}};
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("X-TWICE"), "1");
  EXPECT_FALSE(request.Header("Accept").has_value());

  request.SetHeader("X-Twice", "3");
  EXPECT_EQ(request.Header("x-twice"), "3");
  EXPECT_EQ(request.headers.size(), 2u);
}

TEST(HttpMessageTest, PathAndQuerySplitTheTarget) {
  HttpRequest request;
  request.target = "/acme/order/1?x=1&y=2#frag";
  EXPECT_EQ(request.Path(), "/acme/order/1");
  EXPECT_EQ(request.Query(), "x=1&y=2");
  request.target = "/ct/v1/get-sth";
  EXPECT_EQ(request.Path(), "/ct/v1/get-sth");
  EXPECT_EQ(request.Query(), "");
}

TEST(HttpMessageTest, ResponseBuildersSetContentType) {
  HttpResponse response = HttpResponse::Make(201, "application/timestamp-reply", "token");
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.Header("content-type"), "application/timestamp-reply");
  EXPECT_EQ(response.body, "token");
  EXPECT_EQ(HttpResponse::Text(404, "no").Header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(ReasonPhrase(413), "Content Too Large");
}

}  // namespace
}  // namespace autoseal::net
