#include "gateway/config.h"

#include <gtest/gtest.h>

namespace autoseal::gateway {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kFull = R"(# a full configuration
dir = "/var/lib/gw"
http = "0.0.0.0:80"
https = "0.0.0.0:443"
admin = "127.0.0.1:9100"
default_site = "blog"

[acme]
directory = "https://acme.example/directory"
ca_bundle = "/etc/roots.pem"
email = "ops@example.com"
challenges = ["tls-alpn-01"]
lifetime = "7d"

[acme.fallback]
directory = "https://second.example/dir"

[renewal]
renew_before = "30d"
retry_initial = "30s"
retry_max = "1h"
fallback_after_failures = 5

[hsts]
max_age = "1d"
include_subdomains = true

[timeouts]
origin_connect = "2s"
origin_read = 90

[[site]]
name = "blog"
names = ["Blog.Example.com", "www.blog.example.com"]
origin = "http://127.0.0.1:8080/app"

[[site]]
names = ["*.apps.example.com"]
origin = "http://10.0.0.7:3000"
preserve_host = false
[site.hsts]
enabled = false
)";

TEST(GatewayConfigTest, ReadsEverySettingOfAFullFile) {
  auto loaded = ParseConfig(kFull, "gw.toml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_TRUE(loaded->problems.empty());
  ASSERT_TRUE(Finish(*loaded).has_value());
  const GatewayConfig& c = loaded->config;
  EXPECT_EQ(c.dir, "/var/lib/gw");
  EXPECT_EQ(c.listen.http_address, "0.0.0.0:80");
  EXPECT_EQ(c.listen.admin_address, "127.0.0.1:9100");
  EXPECT_EQ(c.listen.default_site, "blog");
  ASSERT_EQ(c.cas.size(), 2u);
  EXPECT_EQ(c.cas[0].directory, "https://acme.example/directory");
  EXPECT_EQ(c.cas[0].ca_bundle, "/etc/roots.pem");
  EXPECT_EQ(c.cas[0].email, "ops@example.com");
  EXPECT_EQ(c.cas[1].directory, "https://second.example/dir");
  EXPECT_EQ(c.challenges, std::vector<std::string>{"tls-alpn-01"});
  EXPECT_EQ(c.lifetime, Duration(hours(24 * 7)));
  EXPECT_EQ(c.renew_before, Duration(hours(24 * 30)));
  EXPECT_EQ(c.retry_initial, Duration(seconds(30)));
  EXPECT_EQ(c.retry_max, Duration(hours(1)));
  EXPECT_EQ(c.fallback_after_failures, 5);
  EXPECT_EQ(c.listen.origin_connect_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.listen.origin_read_timeout, std::chrono::milliseconds(90000));
  ASSERT_EQ(c.sites.size(), 2u);
  EXPECT_EQ(c.sites[0].name, "blog");
  EXPECT_EQ(c.sites[0].server_names,
            (std::vector<std::string>{"blog.example.com", "www.blog.example.com"}));
  EXPECT_EQ(c.sites[0].origin, "http://127.0.0.1:8080/app");
  EXPECT_TRUE(c.sites[0].hsts.enabled);
  EXPECT_EQ(c.sites[0].hsts.max_age, seconds(86400)) << "global [hsts] is the sites' default";
  EXPECT_TRUE(c.sites[0].hsts.include_subdomains);
  EXPECT_EQ(c.sites[1].name, "wildcard.apps.example.com") << "unnamed site takes its first name";
  EXPECT_FALSE(c.sites[1].hsts.enabled);
  EXPECT_FALSE(c.sites[1].preserve_host);
  auto managed = ManagedSites(c);
  ASSERT_EQ(managed.size(), 2u);
  EXPECT_EQ(managed[0].names, c.sites[0].server_names);
}

TEST(GatewayConfigTest, AnUnknownGlobalKeyIsNamedWithFileAndLine) {
  auto loaded = ParseConfig("http = \"0.0.0.0:80\"\nhtps = \"0.0.0.0:443\"\n", "gw.toml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().message(), "gw.toml:2: unknown key \"htps\"");
}

TEST(GatewayConfigTest, AnUnknownKeyInATableIsNamedWithItsPath) {
  auto loaded =
      ParseConfig("[acme]\ndirectory = \"https://a.example/d\"\nemial = \"x@y\"\n", "gw.toml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().message(), "gw.toml:3: unknown key \"acme.emial\"");
}

TEST(GatewayConfigTest, ASyntaxErrorNamesTheLine) {
  auto loaded = ParseConfig("dir = \"x\"\n[acme\n", "gw.toml");
  ASSERT_FALSE(loaded.has_value());
  EXPECT_TRUE(loaded.error().message().starts_with("gw.toml:2: ")) << loaded.error().message();
}

TEST(GatewayConfigTest, ABadSiteIsReportedAndSkippedWhileTheOthersAreKept) {
  auto loaded = ParseConfig(R"([acme]
directory = "https://a.example/d"

[[site]]
names = ["good.example"]
origin = "http://127.0.0.1:1"

[[site]]
names = ["bad_name.example"]
origin = "http://127.0.0.1:2"

[[site]]
names = ["ok.example"]
origin = "ftp://127.0.0.1:3"

[[site]]
names = ["typo.example"]
orign = "http://127.0.0.1:4"
)",
                            "gw.toml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  ASSERT_EQ(loaded->config.sites.size(), 1u);
  EXPECT_EQ(loaded->config.sites[0].name, "good.example");
  ASSERT_EQ(loaded->problems.size(), 3u);
  EXPECT_NE(
      loaded->problems[0].find(
          "gw.toml:8: site \"bad_name.example\": \"bad_name.example\" is not a valid DNS name"),
      std::string::npos)
      << loaded->problems[0];
  EXPECT_NE(
      loaded->problems[1].find(
          "gw.toml:12: site \"ok.example\": origin \"ftp://127.0.0.1:3\" must be an http:// URL"),
      std::string::npos)
      << loaded->problems[1];
  EXPECT_NE(loaded->problems[2].find("gw.toml:18: unknown key \"site.orign\""), std::string::npos)
      << loaded->problems[2];
}

TEST(GatewayConfigTest, BadValuesNameTheKey) {
  auto d = ParseConfig("[renewal]\nretry_initial = \"soon\"\n", "gw.toml");
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(
      d.error().message().find("gw.toml:2: renewal.retry_initial: \"soon\" is not a duration"),
      std::string::npos)
      << d.error().message();
  auto b = ParseConfig("access_log = \"yes\"\n", "gw.toml");
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().message(), "gw.toml:1: access_log: must be true or false");
  auto c =
      ParseConfig("[acme]\ndirectory = \"https://a/d\"\nchallenges = [\"dns-01\"]\n", "gw.toml");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("\"dns-01\" is not http-01 or tls-alpn-01"),
            std::string::npos);
  auto e = ParseConfig("[acme]\ndirectory = \"https://a/d\"\neab_kid = \"k\"\n", "gw.toml");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("eab_kid and eab_hmac_key go together"), std::string::npos);
}

