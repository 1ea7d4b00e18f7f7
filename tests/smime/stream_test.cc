// The streaming passes of smime/internal/stream.h against plain reference implementations, at
// the sizes where block and line boundaries fall (0, 1, block-1, block, block+1 and random ones),
// and with line breaks split across pieces. Every test runs twice: with the AVX2 paths (where the
// CPU has them) and with the scalar ones.

#include "smime/internal/stream.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace autoseal::smime::internal {
namespace {

// RFC 2045 lines from the one-shot encoder of core/.
std::string ReferenceLines(ByteView data, bool crlf) {
  std::string b64 = Base64Encode(data), out;
  for (size_t i = 0; i < b64.size(); i += 76) out.append(b64, i, 76).append(crlf ? "\r\n" : "\n");
  return out;
}

Bytes RandomBytes(std::mt19937_64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// The parameter: whether the AVX2 paths may run.
class StreamPass : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { SetAvx2ForTesting(GetParam()); }
  void TearDown() override { SetAvx2ForTesting(true); }
};
INSTANTIATE_TEST_SUITE_P(Paths, StreamPass, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Avx2" : "Scalar"; });

TEST_P(StreamPass, Base64LinesMatchTheOneShotEncoderAtEverySizeAroundLineBoundaries) {
  std::mt19937_64 rng(1);
  for (size_t n = 0; n < 600; ++n) {
    Bytes data = RandomBytes(rng, n);
    for (bool crlf : {true, false}) {
      Bytes out;
      AppendBase64Lines(out, data, crlf);
      EXPECT_EQ(AsString(out), ReferenceLines(data, crlf)) << "n=" << n;
      EXPECT_EQ(out.size(), Base64Lines::EncodedSize(n, crlf)) << "n=" << n;
    }
  }
}

TEST_P(StreamPass, Base64LinesFromPiecesOfAnySizeAreTheSame) {
  std::mt19937_64 rng(2);
  for (size_t n : {size_t{0}, size_t{1}, size_t{56}, size_t{57}, size_t{58}, size_t{65535},
                   size_t{65536}, size_t{65537}, size_t{200000}}) {
    Bytes data = RandomBytes(rng, n);
    Bytes out;
    Base64Lines lines;
    size_t at = 0;
    while (at < n) {
      size_t piece = std::min<size_t>(n - at, rng() % 3 == 0 ? rng() % 5 : rng() % 70000);
      lines.Append(ByteView(data).subspan(at, piece), out);
      at += piece;
    }
    lines.Finish(out);
    EXPECT_EQ(AsString(out), ReferenceLines(data, true)) << "n=" << n;
  }
}

// Bare LFs, seven-bit verdict and boundary prefix, one byte at a time.
BodyScan ReferenceScan(std::string_view s) {
  BodyScan scan;
  size_t line_start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == line_start) {
      if (s.substr(i).starts_with("From ")) scan.seven_bit_lines = false;
      if (s.substr(i).starts_with("--=-")) scan.has_our_boundary_prefix = true;
    }
    if (i == s.size()) {
      if (i - line_start > 998) scan.seven_bit_lines = false;
      break;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0 || c >= 0x80) scan.seven_bit_lines = false;
    if (c == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) scan.seven_bit_lines = false;
    if (c == '\n') {
      if (i == 0 || s[i - 1] != '\r') ++scan.bare_lf_count;
      if (i - line_start > 998) scan.seven_bit_lines = false;
      line_start = i + 1;
    }
  }
  return scan;
}

void ExpectScan(const std::string& s) {
  BodyScan got = ScanBody(AsBytes(s)), want = ReferenceScan(s);
  EXPECT_EQ(got.bare_lf_count, want.bare_lf_count) << s.size();
  EXPECT_EQ(got.seven_bit_lines, want.seven_bit_lines) << s.size();
  EXPECT_EQ(got.has_our_boundary_prefix, want.has_our_boundary_prefix) << s.size();
}

