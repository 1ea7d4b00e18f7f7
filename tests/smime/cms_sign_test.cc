// SignedData: sign with ECDSA, RSA and SM2, verify, postmark, and the verdicts for tampering,
// untrusted and expired signers, and garbage.

#include <gtest/gtest.h>

#include <algorithm>

#include "cms_test_pki.h"
#include "smime/cms.h"
#include "smime/internal/ber.h"

namespace autoseal::smime {
namespace {

using crypto::KeyType;
using testing::CmsPki;
using testing::Identity;
using testing::TestTsa;

const std::string kContent =
    "Content-Type: text/plain; charset=utf-8\r\n\r\nThe quarterly figures are attached.\r\n";

// CAs and TSAs do not use Ed25519 keys: an Ed25519 signer sits under an ECDSA hierarchy.
KeyType CaType(KeyType t) { return t == KeyType::kEd25519 ? KeyType::kEcdsaP256 : t; }

struct Fixture {
  CmsPki pki;
  Identity alice;
  std::shared_ptr<const CmsSigner> signer;

  static Fixture Make(KeyType type) {
    CmsPki pki = CmsPki::Make(CaType(type));
    Identity alice = pki.Issue(type, "alice@example.org");
    auto signer = CmsSigner::Create({.key = alice.key, .chain = {alice.cert}});
    CHECK_MSG(signer.has_value(), signer.error().message().c_str());
    return Fixture{pki, alice, *signer};
  }
  VerifyOptions Options() const { return {.roots = {pki.root}, .at = pki.now}; }
  SignOptions Sign(bool detached) const { return {.detached = detached, .signing_time = pki.now}; }
};

class CmsSignTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CmsSignTest, DetachedSignatureVerifiesWithSignerTimeAndCapabilities) {
  Fixture f = Fixture::Make(GetParam());
  auto p7s = f.signer->Sign(AsBytes(kContent), f.Sign(true));
  ASSERT_TRUE(p7s.has_value()) << p7s.error().message();
  VerifyReport r = Verify(*p7s, AsBytes(kContent), f.Options());
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.Problems());
  EXPECT_TRUE(r.detached);
  ASSERT_EQ(r.signers.size(), 1u);
  EXPECT_EQ(r.signers[0].certificate->Subject(), f.alice.cert.Subject());
  EXPECT_EQ(r.signers[0].signing_time, f.pki.now);
  ASSERT_TRUE(r.signers[0].capabilities.has_value());
  EXPECT_TRUE(r.signers[0].capabilities->Supports(ContentCipher::kAes256Cbc));
  EXPECT_EQ(r.signers[0].postmark.verdict, PostmarkVerdict::kAbsent);
  EXPECT_EQ(r.type, GetParam() == KeyType::kSm2 ? CmsType::kSm2SignedData : CmsType::kSignedData);
}

TEST_P(CmsSignTest, OpaqueSignatureCarriesTheContent) {
  Fixture f = Fixture::Make(GetParam());
  auto p7m = f.signer->Sign(AsBytes(kContent), f.Sign(false));
  ASSERT_TRUE(p7m.has_value()) << p7m.error().message();
  VerifyReport r = Verify(*p7m, std::nullopt, f.Options());
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.Problems());
  EXPECT_FALSE(r.detached);
  EXPECT_EQ(AsString(r.content), kContent);
}

TEST_P(CmsSignTest, AnOpaqueSignatureGivenAsDetachedIsMalformed) {
  // Verifying an opaque SignedData "over" other bytes must not verify its own eContent instead.
  Fixture f = Fixture::Make(GetParam());
  auto p7m = f.signer->Sign(AsBytes(kContent), f.Sign(false));
  ASSERT_TRUE(p7m.has_value()) << p7m.error().message();
  const std::string other = "Content-Type: text/plain\r\n\r\nWire the money today.\r\n";
  for (const std::string& detached : {other, kContent}) {
    VerifyReport r = Verify(*p7m, AsBytes(detached), f.Options());
    EXPECT_FALSE(r.ok());
    ASSERT_TRUE(r.malformed.has_value());
    EXPECT_NE(r.malformed->find("eContent"), std::string::npos) << *r.malformed;
  }
}

TEST_P(CmsSignTest, StreamingSignaturesVerifyInBothForms) {
  Fixture f = Fixture::Make(GetParam());
  for (bool detached : {true, false}) {
    auto stream = f.signer->Begin(f.Sign(detached));
    Bytes out;
    for (size_t i = 0; i < kContent.size(); i += 7)
      stream->Update(AsBytes(kContent).subspan(i, std::min<size_t>(7, kContent.size() - i)), &out);
    ASSERT_TRUE(stream->Finish(&out).has_value());
    VerifyReport r = Verify(
        out, detached ? std::optional<ByteView>(AsBytes(kContent)) : std::nullopt, f.Options());
    EXPECT_TRUE(r.ok()) << detached << ::testing::PrintToString(r.Problems());
    if (!detached) {
      EXPECT_EQ(AsString(r.content), kContent);
    }
    EXPECT_EQ(r.detached, detached);
  }
}

