#include "x509/names.h"

#include <gtest/gtest.h>

namespace autoseal::x509 {
namespace {

TEST(DnsName, AcceptsOrdinaryNamesAndALabels) {
  for (const char* ok : {"example.com", "a.b.example.org", "xn--bcher-kva.example", "a-b.example.com",
                         "localhost.localdomain", "123.example.com", "localhost"}) {
    EXPECT_TRUE(ValidateDnsName(ok, false).has_value()) << ok;
  }
}

TEST(DnsName, WildcardOnlyAsWholeLeftmostLabel) {
  EXPECT_TRUE(ValidateDnsName("*.example.com", true).has_value());
  EXPECT_FALSE(ValidateDnsName("*.example.com", false).has_value());
  EXPECT_FALSE(ValidateDnsName("f*.example.com", true).has_value());
  EXPECT_FALSE(ValidateDnsName("www.*.example.com", true).has_value());
  EXPECT_FALSE(ValidateDnsName("*.com", true).has_value());
}

TEST(DnsName, RejectsWithASpecificReason) {
  struct Case {
    const char* name;
    const char* reason;
  } cases[] = {
      {"", "empty"},
      {"bücher.example", "A-label"},
      {"192.0.2.1", "IP address"},
      {"::1", "IP address"},
      {"-a.example.com", "start or end"},
      {"a..example.com", "empty label"},
      {"example.com.", "trailing dot"},
      {"under_score.example.com", "not allowed"},
      {"ab--c.example.com", "reserved"},
      {"example.123", "numeric"},
  };
  for (const auto& c : cases) {
    auto st = ValidateDnsName(c.name, true);
    ASSERT_FALSE(st.has_value()) << c.name;
    EXPECT_NE(st.error().message().find(c.reason), std::string::npos)
        << c.name << ": " << st.error().message();
  }
  EXPECT_FALSE(ValidateDnsName(std::string(64, 'a') + ".example.com", false).has_value());
}

TEST(Email, ValidatesMailboxes) {
  EXPECT_TRUE(ValidateEmailAddress("alice@example.com").has_value());
  EXPECT_TRUE(ValidateEmailAddress("alice+tag@mail.example.com").has_value());
  for (const char* bad : {"alice", "@example.com", "alice@", "al ice@example.com", "alice@*.example.com",
                          "alice..b@example.com", "ålice@example.com", "alice@example.123"}) {
    EXPECT_FALSE(ValidateEmailAddress(bad).has_value()) << bad;
  }
}

TEST(IpAddress, ParsesAndFormatsBothFamilies) {
  EXPECT_EQ(ParseIpAddress("127.0.0.1")->size(), 4u);
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("2001:db8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_FALSE(ParseIpAddress("256.0.0.1").has_value());
  EXPECT_FALSE(ParseIpAddress("example.com").has_value());
}

}  // namespace
}  // namespace autoseal::x509
