#include "x509/issue.h"

#include <gtest/gtest.h>

#include "crypto/signature.h"
#include "x509/crl.h"
#include "x509/verify.h"

namespace autoseal::x509 {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;

const TimePoint kNow = *ParseRfc3339("2026-11-28T12:00:00Z");

struct Hierarchy {
  PrivateKey root_key, int_key;
  Certificate root, intermediate;
};

Hierarchy MakeHierarchy(KeyType root_type, KeyType int_type) {
  auto root_key = *PrivateKey::Generate(root_type);
  CertificateSpec rs;
  rs.profile = Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "Test Root";
  rs.organization = "autoseal tests";
  rs.not_before = kNow - std::chrono::hours(24);
  rs.not_after = kNow + std::chrono::hours(24 * 3650);
  auto root = IssueCertificate(rs, nullptr, root_key);
  EXPECT_TRUE(root.has_value()) << root.error().message();
  auto int_key = *PrivateKey::Generate(int_type);
  CertificateSpec is = rs;
  is.profile = Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "Test Intermediate";
  is.path_length = 0;
  is.not_after = kNow + std::chrono::hours(24 * 1825);
  auto inter = IssueCertificate(is, &*root, root_key);
  EXPECT_TRUE(inter.has_value()) << inter.error().message();
  return {root_key, int_key, *root, *inter};
}

Certificate IssueLeaf(const Hierarchy& h, const PrivateKey& key, Profile profile, CsrOptions names,
                      int days = 30) {
  auto csr = CreateCertificateRequest(key, names);
  EXPECT_TRUE(csr.has_value()) << csr.error().message();
  auto spec = SpecFromRequest(*csr, profile, {.days = days, .now = kNow});
  EXPECT_TRUE(spec.has_value()) << spec.error().message();
  auto cert = IssueCertificate(*spec, &h.intermediate, h.int_key);
  EXPECT_TRUE(cert.has_value()) << cert.error().message();
  return *cert;
}

class PerHierarchy : public ::testing::TestWithParam<std::pair<KeyType, KeyType>> {};

TEST_P(PerHierarchy, TlsServerChainVerifiesWithProfile) {
  auto h = MakeHierarchy(GetParam().first, GetParam().second);
  auto key = *PrivateKey::Generate(GetParam().second);
  auto leaf = IssueLeaf(h, key, Profile::kTlsServer, {.dns_names = {"www.example.com", "*.example.com"}, .ip_addresses = {"127.0.0.1"}});
  EXPECT_EQ(leaf.DnsNames(), (std::vector<std::string>{"www.example.com", "*.example.com"}));
  EXPECT_EQ(leaf.IpAddresses(), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(leaf.Serial().size(), 20u);
  EXPECT_EQ(leaf.ExtendedKeyUsages(), std::vector<std::string>{"serverAuth"});
  EXPECT_TRUE(leaf.KeyUsageCritical());
  EXPECT_EQ(leaf.Issuer(), h.intermediate.Subject());
  EXPECT_EQ(leaf.AuthorityKeyId(), h.intermediate.SubjectKeyId());
  EXPECT_TRUE(leaf.VerifySignature(h.int_key.Public()).has_value());
  EXPECT_FALSE(leaf.VerifySignature(h.root_key.Public()).has_value());

  auto report = VerifyChain({leaf, h.intermediate}, {h.root},
                            {.at = kNow + std::chrono::hours(1), .profile = Profile::kTlsServer});
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  EXPECT_EQ(report.path.size(), 3u);
}

TEST_P(PerHierarchy, ExpiredAndUntrustedChainsReportEveryReason) {
  auto h = MakeHierarchy(GetParam().first, GetParam().second);
  auto key = *PrivateKey::Generate(GetParam().second);
  auto leaf = IssueLeaf(h, key, Profile::kTlsServer, {.dns_names = {"a.example.com"}}, 10);
  auto late = VerifyChain({leaf, h.intermediate}, {h.root}, {.at = kNow + std::chrono::hours(24 * 11)});
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.problems[0].find("expired"), std::string::npos) << late.problems[0];

  auto other = MakeHierarchy(GetParam().first, GetParam().second);
  auto untrusted = VerifyChain({leaf, h.intermediate}, {other.root}, {.at = kNow});
  EXPECT_FALSE(untrusted.ok());
  auto missing_intermediate = VerifyChain({leaf}, {h.root}, {.at = kNow});
  EXPECT_FALSE(missing_intermediate.ok());
}

TEST_P(PerHierarchy, CrlListsRevokedSerialsAndVerifies) {
  auto h = MakeHierarchy(GetParam().first, GetParam().second);
  auto key = *PrivateKey::Generate(GetParam().second);
  auto leaf = IssueLeaf(h, key, Profile::kTlsServer, {.dns_names = {"a.example.com"}});
  auto crl = CreateCrl(h.intermediate, h.int_key,
                       {{leaf.Serial(), kNow, RevocationReason::kKeyCompromise}}, kNow,
                       kNow + std::chrono::hours(24 * 7), 42);
  ASSERT_TRUE(crl.has_value()) << crl.error().message();
  auto parsed = Crl::FromDer(crl->Der());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->Number(), 42u);
  ASSERT_EQ(parsed->Revoked().size(), 1u);
  EXPECT_EQ(parsed->Revoked()[0].serial, leaf.Serial());
  EXPECT_EQ(parsed->Revoked()[0].reason, RevocationReason::kKeyCompromise);
  EXPECT_TRUE(parsed->VerifySignature(h.int_key.Public()).has_value());
  EXPECT_FALSE(parsed->VerifySignature(h.root_key.Public()).has_value());
}