TEST_P(CmsSignTest, OneChangedByteInContentSignatureOrSignedAttributesIsDetected) {
  Fixture f = Fixture::Make(GetParam());
  auto p7s = *f.signer->Sign(AsBytes(kContent), f.Sign(true));
  std::string altered = kContent;
  altered[altered.size() - 5] ^= 1;
  VerifyReport content = Verify(p7s, AsBytes(altered), f.Options());
  ASSERT_EQ(content.signers.size(), 1u);
  EXPECT_EQ(content.signers[0].signature, SignatureVerdict::kContentAltered);
  EXPECT_FALSE(content.ok());

  // The signature value is the last OCTET STRING: flip a byte near the end.
  Bytes bad_sig = p7s;
  bad_sig[bad_sig.size() - 3] ^= 0x01;
  VerifyReport sig = Verify(bad_sig, AsBytes(kContent), f.Options());
  ASSERT_EQ(sig.signers.size(), 1u) << ::testing::PrintToString(sig.Problems());
  EXPECT_EQ(sig.signers[0].signature, SignatureVerdict::kBadSignature);

  // The signingTime is in the signed attributes: change its seconds digit.
  Bytes bad_attr = p7s;
  const Bytes time_oid = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05};
  auto at = std::search(bad_attr.begin(), bad_attr.end(), time_oid.begin(), time_oid.end());
  ASSERT_NE(at, bad_attr.end());
  at[9 + 2 + 2 + 11] ^= 0x01;  // OID, SET header, UTCTime header, YYMMDDHHMMS|S
  VerifyReport attr = Verify(bad_attr, AsBytes(kContent), f.Options());
  ASSERT_EQ(attr.signers.size(), 1u);
  EXPECT_EQ(attr.signers[0].signature, SignatureVerdict::kBadSignature);
}

TEST_P(CmsSignTest, UntrustedAndExpiredSignersGetTheirVerdicts) {
  Fixture f = Fixture::Make(GetParam());
  auto p7s = *f.signer->Sign(AsBytes(kContent), f.Sign(true));
  CmsPki other = CmsPki::Make(CaType(GetParam()), "Another Root");
  VerifyReport untrusted = Verify(p7s, AsBytes(kContent), {.roots = {other.root}, .at = f.pki.now});
  ASSERT_EQ(untrusted.signers.size(), 1u);
  EXPECT_EQ(untrusted.signers[0].signature, SignatureVerdict::kValid);
  EXPECT_EQ(untrusted.signers[0].chain, ChainVerdict::kUntrusted);
  EXPECT_FALSE(untrusted.ok());
  VerifyReport expired = Verify(p7s, AsBytes(kContent),
                                {.roots = {f.pki.root}, .at = f.pki.now + std::chrono::hours(24 * 400)});
  ASSERT_EQ(expired.signers.size(), 1u);
  EXPECT_EQ(expired.signers[0].chain, ChainVerdict::kExpired);
  EXPECT_FALSE(expired.ok());
}