TEST_P(StreamPass, ScanBodyFindsBareLineFeedsAndNonSevenBitLinesLikeAByteLoop) {
  std::mt19937_64 rng(3);
  const char alphabet[] = "ab\r\n\n-=F";
  for (int round = 0; round < 3000; ++round) {
    std::string s(rng() % 200, 'x');
    for (char& c : s) c = alphabet[rng() % (sizeof(alphabet) - 1)];
    if (rng() % 10 == 0 && !s.empty()) s[rng() % s.size()] = static_cast<char>(0x80 | rng());
    if (rng() % 10 == 0 && !s.empty()) s[rng() % s.size()] = '\0';
    if (rng() % 10 == 0) s.insert(rng() % (s.size() + 1), "\nFrom me\n");
    if (rng() % 10 == 0) s.insert(rng() % (s.size() + 1), "\n--=-abc\r\n");
    ExpectScan(s);
  }
  // CR and LF split across the 32-byte blocks of the vector scan; long lines at the limit.
  for (size_t at = 28; at < 70; ++at) {
    std::string s(100, 'a');
    s[at] = '\r';
    s[at + 1] = '\n';
    s[at + 10] = '\n';
    ExpectScan(s);
  }
  for (size_t len : {997, 998, 999, 1000, 1100}) {
    ExpectScan(std::string(len, 'a'));
    ExpectScan("x\n" + std::string(len, 'a') + "\r\nend");
    ExpectScan(std::string(len, 'a') + "\n");
  }
  ExpectScan("");
  ExpectScan("\n");
  ExpectScan("trailing bare CR\r");
  ExpectScan("From the start\n");
}

TEST_P(StreamPass, ScanBodyCountsACarriageReturnOutsideCrlfAsNotSevenBit) {
  // RFC 5322 §2.3: CR only in CRLF; multipart/signed must carry a bare one encoded.
  auto seven_bit = [](std::string_view s) { return ScanBody(AsBytes(s)).seven_bit_lines; };
  EXPECT_TRUE(seven_bit("hello\r\nworld\r\n"));
  EXPECT_FALSE(seven_bit("hello\r\r\nworld\r\n"));
  EXPECT_FALSE(seven_bit("hello\r\nworld\r"));
  EXPECT_FALSE(seven_bit("\r"));
  EXPECT_FALSE(seven_bit("a\rb\n"));
  // Around the 32-byte blocks of the vector scan: the CR last in a block, its LF first in the
  // next (or no next block, or no LF there).
  for (size_t at : {30, 31, 32, 63, 64, 95}) {
    std::string s(at + 40, 'a');
    s[at] = '\r';
    s[at + 1] = '\n';
    EXPECT_TRUE(seven_bit(s)) << at;
    s[at + 1] = 'b';
    EXPECT_FALSE(seven_bit(s)) << at;
    EXPECT_FALSE(seven_bit(s.substr(0, at + 1))) << at;
  }
}

// ForEachCanonicalPiece over head and body, checking the pieces' sizes, against a byte loop.
void ExpectCanonical(std::string_view head, std::string_view body) {
  std::string want(head);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) want.push_back('\r');
    want.push_back(body[i]);
  }
  std::string got;
  ForEachCanonicalPiece(AsBytes(head), AsBytes(body), ScanBody(AsBytes(body)).bare_lf_count,
                        [&](ByteView piece) {
                          EXPECT_LE(piece.size(), kCanonicalPiece);
                          EXPECT_FALSE(piece.empty());
                          got.append(AsString(piece));
                        });
  EXPECT_EQ(got, want) << "body size " << body.size();
}

TEST_P(StreamPass, ForEachCanonicalPieceGivesTheCanonicalFormInBoundedPieces) {
  std::mt19937_64 rng(4);
  for (size_t n : {size_t{0}, size_t{1}, kCanonicalPiece - 1, kCanonicalPiece, kCanonicalPiece + 1,
                   size_t{300000}}) {
    for (int lf_only = 0; lf_only < 2; ++lf_only) {
      std::string body(n, 'a');
      for (size_t i = 0; i < n; ++i) {
        uint64_t r = rng() % 1000;
        if (r < 12) body[i] = '\n';
        else if (r < 14 && !lf_only) body[i] = '\r';
        else if (r < 20 && !lf_only && r % 2 == 0 && i + 1 < n) body[i] = '\r', body[++i] = '\n';
      }
      if (n > 5000 && lf_only) body.replace(100, 5000, std::string(5000, 'b'));  // a long run
      ExpectCanonical("Content-Type: text/plain\r\n\r\n", body);
    }
  }
  // Bare LFs first and last, among CRLFs, and none.
  for (std::string_view body :
       {"\n", "\n\n", "\r\n", "a\r\nb\nc\r\nd", "\r\n\r\nx\n", "\r\r\n\n\r"})
    ExpectCanonical("H\r\n\r\n", body);
}

