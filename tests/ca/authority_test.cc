#include "ca/authority.h"

#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/file.h"
#include "x509/verify.h"

namespace autoseal::ca {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("autoseal-ca-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<CertificateAuthority> InitAndOpen() {
    auto init = CertificateAuthority::Init(dir_, {.clock = &clock_});
    EXPECT_TRUE(init.has_value()) << init.error().message();
    auto ca = CertificateAuthority::Open(dir_, {.clock = &clock_});
    EXPECT_TRUE(ca.has_value()) << ca.error().message();
    return std::move(*ca);
  }

  static x509::CertificateRequest Csr(KeyType type, x509::CsrOptions names) {
    auto key = *PrivateKey::Generate(type);
    return *x509::CreateCertificateRequest(key, names);
  }

  std::string dir_;
  FixedClock clock_{*ParseRfc3339("2026-11-28T12:00:00Z")};
};

TEST_F(AuthorityTest, InitCreatesThreeHierarchiesWithTheRightKeys) {
  auto report = CertificateAuthority::Init(dir_, {.clock = &clock_});
  ASSERT_TRUE(report.has_value()) << report.error().message();
  ASSERT_EQ(report->hierarchies.size(), 3u);
  const char* want[3][2] = {{"ECDSA P-384", "ECDSA P-256"}, {"RSA 4096", "RSA 2048"}, {"SM2", "SM2"}};
  for (size_t i = 0; i < 3; ++i) {
    const auto& e = report->hierarchies[i];
    EXPECT_TRUE(e.created);
    EXPECT_EQ(e.root.PublicKey().Description(), want[i][0]);
    EXPECT_EQ(e.intermediate.PublicKey().Description(), want[i][1]);
    EXPECT_TRUE(e.root.IsCa());
    EXPECT_EQ(e.intermediate.PathLength(), 0);
    EXPECT_TRUE(e.intermediate.VerifySignature(e.root.PublicKey()).has_value());
  }
}

TEST_F(AuthorityTest, SecondInitChangesNothing) {
  auto first = *CertificateAuthority::Init(dir_, {.clock = &clock_});
  auto key_before = *ReadFile(dir_ + "/ca/sm2/root.key");
  clock_.Advance(std::chrono::hours(1));
  auto second = *CertificateAuthority::Init(dir_, {.clock = &clock_});
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(second.hierarchies[i].created);
    EXPECT_TRUE(second.hierarchies[i].root == first.hierarchies[i].root);
    EXPECT_TRUE(second.hierarchies[i].intermediate == first.hierarchies[i].intermediate);
  }
  EXPECT_EQ(*ReadFile(dir_ + "/ca/sm2/root.key"), key_before);
}

TEST_F(AuthorityTest, InterruptedInitReusesTheKeyItLeftBehind) {
  auto first = *CertificateAuthority::Init(dir_, {.clock = &clock_});
  auto key = *crypto::LoadPrivateKey(dir_ + "/ca/ecc/intermediate.key");
  std::filesystem::remove(dir_ + "/ca/ecc/intermediate.pem");  // as if killed before writing it
  auto again = *CertificateAuthority::Init(dir_, {.clock = &clock_});
  EXPECT_TRUE(again.hierarchies[0].created);
  EXPECT_TRUE(again.hierarchies[0].intermediate.PublicKey().Equals(key));
}

TEST_F(AuthorityTest, OpenWithoutInitSaysToRunInit) {
  auto ca = CertificateAuthority::Open(dir_);
  ASSERT_FALSE(ca.has_value());
  EXPECT_EQ(ca.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(ca.error().message().find("autoseal ca init"), std::string::npos);
}

TEST_F(AuthorityTest, IssuesFromTheHierarchyOfTheKeyFamilyAndRecordsIt) {
  auto ca = InitAndOpen();
  struct Case {
    KeyType type;
    Hierarchy want;
  } cases[] = {{KeyType::kEcdsaP256, Hierarchy::kEcc}, {KeyType::kEcdsaP384, Hierarchy::kEcc},
               {KeyType::kRsa2048, Hierarchy::kRsa}, {KeyType::kSm2, Hierarchy::kSm2}};
  for (const auto& c : cases) {
    auto issued = ca->Issue(Csr(c.type, {.dns_names = {"www.example.com"}}), x509::Profile::kTlsServer);
    ASSERT_TRUE(issued.has_value()) << issued.error().message();
    EXPECT_EQ(issued->hierarchy, c.want);
    ASSERT_EQ(issued->chain.size(), 2u);
    EXPECT_TRUE(issued->chain[1] == ca->Intermediate(c.want));
    auto report = x509::VerifyChain(issued->chain, ca->Roots(), {.at = clock_.Now(), .profile = x509::Profile::kTlsServer});
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
    auto record = ca->Find(issued->leaf.SerialHex());
    ASSERT_TRUE(record.has_value() && record->has_value());
    EXPECT_EQ((*record)->hierarchy, c.want);
    EXPECT_EQ((*record)->names, std::vector<std::string>{"www.example.com"});
    EXPECT_EQ((*record)->status, CertificateStatus::kValid);
    EXPECT_EQ((*record)->pem, issued->leaf.Pem());
  }
}

TEST_F(AuthorityTest, RecordsSurviveReopening) {
  std::string serial;
  {
    auto ca = InitAndOpen();
    serial = ca->Issue(Csr(KeyType::kEcdsaP256, {.email_addresses = {"bob@example.com"}}), x509::Profile::kSmime)
                 ->leaf.SerialHex();
  }
  auto ca = *CertificateAuthority::Open(dir_, {.clock = &clock_});
  auto record = *ca->Find(serial);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->profile, x509::Profile::kSmime);
}