TEST_P(CmsSignTest, PostmarkIsVerifiedAgainstTheSignatureItCovers) {
  Fixture f = Fixture::Make(GetParam());
  auto tsa = TestTsa::Make(f.pki, CaType(GetParam()));
  SignOptions o = f.Sign(true);
  o.postmark = tsa->Fetcher();
  auto p7s = f.signer->Sign(AsBytes(kContent), o);
  ASSERT_TRUE(p7s.has_value()) << p7s.error().message();
  VerifyReport r = Verify(*p7s, AsBytes(kContent), f.Options());
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.Problems());
  const PostmarkReport& pm = r.signers[0].postmark;
  EXPECT_EQ(pm.verdict, PostmarkVerdict::kValid);
  ASSERT_TRUE(pm.time.has_value());
  EXPECT_LT(std::chrono::abs(*pm.time - f.pki.now), std::chrono::minutes(5));
  ASSERT_TRUE(pm.tsa.has_value());
  EXPECT_EQ(pm.tsa->Subject(), tsa->identity->cert.Subject());

  // A token over something else (another signature value) is refused precisely.
  SignOptions wrong = f.Sign(true);
  wrong.postmark = [&](crypto::DigestAlgorithm d, ByteView) {
    return tsa->Fetcher()(d, crypto::Digest(d, AsBytes("another signature")));
  };
  auto p7s_wrong = f.signer->Sign(AsBytes(kContent), wrong);
  ASSERT_TRUE(p7s_wrong.has_value());
  VerifyReport rw = Verify(*p7s_wrong, AsBytes(kContent), f.Options());
  ASSERT_EQ(rw.signers.size(), 1u);
  EXPECT_EQ(rw.signers[0].signature, SignatureVerdict::kValid);
  EXPECT_EQ(rw.signers[0].postmark.verdict, PostmarkVerdict::kWrongSignature);
  EXPECT_FALSE(rw.ok());

  // One changed byte in the token's signature: the token no longer verifies.
  Bytes bad = *p7s;
  bad[bad.size() - 3] ^= 0x01;  // the token is the last thing in the message
  VerifyReport rb = Verify(bad, AsBytes(kContent), f.Options());
  ASSERT_EQ(rb.signers.size(), 1u);
  EXPECT_EQ(rb.signers[0].signature, SignatureVerdict::kValid);
  EXPECT_EQ(rb.signers[0].postmark.verdict, PostmarkVerdict::kInvalidToken);

  // A TSA outside the trust anchors given for postmarks.
  CmsPki other = CmsPki::Make(CaType(GetParam()), "Another Root");
  VerifyOptions vo = f.Options();
  vo.tsa_roots = {other.root};
  VerifyReport ru = Verify(*p7s, AsBytes(kContent), vo);
  EXPECT_EQ(ru.signers[0].postmark.verdict, PostmarkVerdict::kInvalidToken);
}

TEST_P(CmsSignTest, FailingPostmarkFetchFailsTheSignature) {
  Fixture f = Fixture::Make(GetParam());
  SignOptions o = f.Sign(true);
  o.postmark = [](crypto::DigestAlgorithm, ByteView) -> Result<Bytes> {
    return Fail(ErrorCode::kTimeout, "TSA did not answer");
  };
  auto r = f.signer->Sign(AsBytes(kContent), o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout);
}

TEST_P(CmsSignTest, EveryTruncationAndGarbageIsAVerdictNotACrash) {
  Fixture f = Fixture::Make(GetParam());
  auto tsa = TestTsa::Make(f.pki, CaType(GetParam()));
  SignOptions o = f.Sign(false);
  o.postmark = tsa->Fetcher();
  Bytes p7m = *f.signer->Sign(AsBytes(kContent), o);
  for (size_t n = 0; n < p7m.size(); n += (n < 200 ? 1 : 13)) {
    VerifyReport r = Verify(ByteView(p7m).first(n), std::nullopt, f.Options());
    EXPECT_FALSE(r.ok()) << n;
  }
  EXPECT_TRUE(Verify(AsBytes("not CMS at all"), std::nullopt, f.Options()).malformed.has_value());
}

// Where needle's bytes sit in haystack (exactly once), as [begin, end).
std::pair<size_t, size_t> Locate(const Bytes& haystack, ByteView needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end());
  CHECK(it != haystack.end());
  size_t at = static_cast<size_t>(it - haystack.begin());
  CHECK(std::search(it + 1, haystack.end(), needle.begin(), needle.end()) == haystack.end());
  return {at, at + needle.size()};
}