TEST_P(StreamPass, ScanBodyNoticesATransferEncodingOtherThanTheTextSafeOnes) {
  auto binary = [](std::string_view s) { return ScanBody(AsBytes(s)).may_have_binary_part; };
  EXPECT_FALSE(binary("Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"));
  EXPECT_FALSE(binary("x\nCONTENT-TRANSFER-ENCODING:  Quoted-Printable \r\n"));
  EXPECT_FALSE(binary("content-transfer-encoding: 7bit\n"));
  EXPECT_TRUE(binary("x\r\nContent-Transfer-Encoding: binary\r\n\r\n\x01\n"));
  EXPECT_TRUE(binary("Content-Transfer-Encoding: BINARY"));
  EXPECT_TRUE(binary("x\nContent-Transfer-Encoding:\r\n binary\r\n"));  // folded
  EXPECT_FALSE(binary("the Content-Transfer-Encoding: binary mid-line\n"));
  EXPECT_TRUE(binary("x\nContent-Transfer-Encoding : binary\n"));
  EXPECT_FALSE(binary("x\nContent-Transfer-Encoding\t: base64\n"));
}

TEST_P(StreamPass, DecodeBase64BodyReadsLinesAsTheyAreWrittenAndIgnoresWhatIsNotBase64) {
  std::mt19937_64 rng(5);
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{56}, size_t{57},
                   size_t{58}, size_t{1000}, size_t{100000}}) {
    Bytes data = RandomBytes(rng, n);
    for (bool crlf : {true, false}) {
      Bytes lines;
      AppendBase64Lines(lines, data, crlf);
      auto decoded = DecodeBase64Body(lines);
      ASSERT_TRUE(decoded.has_value()) << "n=" << n;
      EXPECT_TRUE(*decoded == data) << "n=" << n;
    }
  }
  auto decode = [](std::string_view text) {
    auto r = DecodeBase64Body(AsBytes(text));
    return r ? std::string(AsString(*r)) : "error: " + r.error().message();
  };
  EXPECT_EQ(decode(" aGVs\r\n bG8 =\r\n"), "hello");
  EXPECT_EQ(decode("aGk=\r\n=\r\n\r\n-- .. --\r\n"), "hi");  // no base64 after the '='s
  EXPECT_EQ(decode("!!\r\n"), "");
}

TEST_P(StreamPass, DecodeBase64BodyRefusesDataAfterThePadding) {
  // RFC 2045 §6.8: "=" only at the end; OpenSSL refuses these too.
  for (std::string_view text :
       {"QQ==QUJD", "QQ==\r\n\r\nQUJD\r\n", "QU=JD", "=QUJD", "QUJDQQ==junk"}) {
    auto r = DecodeBase64Body(AsBytes(text));
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kParse);
  }
}

TEST_P(StreamPass, Base64LinesTakesEmptyPieces) {
  // An empty view's data() is null; nothing may be copied from it (memcpy with null is UB even
  // for 0 bytes: -fsanitize=undefined reports it).
  Bytes data = {'a', 'b', 'c', 'd'}, out;
  Base64Lines lines;
  lines.Append(ByteView(), out);
  lines.Append(ByteView(data).subspan(0, 2), out);
  lines.Append(ByteView(), out);
  lines.Append(ByteView(data).subspan(2), out);
  lines.Finish(out);
  EXPECT_EQ(AsString(out), "YWJjZA==\r\n");
  Bytes none;
  AppendBase64Lines(none, ByteView());
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace autoseal::smime::internal
