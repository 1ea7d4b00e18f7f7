// The fast path's strict HTTP/1.1 head parser (gateway/internal/http_head.h): what it takes, and
// that it leaves everything doubtful to the general parser.

#include "gateway/internal/http_head.h"

#include <gtest/gtest.h>

#include <string>

namespace autoseal::gateway::internal {
namespace {

TEST(HttpHeadTest, ParsesARequestHeadInPlace) {
  std::string text =
      "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Spaced:  v  w \t\r\nX-Empty:\r\n\r\nrest";
  RequestHead head;
  ASSERT_EQ(ParseRequestHead(text, 1024, head), HeadParse::kComplete);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/a?b=c");
  EXPECT_EQ(head.version, 11u);
  EXPECT_EQ(head.size, text.size() - 4);
  ASSERT_EQ(head.fields.count, 3u);
  EXPECT_EQ(head.fields.fields[1].name, "X-Spaced");
  EXPECT_EQ(head.fields.fields[1].value, "v  w");
  EXPECT_EQ(head.fields.fields[2].value, "");
  EXPECT_EQ(head.fields.Count("HOST"), 1u);
  ASSERT_NE(head.fields.Find("host"), nullptr);
  EXPECT_EQ(head.fields.Find("host")->value, "example.com");
  // The fields point into the caller's bytes: nothing was copied.
  EXPECT_EQ(head.fields.fields[0].name.data(), text.data() + text.find("Host"));
}

TEST(HttpHeadTest, WaitsForTheEmptyLine) {
  RequestHead head;
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nHost: a\r\n", 1024, head), HeadParse::kIncomplete);
  EXPECT_EQ(ParseRequestHead("GET / HT", 1024, head), HeadParse::kIncomplete);
  EXPECT_EQ(ParseRequestHead("", 1024, head), HeadParse::kIncomplete);
}

TEST(HttpHeadTest, LeavesEverythingLenientOrOversizedToTheGeneralParser) {
  const char* unsupported[] = {
      "GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n",  // obs-fold (RFC 9112 §5.2)
      "GET / HTTP/1.1\nHost: a\n\n",                          // bare LF
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",                   // space before the colon (§5.1)
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",                   // two spaces
      "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",                // leading empty line
      "GET / HTTP/2.0\r\nHost: a\r\n\r\n",                    // another version
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",       // a control character
      "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",                // DEL in the target
      "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",                    // not a token
      "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",              // a CR alone
  };
  for (const char* text : unsupported) {
    RequestHead head;
    EXPECT_EQ(ParseRequestHead(text, 1024, head), HeadParse::kUnsupported) << text;
  }
  // A NUL inside a value.
  RequestHead head;
  std::string nul("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26);
  EXPECT_EQ(ParseRequestHead(nul, 1024, head), HeadParse::kUnsupported);
  // Larger than the limit, complete or not.
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(100, 'x') + "\r\n\r\n";
  EXPECT_EQ(ParseRequestHead(big, 64, head), HeadParse::kUnsupported);
  EXPECT_EQ(ParseRequestHead(big.substr(0, 80), 64, head), HeadParse::kUnsupported);
  // More fields than it keeps.
  std::string many = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxHeadFields; ++i) many += "X: y\r\n";
  many += "\r\n";
  EXPECT_EQ(ParseRequestHead(many, 1 << 20, head), HeadParse::kUnsupported);
}

TEST(HttpHeadTest, ParsesAResponseHead) {
  ResponseHead head;
  std::string text = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";
  ASSERT_EQ(ParseResponseHead(text, 1024, head), HeadParse::kComplete);
  EXPECT_EQ(head.status, 404u);
  EXPECT_EQ(head.reason, "Not Found");
  EXPECT_EQ(head.size, text.size() - 3);
  ASSERT_EQ(ParseResponseHead("HTTP/1.0 200 \r\n\r\n", 1024, head), HeadParse::kComplete);
  EXPECT_EQ(head.version, 10u);
  EXPECT_EQ(head.reason, "");
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 20x OK\r\n\r\n", 1024, head), HeadParse::kUnsupported);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 099 X\r\n\r\n", 1024, head), HeadParse::kUnsupported);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 200\r\n\r\n", 1024, head), HeadParse::kUnsupported);
}

TEST(HttpHeadTest, ReadsContentLengthAndConnectionListsStrictly) {
  size_t length = 0;
  EXPECT_TRUE(ParseContentLength("0", length));
  EXPECT_EQ(length, 0u);
  EXPECT_TRUE(ParseContentLength("1234", length));
  EXPECT_EQ(length, 1234u);
  for (const char* bad : {"", "+1", "-1", "1 2", "5, 5", "0x10", "1234567890123456"}) {
    EXPECT_FALSE(ParseContentLength(bad, length)) << bad;
  }
  bool close = false;
  EXPECT_TRUE(ListHasOnly("keep-alive", {"close", "keep-alive"}, &close));
  EXPECT_FALSE(close);
  EXPECT_TRUE(ListHasOnly(" Keep-Alive ,, CLOSE", {"close", "keep-alive"}, &close));
  EXPECT_TRUE(close);
  EXPECT_FALSE(ListHasOnly("close, x-private", {"close", "keep-alive"}, &close));
  EXPECT_FALSE(ListHasOnly("upgrade", {"close", "keep-alive"}, &close));
}

}  // namespace
}  // namespace autoseal::gateway::internal
