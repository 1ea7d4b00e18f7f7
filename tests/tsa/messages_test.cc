#include "tsa/messages.h"

#include <gtest/gtest.h>

#include "tsa/internal/der.h"

namespace autoseal::tsa {
namespace {

using crypto::DigestAlgorithm;

TEST(TimeStampReqTest, ParsesWhatOpenSslWrites) {
  // `openssl ts -query -data /dev/null -sha256 -cert` (OpenSSL 3.0.19).
  auto der = HexDecode(
      "30440201013031300d060960864801650304020105000420e3b0c44298fc1c149afbf4c8996fb92427ae41e464"
      "9b934ca495991b7852b8550209009900caf9dacab5da0101ff");
  ASSERT_TRUE(der.has_value());
  auto req = ParseTimeStampReq(*der);
  ASSERT_TRUE(req.has_value()) << req.error().message();
  EXPECT_EQ(req->version, 1);
  EXPECT_EQ(req->message_imprint.digest, DigestAlgorithm::kSha256);
  EXPECT_EQ(HexEncode(req->message_imprint.hashed_message),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(*req->nonce), "009900caf9dacab5da");
  EXPECT_TRUE(req->cert_req);
  EXPECT_FALSE(req->has_extensions);
}

TEST(TimeStampReqTest, EncodeParseRoundTrip) {
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSm3, Bytes(32, 0xab), Bytes{0x80, 1}, false);
  auto req = ParseTimeStampReq(q);
  ASSERT_TRUE(req.has_value()) << req.error().message();
  EXPECT_EQ(req->message_imprint.digest, DigestAlgorithm::kSm3);
  EXPECT_EQ(*req->nonce, (Bytes{0x00, 0x80, 0x01}));  // positive INTEGER
  EXPECT_FALSE(req->cert_req);
}

TEST(TimeStampReqTest, RejectsBerAndFalseCertReq) {
  Bytes q = EncodeTimeStampReq(DigestAlgorithm::kSha256, Bytes(32, 1), std::nullopt, false);
  Bytes indefinite = q;
  indefinite[1] = 0x80;
  EXPECT_FALSE(ParseTimeStampReq(indefinite).has_value());
  Bytes long_form = {0x30, 0x81, q[1]};
  long_form.insert(long_form.end(), q.begin() + 2, q.end());
  EXPECT_FALSE(ParseTimeStampReq(long_form).has_value());  // non-minimal length
  Bytes body(q.begin() + 2, q.end());
  body.insert(body.end(), {0x01, 0x01, 0x00});  // certReq FALSE written out: not DER
  EXPECT_FALSE(ParseTimeStampReq(der::Tlv(der::kSequence, body)).has_value());
}

TEST(GeneralizedTimeTest, DropsTrailingZeros) {
  TimePoint t = *ParseRfc3339("2026-11-28T12:34:56.120Z");
  EXPECT_EQ(FormatGeneralizedTime(t, 3), "20261128123456.12Z");
  EXPECT_EQ(FormatGeneralizedTime(t, 1), "20261128123456.1Z");
  EXPECT_EQ(FormatGeneralizedTime(t, 0), "20261128123456Z");
  EXPECT_EQ(FormatGeneralizedTime(*ParseRfc3339("2026-11-28T00:00:00Z"), 6), "20261128000000Z");
  auto back = ParseGeneralizedTime("20261128123456.12Z");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, t);
  EXPECT_FALSE(ParseGeneralizedTime("20261128123456.120Z").has_value());
  EXPECT_FALSE(ParseGeneralizedTime("20261128123456").has_value());
  // A token from year 3026 (a tampered genTime): later than anything, and no overflow (UBSan).
  auto far = ParseGeneralizedTime("30260101000000.5Z");
  ASSERT_TRUE(far.has_value());
  EXPECT_GT(*far, *back);
}

TEST(RejectionTest, EncodesEachFailureInfoBit) {
  for (FailureInfo f : {FailureInfo::kBadAlg, FailureInfo::kBadRequest, FailureInfo::kBadDataFormat,
                        FailureInfo::kTimeNotAvailable, FailureInfo::kUnacceptedPolicy,
                        FailureInfo::kUnacceptedExtension, FailureInfo::kSystemFailure}) {
    auto resp = ParseTimeStampResp(EncodeRejection(f, "why"));
    ASSERT_TRUE(resp.has_value()) << resp.error().message();
    EXPECT_EQ(resp->status, PkiStatus::kRejection);
    EXPECT_EQ(resp->fail_info, 1u << static_cast<int>(f)) << FailureInfoName(f);
    EXPECT_EQ(resp->status_string, "why");
  }
  // badDataFormat as OpenSSL writes it: 03 02 02 04.
  Bytes r = EncodeRejection(FailureInfo::kBadDataFormat, "x");
  EXPECT_EQ(HexEncode(Bytes(r.end() - 4, r.end())), "03020204");
}

TEST(OidTest, RoundTripsIncludingUuidArc) {
  for (std::string_view o : {"1.2.840.113549.1.9.16.1.4", "2.25.284402370485225929707697603283588437172",
                             "1.2.156.10197.1.401", "2.999.3"}) {
    auto der = der::EncodeOid(o);
    ASSERT_TRUE(der.has_value()) << o;
    EXPECT_EQ(der::OidToString(*der), o);
  }
  EXPECT_FALSE(der::EncodeOid("1").has_value());
  EXPECT_FALSE(der::EncodeOid("1.2.03").has_value());
  EXPECT_FALSE(der::EncodeOid("3.1").has_value());
}

}  // namespace
}  // namespace autoseal::tsa
