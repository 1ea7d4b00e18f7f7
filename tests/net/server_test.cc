#include "net/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "net/client.h"
#include "test_util.h"

namespace autoseal::net {
namespace {

using namespace std::chrono_literals;
using testing::ParseResponses;
using testing::RawConnection;

// Echoes what it received, so tests see what the server parsed.
HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response =
      HttpResponse::Text(200, request.method + " " + request.target + " " + request.body);
  response.SetHeader("X-Remote", request.remote_address);
  response.SetHeader("X-Seen-Header", std::string(request.Header("x-test").value_or("")));
  return response;
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options,
                                        HttpServer::Handler handler = Echo) {
  options.threads = options.threads != 0 ? options.threads : 2;
  auto server = HttpServer::Create(std::move(options), std::move(handler));
  EXPECT_TRUE(server.has_value()) << server.error().message();
  if (!server) return nullptr;
  (*server)->Start();
  return std::move(*server);
}

std::string Url(const HttpServer& server, std::string_view path) {
  return "http://" + server.LocalAddress() + std::string(path);
}

HttpRequest Request(std::string method, std::string url, std::string body = "") {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(url);
  request.body = std::move(body);
  return request;
}

TEST(HttpServerTest, AnswersGetAndPostThroughHttpFetch) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->Port(), 0);

  HttpRequest get = Request("GET", Url(*server, "/status?x=1"));
  get.SetHeader("X-Test", "hello");
  auto got = HttpFetch(get);
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "GET /status?x=1 ");
  EXPECT_EQ(got->Header("x-seen-header"), "hello");
  EXPECT_EQ(got->Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(got->Header("date").has_value());
  EXPECT_TRUE(got->Header("x-remote")->starts_with("127.0.0.1:"));

  std::string body(100000, 'b');
  auto posted = HttpFetch(Request("POST", Url(*server, "/tsa"), body));
  ASSERT_TRUE(posted.has_value()) << posted.error().message();
  EXPECT_EQ(posted->status, 200);
  EXPECT_EQ(posted->body, "POST /tsa " + body);
}

TEST(HttpServerTest, HeadReportsLengthWithoutBody) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  auto head = HttpFetch(Request("HEAD", Url(*server, "/x")));
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->Header("content-length"), std::to_string(std::string("HEAD /x ").size()));
}

