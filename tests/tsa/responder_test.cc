#include "tsa/responder.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "crypto/digest.h"
#include "test_pki.h"
#include "tsa/client.h"
#include "tsa/internal/der.h"
#include "tsa/messages.h"

namespace autoseal::tsa {
namespace {

using crypto::DigestAlgorithm;
using crypto::KeyType;
using testing::MakeTestPki;
using testing::TestPki;

const Bytes kData = ToBytes("the quick brown fox\n");

class ResponderTest : public ::testing::TestWithParam<KeyType> {
 protected:
  static void SetUpTestSuite() {
    for (KeyType t : {KeyType::kEcdsaP256, KeyType::kRsa2048, KeyType::kSm2})
      pkis_.emplace(t, MakeTestPki(t));
  }
  static void TearDownTestSuite() { pkis_.clear(); }

  const TestPki& pki() const { return pkis_.at(GetParam()); }

  std::unique_ptr<Responder> Make(std::function<void(ResponderOptions&)> tweak = nullptr) {
    ResponderOptions o{.key = pki().tsa_key, .chain = pki().Chain()};
    o.clock = &clock_;
    o.serials = &serials_;
    if (tweak) tweak(o);
    auto r = Responder::Create(std::move(o));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return std::move(*r);
  }

  DigestAlgorithm Digest() const {
    return GetParam() == KeyType::kSm2 ? DigestAlgorithm::kSm3 : DigestAlgorithm::kSha256;
  }

  Bytes Query(bool cert_req = true, std::optional<Bytes> nonce = Bytes{0x12, 0x34, 0x56}) const {
    return EncodeTimeStampReq(Digest(), crypto::Digest(Digest(), kData), nonce, cert_req);
  }

  VerifyTokenOptions VerifyWith(Bytes data = kData) const {
    VerifyTokenOptions v;
    v.roots = {pki().root};
    v.data = std::move(data);
    return v;
  }

