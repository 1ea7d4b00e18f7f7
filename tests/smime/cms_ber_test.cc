// The CMS layer's BER reader and the small pieces of smime/cms.h that need no keys.

#include <gtest/gtest.h>

#include "smime/cms.h"
#include "smime/internal/ber.h"

namespace autoseal::smime {
namespace {

TEST(CmsBer, ReadsIndefiniteLengthsAndConstructedOctetStrings) {
  // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "cde" }, INTEGER 5 }
  const Bytes in = {0x30, 0x80, 0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x03, 'c', 'd', 'e',
                    0x00, 0x00, 0x02, 0x01, 0x05, 0x00, 0x00};
  auto seq = ber::ParseFirst(in, "test");
  ASSERT_TRUE(seq.has_value()) << seq.error().message();
  EXPECT_TRUE(seq->indefinite);
  EXPECT_EQ(seq->encoding.size(), in.size());
  ber::Reader r(seq->contents, 1);
  auto os = r.Next();
  ASSERT_TRUE(os.has_value());
  auto value = ber::OctetString(*os, 2, "os");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(AsString(*value), "abcde");
  auto i = r.Expect(0x02, "int");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->contents.size(), 1u);
  EXPECT_TRUE(r.empty());
}

TEST(CmsBer, RefusesTruncationMissingEndOfContentsAndDeepNesting) {
  const Bytes truncated = {0x30, 0x80, 0x04, 0x02, 'a'};
  EXPECT_FALSE(ber::ParseFirst(truncated, "t").has_value());
  const Bytes no_eoc = {0x30, 0x80, 0x04, 0x01, 'a'};
  EXPECT_FALSE(ber::ParseFirst(no_eoc, "t").has_value());
  const Bytes too_long = {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00};
  EXPECT_FALSE(ber::ParseFirst(too_long, "t").has_value());
  Bytes deep;
  for (int i = 0; i < 1000; ++i) deep.insert(deep.end(), {0x30, 0x80});
  auto r = ber::ParseFirst(deep, "t");
  ASSERT_FALSE(r.has_value());
}

// A constructed OCTET STRING (indefinite length) of the given pieces.
Bytes Constructed(size_t pieces, const Bytes& piece) {
  Bytes in = {0x24, 0x80};
  in.reserve(2 + pieces * piece.size() + 2);
  for (size_t i = 0; i < pieces; ++i) in.insert(in.end(), piece.begin(), piece.end());
  in.insert(in.end(), {0x00, 0x00});
  return in;
}

TEST(CmsBer, EmptyPiecesAddNoSegmentsAndThePieceCountIsBounded) {
  // Two million empty pieces (04 00) and one with content: one segment, not two million views.
  Bytes in = Constructed(2'000'000, {0x04, 0x00});
  in.insert(in.end() - 2, {0x04, 0x02, 'o', 'k'});
  auto e = ber::ParseFirst(in, "os");
  ASSERT_TRUE(e.has_value()) << e.error().message();
  auto segments = ber::OctetSegments(*e, 1, "os");
  ASSERT_TRUE(segments.has_value()) << segments.error().message();
  ASSERT_EQ(segments->size(), 1u);
  EXPECT_EQ(AsString((*segments)[0]), "ok");
  EXPECT_EQ(AsString(*ber::OctetString(*e, 1, "os")), "ok");
  // More than kMaxSegments non-empty pieces is refused.
  Bytes many = Constructed(ber::kMaxSegments + 1, {0x04, 0x01, 'x'});
  auto m = ber::ParseFirst(many, "os");
  ASSERT_TRUE(m.has_value()) << m.error().message();
  auto refused = ber::OctetSegments(*m, 1, "os");
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("too many"), std::string::npos);
  Bytes enough = Constructed(ber::kMaxSegments, {0x04, 0x01, 'x'});
  EXPECT_TRUE(ber::OctetSegments(*ber::ParseFirst(enough, "os"), 1, "os").has_value());
}

TEST(CmsCapabilities, OursParseBackWithGcmFirstAndOaep) {
  auto caps = ParseSmimeCapabilities(OurSmimeCapabilities(false));
  ASSERT_TRUE(caps.has_value()) << caps.error().message();
  ASSERT_FALSE(caps->ciphers.empty());
  EXPECT_EQ(caps->ciphers.front(), ContentCipher::kAes256Gcm);
  EXPECT_TRUE(caps->Supports(ContentCipher::kAes128Cbc));
  EXPECT_FALSE(caps->Supports(ContentCipher::kSm4Cbc));
  EXPECT_TRUE(caps->rsa_oaep);
  EXPECT_TRUE(caps->ecdh_sha256);
  auto sm2 = ParseSmimeCapabilities(OurSmimeCapabilities(true));
  ASSERT_TRUE(sm2.has_value());
  EXPECT_EQ(sm2->ciphers.front(), ContentCipher::kSm4Cbc);
}

TEST(CmsDetect, GarbageAndUnknownTypesAreErrorsNotCrashes) {
  EXPECT_EQ(DetectType(AsBytes("hello")).error().code(), ErrorCode::kParse);
  // ContentInfo { id-data, [0] { OCTET STRING } }: well-formed but not one of ours.
  const Bytes data_ci = {0x30, 0x11, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07,
                         0x01, 0xa0, 0x04, 0x04, 0x02, 'h', 'i'};
  auto t = DetectType(data_ci);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(t.error().message().find("1.2.840.113549.1.7.1"), std::string::npos);
}

}  // namespace
}  // namespace autoseal::smime
