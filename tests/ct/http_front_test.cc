// The CT log's asynchronous HTTP/1.1 front (ct/internal/http_front.h) over raw sockets: answers
// given later from another thread, pipelining, 100-continue, chunked bodies, limits, shutdown.

#include "ct/internal/http_front.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "../net/test_util.h"

namespace autoseal::ct::internal {
namespace {

using net::testing::ParseResponses;
using net::testing::RawConnection;

// Answers every request from its own thread, as the log's sequencer does: "<method> <target>
// <body>" with status 200, or holds the answers back while paused.
class DelayedResponder {
 public:
  DelayedResponder() : thread_([this] { Run(); }) {}
  ~DelayedResponder() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
      paused_ = false;
    }
    cv_.notify_all();
    thread_.join();
  }
  AsyncHandler Handler() {
    return [this](const net::HttpRequest& r, Respond respond) {
      std::lock_guard lock(mu_);
      queue_.emplace_back(r.method + " " + r.target + " " + r.body, std::move(respond));
      cv_.notify_all();
    };
  }
  void Pause(bool p) {
    {
      std::lock_guard lock(mu_);
      paused_ = p;
    }
    cv_.notify_all();
  }
  size_t Waiting() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return done_ || (!paused_ && !queue_.empty()); });
      if (queue_.empty() && done_) return;
      auto [text, respond] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      respond(net::HttpResponse::Make(200, "text/plain", text));
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, Respond>> queue_;
  bool paused_ = false, done_ = false;
  std::thread thread_;
};

std::unique_ptr<HttpFront> StartFront(AsyncHandler handler, size_t max_body = 1024,
                                      FrontOptions o = {}) {
  o.threads = 2;
  o.max_body_bytes = max_body;
  o.too_large = net::HttpResponse::Make(400, "application/json",
                                        "{\"success\":false,\"error\":\"too large\"}");
  auto front = HttpFront::Create(o, std::move(handler));
  EXPECT_TRUE(front.has_value());
  (*front)->Start();
  return std::move(*front);
}

// Sends request on a new connection and reads until the front closes it (which it must).
std::vector<net::testing::ParsedResponse> ExchangeUntilClosed(uint16_t port,
                                                              const std::string& request) {
  RawConnection c(port);
  EXPECT_TRUE(c.Send(request));
  std::string data;
  EXPECT_TRUE(c.ReadUntilClosed(&data)) << request.substr(0, 80);
  return ParseResponses(data);
}

TEST(HttpFrontTest, PipelinedRequestsAreAnsweredInOrderFromAnotherThread) {
  DelayedResponder responder;
  auto front = StartFront(responder.Handler());
  RawConnection c(front->Port());
  ASSERT_TRUE(
      c.Send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
             "GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
             "chunked\r\n\r\n3\r\ntwo\r\n2\r\n!!\r\n0\r\n\r\n"));
  auto rs = ParseResponses(c.ReadResponses(3));
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].body, "POST /a one");
  EXPECT_EQ(rs[1].body, "GET /b?q=1 ");
  EXPECT_EQ(rs[2].body, "POST /c two!!");
  for (const auto& r : rs) {
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.head.find("\r\nDate: "), std::string::npos);
  }
  // The connection stays open for more.
  ASSERT_TRUE(c.Send("GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string rest;
  EXPECT_TRUE(c.ReadUntilClosed(&rest));
  auto last = ParseResponses(rest);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].body, "GET /d ");
  EXPECT_NE(last[0].head.find("Connection: close"), std::string::npos);
}

TEST(HttpFrontTest, ExpectContinueGetsAnInterimResponseBeforeTheBodyIsSent) {
  DelayedResponder responder;
  auto front = StartFront(responder.Handler());
  RawConnection c(front->Port());
  ASSERT_TRUE(
      c.Send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = ParseResponses(c.ReadResponses(1));
  ASSERT_EQ(interim.size(), 1u);
  EXPECT_EQ(interim[0].status, 100);
  ASSERT_TRUE(c.Send("body"));
  auto rs = ParseResponses(c.ReadResponses(1));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "POST /e body");
}