TEST(GatewayConfigTest, FlagsMergeOverTheFile) {
  auto loaded = ParseConfig(kFull, "gw.toml");
  ASSERT_TRUE(loaded.has_value());
  ConfigFlags f;
  f.sites = {"shop.example.com=http://127.0.0.1:9000", "blog=http://127.0.0.1:9001"};
  f.acme = "https://127.0.0.1:8555/directory";
  f.acme_ca_bundle = "roots.pem";
  f.https = "127.0.0.1:8443";
  f.dir = "var/gw";
  ASSERT_TRUE(MergeFlags(*loaded, f).has_value());
  ASSERT_TRUE(Finish(*loaded).has_value());
  const GatewayConfig& c = loaded->config;
  EXPECT_EQ(c.cas[0].directory, "https://127.0.0.1:8555/directory");
  EXPECT_EQ(c.cas[0].ca_bundle, "roots.pem");
  EXPECT_EQ(c.cas[0].email, "ops@example.com") << "settings without a flag stay";
  EXPECT_EQ(c.listen.https_address, "127.0.0.1:8443");
  EXPECT_EQ(c.listen.http_address, "0.0.0.0:80");
  EXPECT_EQ(c.dir, "var/gw");
  ASSERT_EQ(c.sites.size(), 3u);
  EXPECT_EQ(c.sites[0].name, "blog");
  EXPECT_EQ(c.sites[0].origin, "http://127.0.0.1:9001")
      << "--site replaces a site of the same name";
  EXPECT_EQ(c.sites[0].server_names, std::vector<std::string>{"blog"});
  EXPECT_EQ(c.sites[2].name, "shop.example.com");
  EXPECT_EQ(c.sites[2].server_names, std::vector<std::string>{"shop.example.com"});
}

