#include "crypto/prepared.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/signature.h"

namespace autoseal::crypto {
namespace {

class PreparedTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PreparedTest, SignaturesVerifyEitherWayAndTamperingFails) {
  auto key = *PrivateKey::Generate(GetParam());
  auto signer = PreparedSigner::Create(key);
  ASSERT_TRUE(signer.has_value()) << signer.error().message();
  auto verifier = PreparedVerifier::Create(key.Public());
  ASSERT_TRUE(verifier.has_value());
  Bytes msg = ToBytes("prepared once, used many times");
  for (int i = 0; i < 3; ++i) {
    auto sig = (*signer)->Sign(msg);
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(Verify(key.Public(), msg, *sig).has_value());  // the one-shot path agrees
    EXPECT_TRUE((*verifier)->Verify(msg, *sig).has_value());
    Bytes other = msg;
    other.back() ^= 1;
    EXPECT_FALSE((*verifier)->Verify(other, *sig).has_value());
  }
  auto one_shot = *Sign(key, msg);
  EXPECT_TRUE((*verifier)->Verify(msg, one_shot).has_value());
}

TEST_P(PreparedTest, ConcurrentUseIsSafe) {
  auto key = *PrivateKey::Generate(GetParam());
  auto signer = *PreparedSigner::Create(key);
  auto verifier = *PreparedVerifier::Create(key.Public());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Bytes msg = ToBytes("thread " + std::to_string(t) + " message " + std::to_string(i));
        auto sig = signer->Sign(msg);
        if (sig && verifier->Verify(msg, *sig)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 40);
}

INSTANTIATE_TEST_SUITE_P(All, PreparedTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kRsa2048, KeyType::kEd25519, KeyType::kSm2));

}  // namespace
}  // namespace autoseal::crypto
