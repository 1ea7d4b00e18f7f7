#include "net/request_parser.h"

#include <gtest/gtest.h>

#include "net/http.h"

namespace autoseal::net {
namespace {

using Status = RequestHead::Status;

RequestHead Parse(std::string_view in, size_t max = 16 * 1024) {
  RequestHead h;
  ParseRequestHead(in, max, &h);
  return h;
}

TEST(RequestParserTest, ParsesARequestHeadWithItsBodyLength) {
  std::string in =
      "\r\nPOST /ct/v1/add-chain?x=1 HTTP/1.1\r\nHost: log.example\r\nContent-Type:  "
      "application/json \r\n"
      "Content-Length: 11\r\n\r\n{\"chain\":[]}";
  RequestHead h = Parse(in);
  ASSERT_EQ(h.status, Status::kComplete) << h.problem;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/ct/v1/add-chain?x=1");
  EXPECT_EQ(h.minor_version, 1);
  EXPECT_EQ(h.content_length, 11u);
  EXPECT_FALSE(h.chunked);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(in.substr(h.head_bytes), "{\"chain\":[]}");
  ASSERT_EQ(h.fields.size(), 3u);
  EXPECT_EQ(h.fields[1].first, "Content-Type");
  EXPECT_EQ(h.fields[1].second, "application/json");  // OWS trimmed
}

TEST(RequestParserTest, EveryPrefixOfAValidHeadIsIncomplete) {
  std::string in =
      "GET /ct/v1/get-sth HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n";
  for (size_t n = 0; n < in.size(); ++n)
    EXPECT_EQ(Parse(in.substr(0, n)).status, Status::kIncomplete) << n;
  RequestHead h = Parse(in);
  ASSERT_EQ(h.status, Status::kComplete);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(h.head_bytes, in.size());
}

TEST(RequestParserTest, Http10KeepsAliveOnlyWhenAsked) {
  EXPECT_FALSE(Parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
  RequestHead h = Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_EQ(h.status, Status::kComplete);
  EXPECT_EQ(h.minor_version, 0);
  EXPECT_TRUE(h.keep_alive);
}

TEST(RequestParserTest, RefusesMalformedAndAmbiguousHeadsWithTheirStatus) {
  const std::pair<const char*, int> cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", 400},                        // no Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  // two Hosts
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},               // bare LF
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},            // empty target
      {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},            // version + SP
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},             // method not a token
      {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},         // control in target
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                    // space before colon
      {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400},  // obs-fold
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},         // DEL in a value
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
  };
  for (const auto& [in, status] : cases) {
    RequestHead h = Parse(in);
    EXPECT_EQ(h.status, Status::kError) << in;
    EXPECT_EQ(h.http_status, status) << in;
  }
  // Repeated equal lengths are one length (RFC 9112 §6.3).
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n")
                .content_length,
            2u);
}

TEST(RequestParserTest, HeadsBeyondTheLimitGet431EvenBeforeTheyEnd) {
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'a');
  RequestHead h = Parse(in, 1024);
  EXPECT_EQ(h.status, Status::kError);
  EXPECT_EQ(h.http_status, 431);
  EXPECT_EQ(Parse(in + "\r\n\r\n", 1024).http_status, 431);
  EXPECT_EQ(Parse(in + "\r\n\r\n", 4096).status, Status::kComplete);
}

long Decode(std::string_view in, size_t max, std::string* body) {
  ChunkedProgress p;
  return DecodeChunkedBody(in, max, body, &p);
}

TEST(RequestParserTest, ChunkedBodiesDecodeOnlyWhenComplete) {
  std::string in =
      "4;ext=1\r\nWiki\r\n5 ; e\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t n = 0; n + 4 < in.size(); ++n) {
    std::string body;
    EXPECT_EQ(Decode(in.substr(0, n), 1024, &body), 0) << n;
  }
  std::string body;
  long used = Decode(in, 1024, &body);
  EXPECT_EQ(used, static_cast<long>(in.size() - 4));
  EXPECT_EQ(body, "Wikipedia in\r\n\r\nchunks.");
  std::string other;
  EXPECT_EQ(Decode(in, 10, &other), -413);
  EXPECT_EQ(Decode("zz\r\n", 1024, &other), -400);
  EXPECT_EQ(Decode("3\r\nabcX\r\n", 1024, &other), -400);  // data longer than its size
  EXPECT_EQ(Decode("fffffffffffffffff\r\n", 1024, &other), -400);
  // RFC 9112 §7.1.1: only whitespace then ';' may follow the size.
  EXPECT_EQ(Decode("2 garbage\r\n{}\r\n0\r\n\r\n", 1024, &other), -400);
  EXPECT_EQ(Decode("2\tjunk\r\n{}\r\n0\r\n\r\n", 1024, &other), -400);
  EXPECT_EQ(Decode("2 \r\n{}\r\n0\r\n\r\n", 1024, &other), -400);
}

