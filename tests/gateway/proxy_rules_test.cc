// The proxy's HTTP rules (gateway/internal/http_rules.h) as pure functions.

#include <gtest/gtest.h>

#include <cstring>

#include "gateway/internal/http_rules.h"
#include "gateway/internal/tls_server.h"

namespace autoseal::gateway::internal {
namespace {

TEST(ProxyRulesTest, NormalizesHostFields) {
  EXPECT_EQ(NormalizeHost("Example.COM").value_or(""), "example.com");
  EXPECT_EQ(NormalizeHost("example.com:8443").value_or(""), "example.com");
  EXPECT_EQ(NormalizeHost("example.com.").value_or(""), "example.com");
  EXPECT_EQ(NormalizeHost("[::1]:443").value_or(""), "[::1]");
  EXPECT_FALSE(NormalizeHost(""));
  EXPECT_FALSE(NormalizeHost("exa mple.com"));
  EXPECT_FALSE(NormalizeHost("example.com:http"));
  EXPECT_FALSE(NormalizeHost("evil.com\r\nX: y"));
  EXPECT_FALSE(NormalizeHost("[::1"));
  EXPECT_FALSE(NormalizeHost(":80"));
  EXPECT_FALSE(NormalizeHost(":"));
  EXPECT_FALSE(NormalizeHost(" :443 "));
}

TEST(ProxyRulesTest, SplitsAbsoluteFormTargets) {
  auto t = ParseAbsoluteTarget("http://Example.com:8080/a/b?c=d");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->authority, "Example.com:8080");
  EXPECT_EQ(t->origin_form, "/a/b?c=d");
  EXPECT_EQ(ParseAbsoluteTarget("HTTPS://example.com")->origin_form, "/");
  EXPECT_EQ(ParseAbsoluteTarget("http://example.com?q")->origin_form, "/?q");
  EXPECT_FALSE(ParseAbsoluteTarget("/path"));
  EXPECT_FALSE(ParseAbsoluteTarget("example.com:443"));
  EXPECT_FALSE(ParseAbsoluteTarget("ftp://example.com/"));
  EXPECT_FALSE(ParseAbsoluteTarget("http:///path"));
  EXPECT_FALSE(ParseAbsoluteTarget("http://user@example.com/"));
  EXPECT_FALSE(ParseAbsoluteTarget("http://example.com/#frag"));
}

TEST(ProxyRulesTest, RetiresTicketKeysOnScheduleEvenWhenIdle) {
  using std::chrono::hours;
  using std::chrono::minutes;
  const auto t0 = std::chrono::steady_clock::time_point() + hours(1000);
  const auto interval = hours(1);
  auto same = [](const TicketKeyRing::Key& a, const TicketKeyRing::Key& b) {
    return std::memcmp(&a, &b, sizeof(a)) == 0;
  };
  TicketKeyRing ring;
  ASSERT_TRUE(ring.Update(t0, interval).has_value());
  TicketKeyRing::Key first = ring.current();
  EXPECT_EQ(ring.previous(), nullptr);
  ASSERT_TRUE(ring.Update(t0 + minutes(59), interval).has_value());
  EXPECT_TRUE(same(ring.current(), first));
  // One interval on: a new key encrypts, the old one still decrypts (and is renewed).
  ASSERT_TRUE(ring.Update(t0 + minutes(70), interval).has_value());
  EXPECT_FALSE(same(ring.current(), first));
  ASSERT_NE(ring.previous(), nullptr);
  EXPECT_TRUE(same(*ring.previous(), first));
  TicketKeyRing::Key second = ring.current();
  // The schedule keeps its phase: the second key started at t0 + 1 h, so at t0 + 2 h 05 it
  // retires and the first key (retired at t0 + 1 h) is gone.
  ASSERT_TRUE(ring.Update(t0 + minutes(125), interval).has_value());
  ASSERT_NE(ring.previous(), nullptr);
  EXPECT_TRUE(same(*ring.previous(), second));
  EXPECT_FALSE(same(*ring.previous(), first));
  // After an idle spell of two intervals or more nothing old decrypts, whatever came last.
  TicketKeyRing::Key third = ring.current();
  ASSERT_TRUE(ring.Update(t0 + minutes(125) + hours(5), interval).has_value());
  EXPECT_EQ(ring.previous(), nullptr);
  EXPECT_FALSE(same(ring.current(), third));
  EXPECT_FALSE(same(ring.current(), second));
}

TEST(ProxyRulesTest, MatchesWildcardsOnOneLeftMostLabel) {
  EXPECT_TRUE(ServerNameMatches("*.example.com", "www.example.com"));
  EXPECT_FALSE(ServerNameMatches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(ServerNameMatches("*.example.com", "example.com"));
  EXPECT_TRUE(ServerNameMatches("example.com", "example.com"));
}

TEST(ProxyRulesTest, ParsesOriginUrls) {
  auto origin = ParseOriginUrl("http://10.0.0.5:8080/app/");
  ASSERT_TRUE(origin.has_value());
  EXPECT_EQ(origin->host, "10.0.0.5");
  EXPECT_EQ(origin->port, 8080);
  EXPECT_EQ(origin->base_path, "/app");
  EXPECT_EQ(origin->authority, "10.0.0.5:8080");
  auto v6 = ParseOriginUrl("http://[::1]");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  EXPECT_FALSE(ParseOriginUrl("https://example.com"));
  EXPECT_FALSE(ParseOriginUrl("http://user@example.com"));
  EXPECT_FALSE(ParseOriginUrl("http://example.com:0"));
  EXPECT_FALSE(ParseOriginUrl("http://example.com/?q"));
}

TEST(ProxyRulesTest, ValidatesSiteLists) {
  SiteConfig a{.name = "a", .server_names = {"a.test"}, .origin = "http://127.0.0.1:1"};
  SiteConfig b{.name = "b", .server_names = {"a.test"}, .origin = "http://127.0.0.1:1"};
  EXPECT_TRUE(ValidateSites({a}).has_value());
  EXPECT_FALSE(ValidateSites({a, b}).has_value());  // a.test claimed twice
  SiteConfig bad_wildcard{.name = "c", .server_names = {"a.*.test"}, .origin = "http://h:1"};
  EXPECT_FALSE(ValidateSites({bad_wildcard}).has_value());
}

TEST(ProxyRulesTest, KnowsTheHopByHopFields) {
  for (const char* name :
       {"Connection", "keep-alive", "Proxy-Connection", "TE", "Transfer-Encoding", "Upgrade"}) {
    EXPECT_TRUE(IsHopByHop(name)) << name;
  }
  for (const char* name : {"Host", "Trailer", "Content-Length", "Cookie"}) {
    EXPECT_FALSE(IsHopByHop(name)) << name;
  }
  std::vector<std::string> options;
  AppendConnectionOptions(" Keep-Alive , X-Private,,upgrade", options);
  EXPECT_EQ(options, (std::vector<std::string>{"keep-alive", "x-private", "upgrade"}));
}

TEST(ProxyRulesTest, FormatsForwardedPerRfc7239) {
  EXPECT_EQ(ForwardedNode("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ForwardedNode("2001:db8::1"), "\"[2001:db8::1]\"");
  EXPECT_EQ(ForwardedValue("example.com"), "example.com");
  EXPECT_EQ(ForwardedValue("[::1]"), "\"[::1]\"");
}

TEST(ProxyRulesTest, BuildsHstsAndRedirects) {
  HstsPolicy policy;
  policy.max_age = std::chrono::seconds(100);
  policy.include_subdomains = true;
  policy.preload = true;
  EXPECT_EQ(HstsValue(policy), "max-age=100; includeSubDomains; preload");
  EXPECT_EQ(RedirectLocation("a.test", 443, "/x?y"), "https://a.test/x?y");
  EXPECT_EQ(RedirectLocation("a.test", 8443, "/"), "https://a.test:8443/");
  EXPECT_EQ(RedirectLocation("a.test", 443, "*"), "https://a.test/");
  EXPECT_EQ(AcmeChallengeToken("/.well-known/acme-challenge/abc-_1").value_or(""), "abc-_1");
  EXPECT_FALSE(AcmeChallengeToken("/.well-known/acme-challenge/../etc"));
  EXPECT_FALSE(AcmeChallengeToken("/index.html"));
}

}  // namespace
}  // namespace autoseal::gateway::internal
