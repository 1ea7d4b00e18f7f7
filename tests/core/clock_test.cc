#include "core/clock.h"

#include <gtest/gtest.h>

#include <limits>

namespace autoseal {
namespace {

TEST(UnixSeconds, TimesBeyondTimePointSaturateInsteadOfOverflowing) {
  TimePoint max = FromUnixSeconds(std::numeric_limits<int64_t>::max());
  TimePoint min = FromUnixSeconds(std::numeric_limits<int64_t>::min());
  EXPECT_EQ(FromUnixSeconds(253402300799), max);  // 9999-12-31T23:59:59Z saturates too
  EXPECT_GT(max, FromUnixSeconds(9000000000));    // 2255 is still itself
  EXPECT_LT(min, FromUnixSeconds(0));
  // One second of headroom: adding a fraction of a second stays representable.
  EXPECT_GT(max + std::chrono::milliseconds(999), max);
  EXPECT_EQ(ToUnixSeconds(FromUnixSeconds(1795869296)), 1795869296);
}

TEST(Rfc3339, ParsesAndFormatsUtc) {
  auto t = ParseRfc3339("2026-11-28T12:34:56Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(ToUnixSeconds(*t), 1795869296);
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-28T12:34:56Z");
}

TEST(Rfc3339, HonoursOffsetsFractionsAndDates) {
  EXPECT_EQ(ToUnixSeconds(*ParseRfc3339("2026-11-28T20:34:56+08:00")), 1795869296);
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2026-11-28T12:34:56.25Z")), "2026-11-28T12:34:56.25Z");
  EXPECT_EQ(ToUnixSeconds(*ParseRfc3339("1970-01-02")), 86400);
}

TEST(Rfc3339, RejectsMalformedTimes) {
  for (const char* bad : {"", "2026-13-01", "2026-11-28T12:34", "2026-11-28T12:34:56",
                          "2026-11-28T25:00:00Z", "yesterday", "2026-11-28T12:34:56Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace autoseal