// Fed in growing prefixes, as reads arrive, the decoder resumes where it stopped and appends each
// chunk once: the result is the same for every split.
TEST(RequestParserTest, ChunkedBodiesResumeAcrossReadsAtEveryByte) {
  std::string in = "3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nT: 1\r\n\r\n";
  for (size_t split = 1; split < in.size(); ++split) {
    ChunkedProgress p;
    std::string body;
    long first = DecodeChunkedBody(in.substr(0, split), 1024, &body, &p);
    ASSERT_EQ(first, 0) << split;
    EXPECT_EQ(DecodeChunkedBody(in, 1024, &body, &p), static_cast<long>(in.size())) << split;
    EXPECT_EQ(body, "abcd") << split;
  }
}

// Framing that costs wire bytes without adding body bytes is bounded: long extensions and an
// endless trailer section are refused instead of buffered.
TEST(RequestParserTest, ChunkLinesAndTrailersAreBounded) {
  std::string body;
  EXPECT_EQ(Decode("1;" + std::string(2000, 'e') + "\r\nA\r\n", 1 << 20, &body), -400);
  EXPECT_EQ(Decode("1;" + std::string(2000, 'e'), 1 << 20, &body), -400);  // not even complete
  std::string trailers = "0\r\n";
  for (int i = 0; i < 20; ++i) trailers += "X-T: " + std::string(1000, 'a') + "\r\n";
  body.clear();
  EXPECT_EQ(Decode(trailers, 1 << 20, &body), -400);
  EXPECT_EQ(Decode("0\r\n" + std::string(9000, 'a'), 1 << 20, &body), -400);
}

TEST(RequestParserTest, EveryConnectionAndExpectFieldCounts) {
  EXPECT_FALSE(Parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: foo\r\n\r\n")
                   .keep_alive);
  EXPECT_FALSE(Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")
                   .keep_alive);
  RequestHead h = Parse(
      "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(h.status, Status::kError);
  EXPECT_EQ(h.http_status, 417);
  // 19 digits would overflow the accumulator's headroom: refused, not wrapped.
  EXPECT_EQ(
      Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n").http_status,
      400);
}

// A head whose lines end in a bare LF is refused as soon as the LF is seen, not after the read
// timeout spent waiting for a CRLF CRLF that never comes.
TEST(RequestParserTest, BareLfIsRefusedBeforeTheHeadEnds) {
  RequestHead h = Parse("GET /health HTTP/1.1\nHost: x\n\n");
  EXPECT_EQ(h.status, Status::kError);
  EXPECT_EQ(h.http_status, 400);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: x\r").status, Status::kIncomplete);
}

TEST(RequestParserTest, SerializedResponsesAreFramedByTheServer) {
  HttpResponse r = HttpResponse::Make(200, "application/json", "{}");
  r.headers.emplace_back("Content-Length", "999");
  r.headers.emplace_back("Connection", "keep-alive");
  std::string out;
  SerializeResponse(r, true, false, &out);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: "))
      << out;
  EXPECT_TRUE(out.ends_with("\r\nContent-Length: 2\r\n\r\n{}")) << out;
  EXPECT_EQ(out.find("999"), std::string::npos);
  out.clear();
  SerializeResponse(r, false, true, &out);  // HEAD, closing
  EXPECT_TRUE(out.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n")) << out;
  out.clear();
  HttpResponse split = HttpResponse::Text(200, "x");
  split.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
  EXPECT_FALSE(SerializeResponse(split, true, false, &out));  // the 500 closes the connection
  EXPECT_TRUE(out.starts_with("HTTP/1.1 500 ")) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  // RFC 9112 §9.3: an HTTP/1.0 client is told when the connection persists.
  out.clear();
  EXPECT_TRUE(SerializeResponse(r, true, false, &out, 0));
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace autoseal::net