INSTANTIATE_TEST_SUITE_P(
    All, PerHierarchy,
    ::testing::Values(std::pair{KeyType::kEcdsaP384, KeyType::kEcdsaP256},
                      std::pair{KeyType::kRsa2048, KeyType::kRsa2048},
                      std::pair{KeyType::kSm2, KeyType::kSm2}),
    [](const auto& info) { return std::string(crypto::KeyTypeName(info.param.first)).substr(0, 3); });

TEST(Issue, SmimeStrictProfile) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto leaf = IssueLeaf(h, key, Profile::kSmime, {.email_addresses = {"alice@example.com"}}, 825);
  EXPECT_EQ(leaf.ExtendedKeyUsages(), std::vector<std::string>{"emailProtection"});
  EXPECT_EQ(leaf.EmailAddresses(), std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(*leaf.KeyUsageBits(), kDigitalSignature | kKeyAgreement);
  EXPECT_EQ(leaf.PolicyOids(), std::vector<std::string>{"2.23.140.1.5.1.3"});
  auto report = VerifyChain({leaf, h.intermediate}, {h.root}, {.at = kNow, .profile = Profile::kSmime});
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
}

TEST(Issue, TimeStampingHasOnlyCriticalTimeStampingEku) {
  auto h = MakeHierarchy(KeyType::kSm2, KeyType::kSm2);
  auto key = *PrivateKey::Generate(KeyType::kSm2);
  auto leaf = IssueLeaf(h, key, Profile::kTimeStamping, {.common_name = "autoseal TSA"}, 365);
  EXPECT_EQ(leaf.ExtendedKeyUsages(), std::vector<std::string>{"timeStamping"});
  EXPECT_TRUE(leaf.ExtendedKeyUsageCritical());
  auto report = VerifyChain({leaf, h.intermediate}, {h.root}, {.at = kNow, .profile = Profile::kTimeStamping});
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
}

TEST(Issue, TlcpEncryptionOnlyForSm2Keys) {
  auto h = MakeHierarchy(KeyType::kSm2, KeyType::kSm2);
  auto key = *PrivateKey::Generate(KeyType::kSm2);
  auto leaf = IssueLeaf(h, key, Profile::kTlcpEncryption, {.dns_names = {"sm2.example.com"}});
  EXPECT_EQ(*leaf.KeyUsageBits(), kKeyEncipherment | kDataEncipherment | kKeyAgreement);
  EXPECT_EQ(DetectProfile(leaf), Profile::kTlcpEncryption);
  auto ec = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto csr = *CreateCertificateRequest(ec, {.dns_names = {"sm2.example.com"}});
  auto spec = SpecFromRequest(csr, Profile::kTlcpEncryption, {.now = kNow});
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), ErrorCode::kPolicy);
}

TEST(Issue, RefusesValidityBeyondProfileMaximum) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto csr = *CreateCertificateRequest(key, {.dns_names = {"a.example.com"}});
  EXPECT_TRUE(SpecFromRequest(csr, Profile::kTlsServer, {.days = 398, .now = kNow}).has_value());
  auto too_long = SpecFromRequest(csr, Profile::kTlsServer, {.days = 399, .now = kNow});
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kPolicy);
  auto def = SpecFromRequest(csr, Profile::kTlsServer, {.now = kNow});
  EXPECT_EQ(ToUnixSeconds(def->not_after) - ToUnixSeconds(def->not_before) + 1, 90 * 86400);
}