  static inline std::map<KeyType, TestPki> pkis_;
  FixedClock clock_{SystemClock::Instance().Now()};
  EpochSerialSource serials_{7};
};

TimeStampResp Parse(const Bytes& der) {
  auto r = ParseTimeStampResp(der);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r.value_or(TimeStampResp{});
}

TEST_P(ResponderTest, GrantedTokenVerifies) {
  auto responder = Make();
  Bytes reply = responder->Respond(Query());
  TimeStampResp resp = Parse(reply);
  ASSERT_EQ(resp.status, PkiStatus::kGranted) << resp.status_string;
  TokenReport report = VerifyToken(reply, VerifyWith());
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  ASSERT_TRUE(report.tst_info.has_value());
  EXPECT_EQ(report.tst_info->policy_text, kDefaultPolicyOid);
  EXPECT_EQ(report.tst_info->nonce, (Bytes{0x12, 0x34, 0x56}));
  EXPECT_FALSE(report.tst_info->ordering);
  EXPECT_EQ(report.tst_info->accuracy_micros, 1000000);
  // Token alone (as embedded in S/MIME) verifies too.
  TokenReport token_only = VerifyToken(*resp.token, VerifyWith());
  EXPECT_TRUE(token_only.ok()) << ::testing::PrintToString(token_only.problems);
}

TEST_P(ResponderTest, WrongDataIsReported) {
  auto responder = Make();
  TokenReport report = VerifyToken(responder->Respond(Query()), VerifyWith(ToBytes("other")));
  ASSERT_FALSE(report.ok());
  EXPECT_NE(::testing::PrintToString(report.problems).find("imprint does not match"), std::string::npos);
}

TEST_P(ResponderTest, EveryTamperedByteIsRejected) {
  auto responder = Make();
  Bytes reply = responder->Respond(Query());
  Bytes token = *Parse(reply).token;
  // Flip one bit at a spread of positions across the whole token: none may verify.
  int accepted = 0;
  for (size_t i = 0; i < token.size(); i += 7) {
    Bytes t = token;
    t[i] ^= 0x01;
    if (VerifyToken(t, VerifyWith()).ok()) {
      ++accepted;
      ADD_FAILURE() << "tampered byte " << i << " accepted";
    }
  }
  EXPECT_EQ(accepted, 0);
}

TEST_P(ResponderTest, SignatureAlgorithmNamingAnotherHashIsReported) {
  // The SignerInfo's signatureAlgorithm (the last such OID in the token) changed from
  // ...-with-SHA256 to ...-with-SHA384: the signature still verifies over the same bytes, but the
  // algorithm no longer names the digest algorithm (RFC 5753 §2.1.1, RFC 4056 §3).
  auto responder = Make();
  Bytes token = *Parse(responder->Respond(Query())).token;
  const Bytes ecdsa_sha256 = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
  const Bytes rsa_sha256 = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
  // Only past the signed attributes (the messageDigest attribute's OID), not in a certificate.
  const Bytes message_digest = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04};
  size_t from = 0;
  for (size_t i = 0; i + message_digest.size() <= token.size(); ++i)
    if (std::equal(message_digest.begin(), message_digest.end(), token.begin() + static_cast<long>(i))) from = i;
  size_t at = std::string::npos, length = 0;
  for (const Bytes* oid : {&ecdsa_sha256, &rsa_sha256}) {
    for (size_t i = from; i + oid->size() <= token.size(); ++i)
      if (std::equal(oid->begin(), oid->end(), token.begin() + static_cast<long>(i))) at = i, length = oid->size();
  }
  if (at == std::string::npos) GTEST_SKIP() << "no hash-naming signature algorithm in this token";
  token[at + length - 1] += 1;  // ...02 → ...03, ...0b → ...0c: the SHA-384 sibling
  TokenReport report = VerifyToken(token, VerifyWith());
  ASSERT_FALSE(report.ok());
  EXPECT_NE(::testing::PrintToString(report.problems).find("names another hash"), std::string::npos)
      << ::testing::PrintToString(report.problems);
}

TEST_P(ResponderTest, UntrustedRootIsReported) {
  auto responder = Make();
  VerifyTokenOptions v = VerifyWith();
  v.roots = {MakeTestPki(GetParam()).root};
  EXPECT_FALSE(VerifyToken(responder->Respond(Query()), v).ok());
}

TEST_P(ResponderTest, CertificatesOnlyWhenRequested) {
  auto responder = Make();
  Bytes without = responder->Respond(Query(/*cert_req=*/false));
  Bytes with = responder->Respond(Query(/*cert_req=*/true));
  EXPECT_LT(without.size() + 300, with.size());
  EXPECT_FALSE(VerifyToken(without, VerifyWith()).ok());  // no signer certificate available
  VerifyTokenOptions v = VerifyWith();
  v.untrusted = pki().Chain();
  TokenReport report = VerifyToken(without, v);
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
}

TEST_P(ResponderTest, GenTimeHasSubSecondPrecisionWithoutTrailingZeros) {
  clock_.Set(*ParseRfc3339("2026-11-28T12:00:00.250Z"));
  auto responder = Make([](ResponderOptions& o) { o.precision_digits = 3; });
  auto result = ParseGrantedResponse(responder->Respond(Query()));
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->tst_info.gen_time_text, "20261128120000.25Z");
  clock_.Set(*ParseRfc3339("2026-11-28T12:00:01Z"));
  result = ParseGrantedResponse(responder->Respond(Query()));
  EXPECT_EQ(result->tst_info.gen_time_text, "20261128120001Z");
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, ResponderTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kRsa2048, KeyType::kSm2),
                         [](const auto& info) {
                           return std::string(info.param == KeyType::kEcdsaP256 ? "Ecdsa"
                                              : info.param == KeyType::kRsa2048 ? "Rsa"
                                                                                 : "Sm2");
                         });

class BadRequestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(MakeTestPki(KeyType::kEcdsaP256)); }
  static void TearDownTestSuite() { delete pki_; }
  void SetUp() override {
    ResponderOptions o{.key = pki_->tsa_key, .chain = pki_->Chain()};
    o.serials = &serials_;
    o.clock_status = &unsynced_;
    o.require_synced_clock = require_synced_;
    responder_ = std::move(*Responder::Create(std::move(o)));
  }
  uint32_t FailInfo(const Bytes& query) {
    TimeStampResp resp = Parse(responder_->Respond(query));
    EXPECT_EQ(resp.status, PkiStatus::kRejection);
    EXPECT_FALSE(resp.token.has_value());
    EXPECT_FALSE(resp.status_string.empty());
    return resp.fail_info;
  }
  static constexpr uint32_t Bit(FailureInfo f) { return 1u << static_cast<int>(f); }

  static inline TestPki* pki_ = nullptr;
  EpochSerialSource serials_{1};
  FixedClockStatus unsynced_{false};
  bool require_synced_ = false;
  std::unique_ptr<Responder> responder_;
};