TEST_F(AuthorityTest, RefusedRequestsRecordNothing) {
  auto ca = InitAndOpen();
  auto ed = Csr(KeyType::kEd25519, {.dns_names = {"a.example.com"}});
  auto r = ca->Issue(ed, x509::Profile::kTlsServer);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kPolicy);
  auto too_long = ca->Issue(Csr(KeyType::kEcdsaP256, {.dns_names = {"a.example.com"}}), x509::Profile::kTlsServer, 400);
  EXPECT_FALSE(too_long.has_value());
}

TEST_F(AuthorityTest, RevocationAppearsInTheNextCrlWithItsReason) {
  auto ca = InitAndOpen();
  auto issued = *ca->Issue(Csr(KeyType::kSm2, {.dns_names = {"sm2.example.com"}}), x509::Profile::kTlsServer);
  auto keep = *ca->Issue(Csr(KeyType::kSm2, {.dns_names = {"keep.example.com"}}), x509::Profile::kTlsServer);
  auto empty = ca->GenerateCrl(Hierarchy::kSm2);
  ASSERT_TRUE(empty.has_value()) << empty.error().message();
  EXPECT_TRUE(empty->Revoked().empty());

  ASSERT_TRUE(ca->Revoke(issued.leaf.SerialHex(), x509::RevocationReason::kSuperseded).has_value());
  auto twice = ca->Revoke(issued.leaf.SerialHex(), x509::RevocationReason::kSuperseded);
  EXPECT_EQ(twice.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ca->Revoke("00ff", x509::RevocationReason::kUnspecified).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ca->Revoke("xyz", x509::RevocationReason::kUnspecified).error().code(), ErrorCode::kInvalidArgument);

  auto crl = *ca->GenerateCrl(Hierarchy::kSm2);
  ASSERT_EQ(crl.Revoked().size(), 1u);
  EXPECT_EQ(HexEncode(crl.Revoked()[0].serial), issued.leaf.SerialHex());
  EXPECT_EQ(crl.Revoked()[0].reason, x509::RevocationReason::kSuperseded);
  EXPECT_GT(*crl.Number(), *empty->Number());
  EXPECT_TRUE(crl.VerifySignature(ca->Intermediate(Hierarchy::kSm2).PublicKey()).has_value());
  auto on_disk = x509::Crl::FromPem(*ReadFile(dir_ + "/ca/crl/sm2.crl"));
  ASSERT_TRUE(on_disk.has_value());
  EXPECT_EQ(on_disk->Number(), crl.Number());
  // Other hierarchies' CRLs do not list it.
  EXPECT_TRUE(ca->GenerateCrl(Hierarchy::kEcc)->Revoked().empty());
  EXPECT_EQ((*ca->Find(keep.leaf.SerialHex()))->status, CertificateStatus::kValid);
}

TEST_F(AuthorityTest, ConcurrentIssuanceGivesDistinctRecordedSerials) {
  auto ca = InitAndOpen();
  std::vector<std::string> serials(40);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto issued = ca->Issue(Csr(KeyType::kEcdsaP256, {.dns_names = {"t.example.com"}}), x509::Profile::kTlsServer);
        if (issued) serials[t * 10 + i] = issued->leaf.SerialHex();
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> unique(serials.begin(), serials.end());
  EXPECT_EQ(unique.size(), 40u);
  EXPECT_EQ(unique.count(""), 0u);
  for (const auto& s : serials) EXPECT_TRUE((*ca->Find(s)).has_value());
}

TEST(Serial, NormalizesUserInput) {
  EXPECT_EQ(*NormalizeSerial("00:AB:cd"), "abcd");
  EXPECT_EQ(*NormalizeSerial("0x1"), "01");
  EXPECT_FALSE(NormalizeSerial("").has_value());
  EXPECT_FALSE(NormalizeSerial("zz").has_value());
}

}  // namespace
}  // namespace autoseal::ca