// Every single-bit change anywhere in an opaque, postmarked SignedData fails verification,
// except in bytes that provably do not matter, each named here:
// - digestAlgorithms (RFC 5652 §5.1): an announcement for one-pass readers; the digest used is
//   the SignerInfo's, which the signature covers;
// - the attrType of the unsigned timeStampToken attribute: unsigned attributes are not signed,
//   and a changed type only drops the postmark, as deleting the attribute would;
// - the length of the sm2-1 OID in signatureAlgorithm: shortened by one it is the SM2 curve OID,
//   which we accept as a name for the same algorithm;
// - the hash named by the timestamp token's own signatureAlgorithm (ecdsa-with-SHA256): checked
//   by tsa::VerifyToken, which relies on the token's digestAlgorithm (a known limit there).
TEST_P(CmsSignTest, EveryChangedByteOfContentSignatureAndPostmarkIsDetected) {
  Fixture f = Fixture::Make(GetParam());
  auto tsa = TestTsa::Make(f.pki, CaType(GetParam()));
  SignOptions o = f.Sign(false);
  o.postmark = tsa->Fetcher();
  Bytes p7m = *f.signer->Sign(AsBytes(kContent), o);
  VerifyReport good = Verify(p7m, std::nullopt, f.Options());
  ASSERT_TRUE(good.ok()) << ::testing::PrintToString(good.Problems());
  const auto content = Locate(p7m, AsBytes(kContent));
  const auto signature = Locate(p7m, good.signers[0].signature_value);
  const auto token = Locate(p7m, good.signers[0].postmark.token);
  // ContentInfo { contentType, [0] SignedData { version, digestAlgorithms, ... } }
  auto ci = ber::ParseFirst(p7m, "ContentInfo");
  ASSERT_TRUE(ci.has_value());
  ber::Reader cr(ci->contents, 1);
  ASSERT_TRUE(cr.Next().has_value());
  auto explicit0 = cr.Next();
  ASSERT_TRUE(explicit0.has_value());
  auto sd = ber::ParseFirst(explicit0->contents, "SignedData");
  ASSERT_TRUE(sd.has_value());
  ber::Reader sr(sd->contents, 3);
  ASSERT_TRUE(sr.Next().has_value());
  auto digest_algorithms = sr.Next();
  ASSERT_TRUE(digest_algorithms.has_value());
  const size_t da = static_cast<size_t>(digest_algorithms->encoding.data() - p7m.data());
  const std::pair<size_t, size_t> announced{da, da + digest_algorithms->encoding.size()};
  const Bytes tst_type = {0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7,
                          0x0d, 0x01, 0x09, 0x10, 0x02, 0x0e};  // id-aa-timeStampToken
  const auto token_attr_type = Locate(p7m, tst_type);
  auto last_byte_of = [&](const Bytes& needle, size_t from, size_t to) -> size_t {
    auto it = std::find_end(p7m.begin() + from, p7m.begin() + to, needle.begin(), needle.end());
    return it == p7m.begin() + to ? SIZE_MAX
                                  : static_cast<size_t>(it - p7m.begin()) + needle.size() - 1;
  };
  const size_t token_sigalg_hash = last_byte_of(
      {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, token.first, token.second);
  const Bytes sm2_1 = {0x06, 0x09, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x01};
  const size_t sm2_1_end = last_byte_of(sm2_1, 0, token.first);
  const size_t sm2_oid_length = sm2_1_end == SIZE_MAX ? SIZE_MAX : sm2_1_end - sm2_1.size() + 2;

  auto in = [](size_t i, std::pair<size_t, size_t> r) { return i >= r.first && i < r.second; };
  Bytes flipped = p7m;
  for (size_t i = 0; i < flipped.size(); ++i) {
    flipped[i] ^= 0x01;
    bool ok = Verify(flipped, std::nullopt, f.Options()).ok();
    flipped[i] ^= 0x01;
    if (!ok) continue;
    EXPECT_FALSE(in(i, content)) << "content byte " << i << " changed unnoticed";
    EXPECT_FALSE(in(i, signature)) << "signature byte " << i << " changed unnoticed";
    EXPECT_FALSE(in(i, token) && i != token_sigalg_hash)
        << "postmark token byte " << i << " changed unnoticed";
    EXPECT_TRUE(in(i, announced) || in(i, token_attr_type) || i == token_sigalg_hash ||
                i == sm2_oid_length)
        << "byte " << i << " of " << p7m.size() << " changed unnoticed";
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, CmsSignTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kRsa2048, KeyType::kSm2,
                                           KeyType::kEd25519),
                         [](const auto& info) {
                           return std::string(info.param == KeyType::kEcdsaP256 ? "EcdsaP256"
                                              : info.param == KeyType::kRsa2048 ? "Rsa2048"
                                              : info.param == KeyType::kSm2     ? "Sm2"
                                                                                : "Ed25519");
                         });

TEST(CmsSign, Sm2WithRfc5652ContentTypesVerifies) {
  CmsPki pki = CmsPki::Make(KeyType::kSm2);
  Identity a = pki.Issue(KeyType::kSm2, "a@example.cn");
  auto s = CmsSigner::Create({.key = a.key, .chain = {a.cert}, .gm_oids = false});
  ASSERT_TRUE(s.has_value());
  auto p7m = (*s)->Sign(AsBytes(kContent), {.detached = false, .signing_time = pki.now});
  ASSERT_TRUE(p7m.has_value());
  VerifyReport r = Verify(*p7m, std::nullopt, {.roots = {pki.root}, .at = pki.now});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.Problems());
  EXPECT_EQ(r.type, CmsType::kSignedData);
  EXPECT_EQ(r.content_type, "1.2.840.113549.1.7.1");
  EXPECT_EQ(r.signers[0].signature_algorithm, "SM2 with SM3");
}

TEST(CmsSign, KeyThatDoesNotMatchTheCertificateIsRefused) {
  CmsPki pki = CmsPki::Make(KeyType::kEcdsaP256);
  Identity a = pki.Issue(KeyType::kEcdsaP256, "a@example.org");
  Identity b = pki.Issue(KeyType::kEcdsaP256, "b@example.org");
  auto s = CmsSigner::Create({.key = a.key, .chain = {b.cert}});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace autoseal::smime