TEST(HttpServerTest, KeepAliveReusesOneConnectionForSequentialAndPipelinedRequests) {
  std::atomic<int> calls{0};
  auto server = StartServer({}, [&](const HttpRequest& request) {
    ++calls;
    return HttpResponse::Text(200, request.target + "@" + request.remote_address);
  });
  ASSERT_NE(server, nullptr);
  RawConnection conn(server->Port());
  ASSERT_TRUE(conn.connected());

  ASSERT_TRUE(conn.Send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto first = ParseResponses(conn.ReadResponses(1));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(conn.Send("POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
  auto second = ParseResponses(conn.ReadResponses(1));
  ASSERT_EQ(second.size(), 1u);
  // Same client port: the same TCP connection answered both.
  std::string peer = first[0].body.substr(first[0].body.find('@'));
  EXPECT_EQ(first[0].body, "/one" + peer);
  EXPECT_EQ(second[0].body, "/two" + peer);

  // Three requests in one segment come back in order on the same connection.
  ASSERT_TRUE(conn.Send(
      "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto pipelined = ParseResponses(conn.ReadResponses(3));
  ASSERT_EQ(pipelined.size(), 3u);
  EXPECT_EQ(pipelined[0].body, "/a" + peer);
  EXPECT_EQ(pipelined[1].body, "/b" + peer);
  EXPECT_EQ(pipelined[2].body, "/c" + peer);
  EXPECT_EQ(calls.load(), 5);
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  RawConnection conn(server->Port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  std::string data;
  EXPECT_TRUE(conn.ReadUntilClosed(&data));
  auto responses = ParseResponses(data);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_NE(responses[0].head.find("Connection: close"), std::string::npos);
}

TEST(HttpServerTest, OversizedBodyGets413WithoutReachingTheHandler) {
  std::atomic<int> calls{0};
  HttpServerOptions options;
  options.max_body_bytes = 1024 * 1024;
  auto server = StartServer(options, [&](const HttpRequest& request) {
    ++calls;
    return Echo(request);
  });
  ASSERT_NE(server, nullptr);

  auto big = HttpFetch(Request("POST", Url(*server, "/"), std::string(2 * 1024 * 1024, 'x')));
  ASSERT_TRUE(big.has_value()) << big.error().message();
  EXPECT_EQ(big->status, 413);

  // Declared too large: refused from the header alone, before any body is sent.
  RawConnection conn(server->Port());
  ASSERT_TRUE(conn.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n"));
  std::string data;
  EXPECT_TRUE(conn.ReadUntilClosed(&data));
  auto responses = ParseResponses(data);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);

  // Chunked bodies are counted after de-chunking.
  RawConnection chunked(server->Port());
  std::string chunk(512 * 1024, 'c');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
  std::string request = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += size_line + chunk + "\r\n";
  request += "0\r\n\r\n";
  chunked.Send(request);  // may fail part-way once the server has answered
  data.clear();
  chunked.ReadUntilClosed(&data);
  responses = ParseResponses(data);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 413);
  EXPECT_EQ(calls.load(), 0);

  // An exactly-at-limit body is fine.
  auto fits = HttpFetch(Request("POST", Url(*server, "/"), std::string(1024 * 1024 - 10, 'y')));
  ASSERT_TRUE(fits.has_value()) << fits.error().message();
  EXPECT_EQ(fits->status, 200);
}

TEST(HttpServerTest, GarbageGets400AndTheConnectionIsClosed) {
  std::atomic<int> calls{0};
  auto server = StartServer({}, [&](const HttpRequest& request) {
    ++calls;
    return Echo(request);
  });
  ASSERT_NE(server, nullptr);
  for (std::string_view garbage :
       {std::string_view("\x16\x03\x01 garbage\r\n\r\n"),
        std::string_view("GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n"),
        std::string_view("GET / HTTP/1.1\r\n\r\n"),  // HTTP/1.1 without Host
        std::string_view("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2"
                         "\r\n\r\nab")}) {
    RawConnection conn(server->Port());
    ASSERT_TRUE(conn.Send(garbage));
    // Anything pipelined after the bad request must not be answered.
    conn.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string data;
    EXPECT_TRUE(conn.ReadUntilClosed(&data)) << garbage;
    auto responses = ParseResponses(data);
    ASSERT_EQ(responses.size(), 1u) << data;
    EXPECT_EQ(responses[0].status, 400) << data;
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServerTest, OversizedHeaderGets431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection conn(server->Port());
  ASSERT_TRUE(
      conn.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'h') + "\r\n\r\n"));
  std::string data;
  EXPECT_TRUE(conn.ReadUntilClosed(&data));
  auto responses = ParseResponses(data);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 431);
}

TEST(HttpServerTest, ExpectContinueGets100BeforeTheBody) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  RawConnection conn(server->Port());
  ASSERT_TRUE(conn.Send(
      "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = ParseResponses(conn.ReadResponses(1));
  ASSERT_EQ(interim.size(), 1u);
  EXPECT_EQ(interim[0].status, 100);
  ASSERT_TRUE(conn.Send("body"));
  auto final_response = ParseResponses(conn.ReadResponses(1));
  ASSERT_EQ(final_response.size(), 1u);
  EXPECT_EQ(final_response[0].status, 200);
  EXPECT_EQ(final_response[0].body, "POST /e body");
}

TEST(HttpServerTest, HeaderTimeoutClosesASlowlorisConnection) {
  HttpServerOptions options;
  options.header_timeout = 300ms;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection conn(server->Port(), 50ms);
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: t\r\n"));
  // Keep dribbling header bytes: a per-read timeout would never fire, the header deadline must.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    if (!conn.Send("X")) {
      closed = true;
      break;
    }
    char c;
    ssize_t n = ::recv(conn.fd(), &c, 1, 0);
    closed = n == 0 || (n < 0 && errno == ECONNRESET);
  }
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 200ms;
  options.header_timeout = 200ms;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection idle_from_start(server->Port());
  RawConnection after_request(server->Port());
  ASSERT_TRUE(after_request.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(ParseResponses(after_request.ReadResponses(1)).size(), 1u);
  EXPECT_TRUE(idle_from_start.ReadUntilClosed());
  EXPECT_TRUE(after_request.ReadUntilClosed());
}

TEST(HttpServerTest, HandlerExceptionGives500AndServingContinues) {
  auto server = StartServer({}, [](const HttpRequest& request) -> HttpResponse {
    if (request.target == "/throw") throw std::runtime_error("boom");
    if (request.target == "/split") {
      HttpResponse response;
      response.SetHeader("X-Injected", "a\r\nSet-Cookie: evil=1");
      return response;
    }
    return HttpResponse::Text(200, "fine");
  });
  ASSERT_NE(server, nullptr);
  auto thrown = HttpFetch(Request("GET", Url(*server, "/throw")));
  ASSERT_TRUE(thrown.has_value()) << thrown.error().message();
  EXPECT_EQ(thrown->status, 500);
  auto split = HttpFetch(Request("GET", Url(*server, "/split")));
  ASSERT_TRUE(split.has_value()) << split.error().message();
  EXPECT_EQ(split->status, 500);
  EXPECT_FALSE(split->Header("Set-Cookie").has_value());
  auto fine = HttpFetch(Request("GET", Url(*server, "/")));
  ASSERT_TRUE(fine.has_value()) << fine.error().message();
  EXPECT_EQ(fine->body, "fine");
}

TEST(HttpServerTest, StopLetsInFlightRequestsFinishAndRefusesNewOnes) {
  std::promise<void> entered;
  std::atomic<bool> entered_once{false};
  auto server = StartServer({}, [&](const HttpRequest&) {
    if (!entered_once.exchange(true)) entered.set_value();
    std::this_thread::sleep_for(300ms);
    return HttpResponse::Text(200, "done");
  });
  ASSERT_NE(server, nullptr);
  const std::string url = Url(*server, "/slow");
  RawConnection idle(server->Port());  // an idle keep-alive connection must not hold Stop up
  auto in_flight = std::async(std::launch::async, [&] { return HttpFetch(Request("GET", url)); });
  entered.get_future().wait();
  server->Stop();
  auto result = in_flight.get();
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "done");
  EXPECT_TRUE(idle.ReadUntilClosed());

  HttpClientOptions quick;
  quick.timeout = 2s;
  auto after = HttpFetch(Request("GET", url), quick);
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code(), ErrorCode::kNetwork);
  server->Stop();  // idempotent
}

TEST(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  HttpServerOptions options;
  options.max_connections = 1;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection first(server->Port());
  ASSERT_TRUE(first.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(ParseResponses(first.ReadResponses(1)).size(), 1u);
  RawConnection second(server->Port());
  second.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string data;
  EXPECT_TRUE(second.ReadUntilClosed(&data));
  EXPECT_EQ(data, "");
}

TEST(HttpServerTest, BusyPortAndBadAddressFailClearly) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  HttpServerOptions options;
  options.listen_address = server->LocalAddress();
  auto second = HttpServer::Create(options, Echo);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(second.error().message().find(server->LocalAddress()), std::string::npos);

  options.listen_address = "127.0.0.1";
  auto bad = HttpServer::Create(options, Echo);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpServerTest, ServesManyConcurrentClients) {
  std::atomic<int> calls{0};
  auto server = StartServer({}, [&](const HttpRequest& request) {
    ++calls;
    return HttpResponse::Text(200, request.body);
  });
  ASSERT_NE(server, nullptr);
  std::vector<std::future<bool>> clients;
  for (int c = 0; c < 8; ++c) {
    clients.push_back(std::async(std::launch::async, [&, c] {
      for (int i = 0; i < 25; ++i) {
        std::string body = std::to_string(c) + "-" + std::to_string(i);
        auto response = HttpFetch(Request("POST", Url(*server, "/"), body));
        if (!response || response->body != body) return false;
      }
      return true;
    }));
  }
  for (auto& client : clients) EXPECT_TRUE(client.get());
  EXPECT_EQ(calls.load(), 200);
}

}  // namespace
}  // namespace autoseal::net