TEST(Issue, CsrChecksGiveSpecificErrors) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto ed = *PrivateKey::Generate(KeyType::kEd25519);
  auto ed_csr = *CreateCertificateRequest(ed, {.dns_names = {"a.example.com"}});
  EXPECT_EQ(CheckRequest(ed_csr, Profile::kTlsServer).error().code(), ErrorCode::kPolicy);
  auto no_names = *CreateCertificateRequest(key, {.common_name = "nothing"});
  EXPECT_EQ(CheckRequest(no_names, Profile::kTlsServer).error().code(), ErrorCode::kInvalidArgument);
  auto cn_mismatch = *CreateCertificateRequest(key, {.common_name = "b.example.com", .dns_names = {"a.example.com"}});
  EXPECT_NE(CheckRequest(cn_mismatch, Profile::kTlsServer).error().message().find("common name"), std::string::npos);
  auto email_in_tls = *CreateCertificateRequest(key, {.dns_names = {"a.example.com"}, .email_addresses = {"a@example.com"}});
  EXPECT_FALSE(CheckRequest(email_in_tls, Profile::kTlsServer).has_value());
  EXPECT_FALSE(CreateCertificateRequest(key, {.dns_names = {"a.*.example.com"}}).has_value());
  // CA profiles are never issued from requests.
  auto ok = *CreateCertificateRequest(key, {.dns_names = {"a.example.com"}});
  EXPECT_FALSE(CheckRequest(ok, Profile::kIntermediateCa).has_value());
}

TEST(Issue, TamperedCsrSignatureIsRefused) {
  auto key = *PrivateKey::Generate(KeyType::kSm2);
  auto csr = *CreateCertificateRequest(key, {.dns_names = {"a.example.com"}});
  EXPECT_TRUE(csr.VerifySignature().has_value());
  Bytes der = csr.Der();
  der[der.size() - 5] ^= 0x01;  // inside the signature value
  auto bad = CertificateRequest::FromDer(der);
  ASSERT_TRUE(bad.has_value()) << "the flipped bit should stay parseable";
  auto st = CheckRequest(*bad, Profile::kTlsServer);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code(), ErrorCode::kCrypto);
}

TEST(Issue, LeafMayNotOutliveIssuerAndIssuerMustMatch) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  CertificateSpec spec;
  spec.profile = Profile::kTlsServer;
  spec.subject_key = key.Public();
  spec.dns_names = {"a.example.com"};
  spec.not_before = h.intermediate.NotAfter() - std::chrono::hours(24);
  spec.not_after = h.intermediate.NotAfter() + std::chrono::hours(24);
  EXPECT_EQ(IssueCertificate(spec, &h.intermediate, h.int_key).error().code(), ErrorCode::kPolicy);
  spec.not_before = kNow;
  spec.not_after = kNow + std::chrono::hours(24);
  EXPECT_FALSE(IssueCertificate(spec, &h.intermediate, h.root_key).has_value());
  EXPECT_TRUE(IssueCertificate(spec, &h.intermediate, h.int_key).has_value());
}

TEST(Issue, SubSecondTimesAreTruncatedBeforeNestingChecks) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  CertificateSpec spec;
  spec.profile = Profile::kTlsServer;
  spec.subject_key = key.Public();
  spec.dns_names = {"a.example.com"};
  spec.not_before = kNow + std::chrono::milliseconds(250);
  // Ends in the same second as the issuer, a fraction later: still nested once truncated.
  spec.not_after = h.intermediate.NotAfter() + std::chrono::milliseconds(900);
  spec.not_before = spec.not_after - std::chrono::hours(24 * 30);
  auto cert = IssueCertificate(spec, &h.intermediate, h.int_key);
  ASSERT_TRUE(cert.has_value()) << cert.error().message();
  EXPECT_EQ(cert->NotAfter(), h.intermediate.NotAfter());
}

TEST(Parse, RejectsGarbageAndTruncation) {
  EXPECT_EQ(Certificate::FromPem("not a certificate").error().code(), ErrorCode::kParse);
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  Bytes der = h.root.Der();
  der.resize(der.size() - 10);
  EXPECT_FALSE(Certificate::FromDer(der).has_value());
  Bytes extra = h.root.Der();
  extra.push_back(0);
  EXPECT_FALSE(Certificate::FromDer(extra).has_value());
  auto all = Certificate::ParseAll(h.intermediate.Pem() + h.root.Pem());
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_FALSE(Certificate::ParseAll(h.root.Pem() + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").has_value());
}

}  // namespace
}  // namespace autoseal::x509