TEST(GatewayConfigTest, OneSiteFromFlagsAlone) {
  LoadedConfig loaded;
  ConfigFlags f;
  f.sites = {"localhost=http://127.0.0.1:8000"};
  f.acme = "https://127.0.0.1:8555/directory";
  ASSERT_TRUE(MergeFlags(loaded, f).has_value());
  ASSERT_TRUE(Finish(loaded).has_value());
  ASSERT_EQ(loaded.config.sites.size(), 1u);
  EXPECT_EQ(loaded.config.sites[0].server_names, std::vector<std::string>{"localhost"});
  EXPECT_TRUE(loaded.config.sites[0].hsts.enabled);
}

TEST(GatewayConfigTest, BadFlagsFailNamingTheFlag) {
  LoadedConfig loaded;
  ConfigFlags f;
  f.sites = {"not a name=http://127.0.0.1:1"};
  auto st = MergeFlags(loaded, f);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find(
                "--site not a name=http://127.0.0.1:1: \"not a name\" is not a valid DNS name"),
            std::string::npos)
      << st.error().message();
  f.sites = {"example.com"};
  st = MergeFlags(loaded, f);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("expected NAME=ORIGIN_URL"), std::string::npos);
  f.sites = {"example.com=http://user@127.0.0.1:1"};
  st = MergeFlags(loaded, f);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("must not carry user information"), std::string::npos);
  ConfigFlags g;
  g.acme = "not a url";
  st = MergeFlags(loaded, g);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("is not an http(s) URL"), std::string::npos);
}

TEST(GatewayConfigTest, WithoutACaOrWithTwoSitesClaimingANameFinishSays) {
  LoadedConfig none;
  auto st = Finish(none);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message().find("no ACME CA configured"), std::string::npos);

  auto loaded = ParseConfig(R"([acme]
directory = "https://a.example/d"
[[site]]
name = "one"
names = ["x.example"]
origin = "http://127.0.0.1:1"
[[site]]
name = "two"
names = ["y.example", "x.example"]
origin = "http://127.0.0.1:2"
)",
                            "gw.toml");
  ASSERT_TRUE(loaded.has_value());
  ASSERT_TRUE(Finish(*loaded).has_value());
  ASSERT_EQ(loaded->config.sites.size(), 1u);
  EXPECT_EQ(loaded->config.sites[0].name, "one");
  ASSERT_EQ(loaded->problems.size(), 1u);
  EXPECT_NE(loaded->problems[0].find("\"x.example\" already belongs to site \"one\""),
            std::string::npos)
      << loaded->problems[0];
}

TEST(GatewayConfigTest, ParsesDurations) {
  EXPECT_EQ(*ParseDuration("90s"), Duration(seconds(90)));
  EXPECT_EQ(*ParseDuration("1h30m"), Duration(minutes(90)));
  EXPECT_EQ(*ParseDuration("23h59m30s"), Duration(seconds(86370)));
  EXPECT_EQ(*ParseDuration("2d"), Duration(hours(48)));
  for (const char* bad : {"", "10", "s", "1.5h", "-1s", "10x", "1h 2m"})
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
}

}  // namespace
}  // namespace autoseal::gateway
