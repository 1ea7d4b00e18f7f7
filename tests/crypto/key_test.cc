#include "crypto/key.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "core/file.h"
#include "crypto/ossl.h"
#include "crypto/signature.h"

namespace autoseal::crypto {
namespace {

class KeyTypes : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTypes, GeneratesAndRoundTripsPemAndDer) {
  auto key = PrivateKey::Generate(GetParam());
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(*key->Type(), GetParam());

  auto pem = key->PrivateKeyPem();
  ASSERT_TRUE(pem.has_value());
  auto back = PrivateKey::FromPem(*pem);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back->Type(), GetParam());
  EXPECT_TRUE(back->Equals(*key));

  auto der = key->PrivateKeyDer();
  ASSERT_TRUE(der.has_value());
  auto from_der = PrivateKey::FromDer(*der);
  ASSERT_TRUE(from_der.has_value());
  EXPECT_TRUE(from_der->Equals(*key));

  auto pub = PublicKey::FromPem(key->PublicKeyPem());
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(*pub->Type(), GetParam());
  EXPECT_TRUE(pub->Equals(key->Public()));
  auto pub_der = PublicKey::FromDer(key->PublicKeyDer());
  ASSERT_TRUE(pub_der.has_value());
  EXPECT_EQ(*pub_der->Type(), GetParam());
  // The SubjectPublicKeyInfo parsed (by components for EC, SM2 and RSA) is the same key: it
  // re-encodes byte for byte and verifies the private key's signatures.
  EXPECT_EQ(pub_der->PublicKeyDer(), key->PublicKeyDer());
  EXPECT_TRUE(pub_der->Equals(key->Public()));
  EXPECT_EQ(pub_der->Family(), key->Family());
  Bytes message = {'p', 'o', 'p'};
  auto sig = Sign(*key, message);
  ASSERT_TRUE(sig.has_value()) << sig.error().message();
  EXPECT_TRUE(Verify(*pub_der, message, *sig).has_value());
  message[0] = 'P';
  EXPECT_FALSE(Verify(*pub_der, message, *sig).has_value());
}

TEST(Key, PointOffTheCurveIsRefused) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kSm2}) {
    Bytes der = PrivateKey::Generate(type)->PublicKeyDer();
    der.back() ^= 0x01;  // the last byte of y
    auto r = PublicKey::FromDer(der);
    EXPECT_FALSE(r.has_value()) << KeyTypeName(type);
  }
}

TEST(Key, SmallRsaKeysStillParseSoPolicyCanNameThem) {
  EvpPkeyPtr small(EVP_RSA_gen(1024));
  ASSERT_TRUE(small);
  auto key = PublicKey::FromEvp(small.get());
  ASSERT_TRUE(key.has_value());
  auto back = PublicKey::FromDer(key->PublicKeyDer());
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->Bits(), 1024);
  EXPECT_FALSE(back->Type().has_value());
}

TEST_P(KeyTypes, PassphraseEncryptionNeedsTheRightPassphrase) {
  auto key = *PrivateKey::Generate(GetParam());
  auto pem = key.PrivateKeyPem("correct horse");
  ASSERT_TRUE(pem.has_value());
  EXPECT_NE(pem->find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  auto ok = PrivateKey::FromPem(*pem, "correct horse");
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  EXPECT_TRUE(ok->Equals(key));
  EXPECT_FALSE(PrivateKey::FromPem(*pem, "wrong").has_value());
  auto none = PrivateKey::FromPem(*pem);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), ErrorCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(All, KeyTypes,
                         ::testing::Values(KeyType::kRsa2048, KeyType::kEcdsaP256,
                                           KeyType::kEcdsaP384, KeyType::kEd25519, KeyType::kSm2),
                         [](const auto& info) {
                           std::string n(KeyTypeName(info.param));
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Key, Sm2KeysAreSm2NotEcdsa) {
  auto key = *PrivateKey::Generate(KeyType::kSm2);
  EXPECT_EQ(key.Family(), KeyFamily::kSm2);
  EXPECT_EQ(key.Description(), "SM2");
}

TEST(Key, GarbageIsAParseError) {
  auto r = PrivateKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kParse);
  EXPECT_FALSE(PublicKey::FromDer(Bytes{0x30, 0x03, 0x02, 0x01}).has_value());
  EXPECT_FALSE(PublicKey::FromPem("hello").has_value());
}

TEST(Key, ParseKeyTypeNamesAndRejectsUnknown) {
  EXPECT_EQ(*ParseKeyType("sm2"), KeyType::kSm2);
  EXPECT_EQ(*ParseKeyType("ecdsa-p384"), KeyType::kEcdsaP384);
  EXPECT_FALSE(ParseKeyType("dsa").has_value());
}

TEST(Key, SavedKeyIsPrivateAndNeverOverwritten) {
  auto dir = std::filesystem::temp_directory_path() / ("autoseal-key-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "k.pem").string();
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(SavePrivateKey(path, key).has_value());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto other = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto again = SavePrivateKey(path, other);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(LoadPrivateKey(path)->Equals(key));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace autoseal::crypto