TEST(HttpFrontTest, OversizedAndMalformedRequestsGetAnErrorAndTheConnectionCloses) {
  DelayedResponder responder;
  auto front = StartFront(responder.Handler(), 100);
  auto rs = ExchangeUntilClosed(
      front->Port(),
      "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a'));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 400);
  EXPECT_EQ(rs[0].body, "{\"success\":false,\"error\":\"too large\"}");
  rs = ExchangeUntilClosed(front->Port(),
                           "POST /g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                               std::string(200, '1') + "\r\n");
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 400);
  for (const char* bad :
       {"GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: x\r\n\r\n"}) {
    rs = ExchangeUntilClosed(front->Port(), bad);
    ASSERT_EQ(rs.size(), 1u) << bad;
    EXPECT_GE(rs[0].status, 400) << bad;
  }
  EXPECT_EQ(responder.Waiting(), 0u);  // none of them reached the handler
}

TEST(HttpFrontTest, ParserRefusalsUseTheConfiguredErrorForm) {
  DelayedResponder responder;
  FrontOptions o;
  o.malformed = [](int status, std::string_view problem) {
    return net::HttpResponse::Make(status, "application/json",
                                   "{\"error\":\"" + std::string(problem) + "\"}");
  };
  auto front = StartFront(responder.Handler(), 1024, o);
  auto rs = ExchangeUntilClosed(
      front->Port(), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\n");
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 400);
  EXPECT_EQ(rs[0].body, "{\"error\":\"malformed chunked body\"}");
}

// A client that declares a large body but sends it slowly is answered once it has arrived, and
// a chunked body whose framing grows without adding body bytes is refused as too large.
TEST(HttpFrontTest, BodiesArriveInPiecesAndFramingIsBounded) {
  DelayedResponder responder;
  auto front = StartFront(responder.Handler(), 100 * 1024);
  {
    RawConnection c(front->Port());
    std::string body(60 * 1024, 'b');
    ASSERT_TRUE(c.Send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    for (size_t off = 0; off < body.size(); off += 7000)
      ASSERT_TRUE(c.Send(body.substr(off, 7000)));
    auto rs = ParseResponses(c.ReadResponses(1));
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].body, "POST /p " + body);
  }
  {
    RawConnection c(front->Port());
    ASSERT_TRUE(c.Send("POST /q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::string chunk = "1;" + std::string(1000, 'e') + "\r\nA\r\n";
    bool sent = true;
    for (int i = 0; i < 200 && sent; ++i) sent = c.Send(chunk);  // 200 KB of framing, 200 B of body
    std::string data;
    EXPECT_TRUE(c.ReadUntilClosed(&data));
    auto rs = ParseResponses(data);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].body, "{\"success\":false,\"error\":\"too large\"}");
  }
  EXPECT_EQ(responder.Waiting(), 0u);
}

// Connections beyond max_connections are closed at once; the ones within keep working.
TEST(HttpFrontTest, ConnectionsBeyondTheLimitAreClosed) {
  DelayedResponder responder;
  FrontOptions o;
  o.max_connections = 2;
  auto front = StartFront(responder.Handler(), 1024, o);
  RawConnection a(front->Port()), b(front->Port());
  ASSERT_TRUE(a.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(ParseResponses(a.ReadResponses(1)).size(), 1u);
  ASSERT_EQ(ParseResponses(b.ReadResponses(1)).size(), 1u);
  RawConnection c(front->Port());
  c.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string data;
  c.ReadUntilClosed(&data);
  EXPECT_TRUE(ParseResponses(data).empty());
  ASSERT_TRUE(a.Send("GET /a2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto rs = ParseResponses(a.ReadResponses(1));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "GET /a2 ");
}

// The sweep closes a connection that stays idle, and one whose head never completes.
TEST(HttpFrontTest, IdleAndSlowConnectionsAreClosedByTheSweep) {
  DelayedResponder responder;
  FrontOptions o;
  o.idle_timeout = std::chrono::milliseconds(100);
  o.read_timeout = std::chrono::milliseconds(100);
  auto front = StartFront(responder.Handler(), 1024, o);
  RawConnection idle(front->Port(), std::chrono::seconds(20));
  RawConnection slow(front->Port(), std::chrono::seconds(20));
  ASSERT_TRUE(slow.Send("GET / HTTP/1.1\r\nHost"));
  std::string data;
  EXPECT_TRUE(idle.ReadUntilClosed(&data));
  EXPECT_TRUE(data.empty());
  EXPECT_TRUE(slow.ReadUntilClosed(&data));
}

TEST(HttpFrontTest, StopWithAnswersStillPendingEndsCleanly) {
  DelayedResponder responder;
  responder.Pause(true);
  auto front = StartFront(responder.Handler());
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 20; ++i) {
    conns.push_back(std::make_unique<RawConnection>(front->Port(), std::chrono::milliseconds(200)));
    ASSERT_TRUE(conns.back()->Send("GET /h HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  for (int i = 0; i < 200 && responder.Waiting() < 20; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(responder.Waiting(), 20u);
  front->Stop();
  responder.Pause(false);  // the answers arrive after Stop and are dropped
  for (int i = 0; i < 200 && responder.Waiting() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(responder.Waiting(), 0u);
  for (auto& c : conns) {
    std::string data;
    c->ReadUntilClosed(&data);
    EXPECT_TRUE(ParseResponses(data).empty());
  }
  front.reset();
}

}  // namespace
}  // namespace autoseal::ct::internal
