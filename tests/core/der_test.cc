#include "core/der.h"

#include <gtest/gtest.h>

namespace autoseal::der {
namespace {

TEST(Der, WriterNestsAndWidensLengths) {
  Writer w;
  size_t seq = w.Begin(kSequence);
  w.UnsignedInteger(Bytes{0x00, 0x80});  // leading zero dropped, 0x00 re-added for the sign
  w.Tlv(kOctetString, Bytes(200, 0xab));  // long-form length inside
  w.End(seq);
  Reader r(w.bytes());
  auto outer = r.Expect(kSequence, "outer");
  ASSERT_TRUE(outer.has_value());
  EXPECT_TRUE(r.ExpectEnd("outer").has_value());
  Reader in(outer->contents);
  auto integer = in.Expect(kInteger, "integer");
  ASSERT_TRUE(integer.has_value());
  EXPECT_EQ(Bytes(integer->contents.begin(), integer->contents.end()), (Bytes{0x00, 0x80}));
  EXPECT_TRUE(CheckPositiveInteger(integer->contents, "integer").has_value());
  auto octets = in.Expect(kOctetString, "octets");
  ASSERT_TRUE(octets.has_value());
  EXPECT_EQ(octets->contents.size(), 200u);
}

TEST(Der, ReaderRefusesNonDer) {
  for (Bytes bad : {Bytes{0x30}, Bytes{0x30, 0x80, 0x00, 0x00}, Bytes{0x30, 0x81, 0x05, 1, 2, 3, 4, 5},
                    Bytes{0x30, 0x05, 0x01}, Bytes{0x1f, 0x01, 0x00}}) {
    Reader r(bad);
    EXPECT_FALSE(r.Next().has_value()) << HexEncode(bad);
    EXPECT_FALSE(ReadElement(bad).has_value()) << HexEncode(bad);
  }
}

TEST(Der, OidsRoundTrip) {
  auto oid = EncodeOid("2.25.284402370485225929707697603283588437172");
  ASSERT_TRUE(oid.has_value());
  EXPECT_EQ(OidToString(*oid), "2.25.284402370485225929707697603283588437172");
  EXPECT_EQ(HexEncode(*EncodeOid("1.2.840.113549.1.1.1")), "2a864886f70d010101");
  EXPECT_FALSE(EncodeOid("3.1").has_value());
}

TEST(Der, TimesFollowRfc5280) {
  Writer utc, gen;
  ASSERT_TRUE(utc.Time(*ParseRfc3339("2049-12-31T23:59:59Z")).has_value());
  ASSERT_TRUE(gen.Time(*ParseRfc3339("2050-01-01T00:00:00Z")).has_value());
  EXPECT_EQ(utc.bytes()[0], kUtcTime);
  EXPECT_EQ(AsString(ByteView(utc.bytes()).subspan(2)), "491231235959Z");
  EXPECT_EQ(gen.bytes()[0], kGeneralizedTime);
  EXPECT_EQ(AsString(ByteView(gen.bytes()).subspan(2)), "20500101000000Z");
}

TEST(Der, ParsedTimesAreWhatTheWriterWrote) {
  for (const char* text : {"1950-01-01T00:00:00Z", "2049-12-31T23:59:59Z", "2050-01-01T00:00:00Z",
                           "2024-02-29T12:34:56Z", "2200-06-15T01:02:03Z"}) {
    TimePoint t = *ParseRfc3339(text);
    Writer w;
    ASSERT_TRUE(w.Time(t).has_value());
    auto e = ParseSingle(w.bytes(), w.bytes()[0], "time");
    ASSERT_TRUE(e.has_value()) << text;
    auto parsed = ParseTime(*e, "time");
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(*parsed, t) << text;
  }
}

TEST(Der, TimesOutsideRfc5280FormAreRefused) {
  auto parse = [](uint8_t tag, std::string_view text) {
    Element e;
    e.tag = tag;
    e.contents = AsBytes(text);
    return ParseTime(e, "notBefore");
  };
  EXPECT_EQ(*parse(kUtcTime, "491231235959Z"), *ParseRfc3339("2049-12-31T23:59:59Z"));
  EXPECT_EQ(*parse(kUtcTime, "500101000000Z"), *ParseRfc3339("1950-01-01T00:00:00Z"));
  EXPECT_FALSE(parse(kUtcTime, "4912312359Z").has_value());         // no seconds
  EXPECT_FALSE(parse(kUtcTime, "491231235959+0100").has_value());   // offset
  EXPECT_FALSE(parse(kGeneralizedTime, "20240101000000.5Z").has_value());  // fraction
  EXPECT_FALSE(parse(kGeneralizedTime, "20230229000000Z").has_value());    // no such day
  EXPECT_FALSE(parse(kGeneralizedTime, "20240101240000Z").has_value());
  EXPECT_FALSE(parse(kOctetString, "20240101000000Z").has_value());
  // RFC 5280 §4.1.2.5: 99991231235959Z means "no well-defined expiration". It lies beyond what
  // TimePoint holds (2262) and saturates rather than overflowing: still later than any real date.
  auto forever = parse(kGeneralizedTime, "99991231235959Z");
  ASSERT_TRUE(forever.has_value());
  EXPECT_GT(*forever, *ParseRfc3339("2262-01-01T00:00:00Z"));
  EXPECT_LT(*parse(kGeneralizedTime, "00010101000000Z"), *ParseRfc3339("1700-01-01T00:00:00Z"));
  auto bad = parse(kUtcTime, "49123123595aZ");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("notBefore"), std::string::npos);
}

}  // namespace
}  // namespace autoseal::der
