#include "crypto/signature.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/file.h"

namespace autoseal::crypto {
namespace {

class SignatureTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(SignatureTest, SignsAndVerifiesAndRejectsTampering) {
  auto key = *PrivateKey::Generate(GetParam());
  Bytes msg = ToBytes("the electronic postmark");
  auto sig = Sign(key, msg);
  ASSERT_TRUE(sig.has_value()) << sig.error().message();
  EXPECT_TRUE(Verify(key.Public(), msg, *sig).has_value());
  Bytes other = msg;
  other[0] ^= 1;
  EXPECT_FALSE(Verify(key.Public(), other, *sig).has_value());
  Bytes bad = *sig;
  bad[bad.size() / 2] ^= 0x40;
  EXPECT_FALSE(Verify(key.Public(), msg, bad).has_value());
  auto stranger = *PrivateKey::Generate(GetParam());
  EXPECT_FALSE(Verify(stranger.Public(), msg, *sig).has_value());
}

INSTANTIATE_TEST_SUITE_P(All, SignatureTest,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kEcdsaP256,
                                           KeyType::kEcdsaP384, KeyType::kEd25519, KeyType::kSm2));

TEST(Signature, DefaultDigestsFollowTheKey) {
  EXPECT_EQ(DefaultDigest(*PrivateKey::Generate(KeyType::kEcdsaP384)), DigestAlgorithm::kSha384);
  EXPECT_EQ(DefaultDigest(*PrivateKey::Generate(KeyType::kSm2)), DigestAlgorithm::kSm3);
  EXPECT_EQ(DefaultDigest(*PrivateKey::Generate(KeyType::kEd25519)), DigestAlgorithm::kNone);
}

TEST(Signature, Sm2RefusesOtherDigestsAndSm3RefusesOtherKeys) {
  auto sm2 = *PrivateKey::Generate(KeyType::kSm2);
  EXPECT_FALSE(Sign(sm2, ToBytes("x"), DigestAlgorithm::kSha256).has_value());
  auto ec = *PrivateKey::Generate(KeyType::kEcdsaP256);
  EXPECT_FALSE(Sign(ec, ToBytes("x"), DigestAlgorithm::kSm3).has_value());
}

// The ID matters: OpenSSL's command line with distid:1234567812345678 must verify our SM2
// signature, which it would not if we signed with OpenSSL 3.0's empty default ID.
TEST(Signature, Sm2SignatureVerifiesWithOpensslCliUsingTheStandardId) {
  auto dir = std::filesystem::temp_directory_path() / ("autoseal-sm2-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto key = *PrivateKey::Generate(KeyType::kSm2);
  Bytes msg = ToBytes("message signed with SM2");
  auto sig = *Sign(key, msg);
  ASSERT_TRUE(WriteFileAtomic((dir / "pub.pem").string(), key.PublicKeyPem()).has_value());
  ASSERT_TRUE(WriteFileAtomic((dir / "msg").string(), AsString(msg)).has_value());
  ASSERT_TRUE(WriteFileAtomic((dir / "sig").string(), AsString(sig)).has_value());
  std::string base = "openssl pkeyutl -verify -pubin -inkey " + (dir / "pub.pem").string() +
                     " -rawin -digest sm3 -in " + (dir / "msg").string() + " -sigfile " +
                     (dir / "sig").string() + " >/dev/null 2>&1";
  EXPECT_EQ(std::system((base + "").c_str()) == 0, false) << "verified with the empty ID";
  std::string with_id = "openssl pkeyutl -verify -pubin -inkey " + (dir / "pub.pem").string() +
                        " -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in " +
                        (dir / "msg").string() + " -sigfile " + (dir / "sig").string() +
                        " >/dev/null 2>&1";
  EXPECT_EQ(std::system(with_id.c_str()), 0);
  std::filesystem::remove_all(dir);
}

TEST(Digest, KnownAnswers) {
  EXPECT_EQ(HexEncode(Digest(DigestAlgorithm::kSha256, ToBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // GB/T 32905-2016 example 1.
  EXPECT_EQ(HexEncode(Digest(DigestAlgorithm::kSm3, ToBytes("abc"))),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  Hasher h(DigestAlgorithm::kSha256);
  h.Update(ToBytes("a"));
  h.Update(ToBytes("bc"));
  EXPECT_EQ(h.Finish(), Digest(DigestAlgorithm::kSha256, ToBytes("abc")));
}

TEST(Random, ProducesDistinctBytes) {
  auto a = *RandomBytes(32), b = *RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace autoseal::crypto
