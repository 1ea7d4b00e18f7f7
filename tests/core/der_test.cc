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

}  // namespace
}  // namespace autoseal::der
