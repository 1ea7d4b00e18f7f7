#include <gtest/gtest.h>

#include "crypto/key.h"
#include "crypto/signature.h"

namespace autoseal::crypto {
namespace {

TEST(Components, RsaRoundTrips) {
  auto key = *PrivateKey::Generate(KeyType::kRsa2048);
  auto c = key.RsaComponents();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->e, (Bytes{0x01, 0x00, 0x01}));
  auto back = PublicKey::FromRsaComponents(c->n, c->e);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_TRUE(back->Equals(key.Public()));
  auto sig = *Sign(key, ToBytes("m"));
  EXPECT_TRUE(Verify(*back, ToBytes("m"), sig).has_value());
}

TEST(Components, RsaRefusesSmallModuliAndEvenExponents) {
  Bytes n(128, 0xff);
  EXPECT_FALSE(PublicKey::FromRsaComponents(n, Bytes{1, 0, 1}).has_value());
  auto key = *PrivateKey::Generate(KeyType::kRsa2048);
  auto c = *key.RsaComponents();
  EXPECT_FALSE(PublicKey::FromRsaComponents(c.n, Bytes{2}).has_value());
}

TEST(Components, EcRoundTripsAndRejectsPointsOffTheCurve) {
  for (auto type : {KeyType::kEcdsaP256, KeyType::kEcdsaP384}) {
    auto key = *PrivateKey::Generate(type);
    auto c = key.EcComponents();
    ASSERT_TRUE(c.has_value()) << c.error().message();
    auto back = PublicKey::FromEcComponents(c->curve, c->x, c->y);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_TRUE(back->Equals(key.Public()));
    Bytes bad_y = c->y;
    bad_y.back() ^= 1;
    EXPECT_FALSE(PublicKey::FromEcComponents(c->curve, c->x, bad_y).has_value());
    EXPECT_FALSE(PublicKey::FromEcComponents("P-999", c->x, c->y).has_value());
  }
}

TEST(Components, Ed25519RoundTrips) {
  auto key = *PrivateKey::Generate(KeyType::kEd25519);
  auto raw = key.Ed25519Raw();
  ASSERT_TRUE(raw.has_value());
  EXPECT_TRUE(PublicKey::FromEd25519(*raw)->Equals(key.Public()));
  EXPECT_FALSE(PublicKey::FromEd25519(Bytes(31)).has_value());
}

TEST(EcdsaFormat, RawAndDerConvertBothWays) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP384);
  auto der = *Sign(key, ToBytes("m"));
  auto raw = EcdsaSignatureToRaw(der, 48);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->size(), 96u);
  auto back = EcdsaSignatureFromRaw(*raw);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(Verify(key.Public(), ToBytes("m"), *back).has_value());
  EXPECT_FALSE(EcdsaSignatureFromRaw(Bytes(3)).has_value());
  EXPECT_FALSE(EcdsaSignatureToRaw(Bytes{0x30, 0x01}, 32).has_value());
}

TEST(Hmac, Rfc4231TestCase2) {
  auto mac = HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"));
  EXPECT_EQ(HexEncode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace autoseal::crypto
