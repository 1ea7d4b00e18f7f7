#pragma once

// An asynchronous HTTP/1.1 front for the CT log. net::HttpServer calls a synchronous handler on
// its I/O thread, but add-chain waits up to one sequencing period for durability: thousands of
// submissions are in flight at once, so the handler here answers through a callback that may run
// later on any thread. It is built for that load: one io_context per thread with no strands,
// per-connection buffers reused from request to request, net::ParseRequestHead instead of a
// general parser, timeouts by a periodic sweep instead of a timer per operation. Private to ct/;
// Asio stays in the .cc.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "net/http.h"

namespace autoseal::ct::internal {

using Respond = std::function<void(net::HttpResponse)>;
// Called on an I/O thread for every request; must call respond exactly once (from any thread).
using AsyncHandler = std::function<void(const net::HttpRequest&, Respond respond)>;

struct FrontOptions {
  std::string listen = "127.0.0.1:0";
  unsigned threads = 0;  // 0: one per core
  size_t max_body_bytes = 512 * 1024;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};  // between requests
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};  // from a request's first byte
  // Connections beyond this are closed as soon as they are accepted, so that a flood of idle or
  // slow connections cannot exhaust descriptors or memory (each holds at most one request's
  // bytes: the head limit plus max_body_bytes plus chunk framing).
  size_t max_connections = 16384;
  // The body of a 400 for requests whose body exceeds max_body_bytes (CT: a JSON error).
  net::HttpResponse too_large;
  // The answer to a request the parser refuses (status 400, 417, 431, 501 or 505; problem says
  // why). Unset: a plain-text reason phrase.
  std::function<net::HttpResponse(int status, std::string_view problem)> malformed;
};

class FrontImpl;

class HttpFront {
 public:
  static Result<std::unique_ptr<HttpFront>> Create(FrontOptions options, AsyncHandler handler);
  ~HttpFront();
  void Start();
  // Idempotent; closes connections and joins the threads. Responses given after Stop() are
  // dropped. Every respond callback must have run or been destroyed before the HttpFront is
  // destroyed (CtService stops and destroys the log first).
  void Stop();
  uint16_t Port() const;
  std::string LocalAddress() const;

 private:
  explicit HttpFront(std::shared_ptr<FrontImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<FrontImpl> impl_;
};

}  // namespace autoseal::ct::internal