TEST_F(BadRequestTest, GarbageIsBadDataFormat) {
  EXPECT_EQ(FailInfo(ToBytes("hello, world")), Bit(FailureInfo::kBadDataFormat));
  EXPECT_EQ(FailInfo({}), Bit(FailureInfo::kBadDataFormat));
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, true);
  Bytes trailing = q;
  trailing.push_back(0);
  EXPECT_EQ(FailInfo(trailing), Bit(FailureInfo::kBadDataFormat));
  Bytes truncated(q.begin(), q.end() - 1);
  EXPECT_EQ(FailInfo(truncated), Bit(FailureInfo::kBadDataFormat));
}

TEST_F(BadRequestTest, UnknownOrSha1HashIsBadAlg) {
  EXPECT_EQ(FailInfo(EncodeTimeStampReq(DigestAlgorithm::kSha1, Bytes(20, 1), std::nullopt, true)),
            Bit(FailureInfo::kBadAlg));
  // MD5 (1.2.840.113549.2.5): replace the SHA-256 OID in a well-formed request.
  Bytes md5_alg = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00};
  Bytes md5 = der::Wrap(der::kSequence,
                        {der::Integer(1), der::Wrap(der::kSequence, {md5_alg, der::Tlv(der::kOctetString, Bytes(16, 1))})});
  EXPECT_EQ(FailInfo(md5), Bit(FailureInfo::kBadAlg));
}

TEST_F(BadRequestTest, ImprintLengthMismatchIsBadDataFormat) {
  EXPECT_EQ(FailInfo(EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(20, 1), std::nullopt, true)),
            Bit(FailureInfo::kBadDataFormat));
}

TEST_F(BadRequestTest, UnknownPolicyIsUnacceptedPolicy) {
  auto policy = der::EncodeOid("1.2.3.4");
  EXPECT_EQ(FailInfo(EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, true,
                                        *policy)),
            Bit(FailureInfo::kUnacceptedPolicy));
  auto ours = der::EncodeOid(kDefaultPolicyOid);
  EXPECT_EQ(Parse(responder_->Respond(EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1),
                                                         std::nullopt, true, *ours)))
                .status,
            PkiStatus::kGranted);
}

TEST_F(BadRequestTest, ExtensionsAreUnacceptedExtension) {
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, false);
  // Append [0] { Extension { 1.2.3.4, critical, OCTET STRING {} } } inside the SEQUENCE.
  Bytes ext = {0xa0, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x01, 0x01, 0xff, 0x04, 0x00};
  Bytes body(q.begin() + 2, q.end());
  body.insert(body.end(), ext.begin(), ext.end());
  EXPECT_EQ(FailInfo(der::Tlv(der::kSequence, body)), Bit(FailureInfo::kUnacceptedExtension));
}

TEST_F(BadRequestTest, UnsyncedClockOnlyRefusesWhenRequired) {
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, false);
  EXPECT_EQ(Parse(responder_->Respond(q)).status, PkiStatus::kGranted);
  require_synced_ = true;
  SetUp();
  EXPECT_EQ(FailInfo(q), Bit(FailureInfo::kTimeNotAvailable));
}

TEST_F(BadRequestTest, VersionTwoIsBadDataFormat) {
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, false);
  q[4] = 2;  // 30 len 02 01 <version>
  EXPECT_EQ(FailInfo(q), Bit(FailureInfo::kBadDataFormat));
}

TEST(ResponderSerialTest, SerialsAreUniqueUnderConcurrency) {
  TestPki pki = MakeTestPki(KeyType::kEcdsaP256);
  EpochSerialSource serials(3);
  ResponderOptions o{.key = pki.tsa_key, .chain = pki.Chain()};
  o.serials = &serials;
  auto responder = std::move(*Responder::Create(std::move(o)));
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 9), Bytes{1}, false);
  constexpr int kThreads = 8, kEach = 250;
  std::vector<std::vector<std::string>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = ParseGrantedResponse(responder->Respond(q));
        if (r) seen[t].push_back(r->tst_info.serial_hex);
      }
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : seen) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
}

TEST(ResponderCreateTest, RefusesCertificateWithoutTimeStampingEku) {
  TestPki pki = MakeTestPki(KeyType::kEcdsaP256);
  EpochSerialSource serials(1);
  ResponderOptions o{.key = pki.tsa_key, .chain = {pki.intermediate}};
  o.serials = &serials;
  EXPECT_FALSE(Responder::Create(std::move(o)).has_value());  // key mismatch and no EKU
}

}  // namespace
}  // namespace autoseal::tsa
