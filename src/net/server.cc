#include "net/server.h"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames when optimising with
// sanitizers (GCC bug 109224, fixed in GCC 14): the frame's operator new and delete do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"
#include "net/internal/tls.h"

namespace autoseal::net {
namespace internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using SslContextPtr = std::shared_ptr<asio::ssl::context>;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// First read of an idle connection; the parser asks for more when a request is larger.
constexpr size_t kIdleReadBytes = 4096;
// After an error response, how long and how much unread input is discarded before closing, so
// the client reads our response instead of a reset (RFC 9112 §9.6, "lingering close").
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerBytes = 1 << 20;

std::string EndpointString(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return FormatHostPort(address.to_string(), endpoint.port());
}

// RFC 9110 §5.6.2 token characters (header field names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// RFC 9110 §5.5: field values must not contain CR, LF or NUL (response splitting).
bool IsFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Logs an exception that ended a coroutine; the completion token of every co_spawn, so no
// exception reaches io_context::run().
void LogCoroutineException(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    Log(LogLevel::kError, "HTTP server coroutine failed", {{"where", what}, {"error", ex.what()}});
  } catch (...) {
    Log(LogLevel::kError, "HTTP server coroutine failed", {{"where", what}});
  }
}

class ConnectionBase;

// One I/O thread with its own io_context; a connection lives on exactly one worker, so the
// connection list needs no lock (it is only touched from that thread).
struct Worker {
  std::list<ConnectionBase*> connections;
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::thread thread;
};

// What the periodic sweep sees of a connection: its deadline and whether it waits for a request.
class ConnectionBase {
 public:
  explicit ConnectionBase(Worker& worker) : worker_(worker) {
    position_ = worker_.connections.insert(worker_.connections.end(), this);
  }
  virtual ~ConnectionBase() { worker_.connections.erase(position_); }
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  // Closes the socket, cancelling the pending operation; the session then ends.
  void Close() {
    deadline_ = SteadyClock::time_point::max();
    beast::error_code ignored;
    Socket().close(ignored);
  }
  SteadyClock::time_point deadline() const { return deadline_; }
  bool idle() const { return idle_; }

 protected:
  virtual tcp::socket& Socket() = 0;
  void SetDeadline(std::chrono::milliseconds timeout) { deadline_ = SteadyClock::now() + timeout; }
  void SetDeadlineAt(SteadyClock::time_point deadline) { deadline_ = deadline; }

  bool idle_ = false;

 private:
  Worker& worker_;
  std::list<ConnectionBase*>::iterator position_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
};

}  // namespace

class ServerImpl {
 public:
  ServerImpl(HttpServerOptions options, HttpServer::Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}
  ~ServerImpl() { Stop(); }

  Status Init();
  void Start();
  void Stop();
  Status ReloadTls(const TlsServerOptions& tls);
  uint16_t Port() const { return local_endpoint_.port(); }
  std::string LocalAddress() const { return EndpointString(local_endpoint_); }

  const HttpServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  HttpResponse CallHandler(const HttpRequest& request) const;

  // Counts one open connection from accept until its session ends (or never starts).
  class ConnectionSlot {
   public:
    explicit ConnectionSlot(ServerImpl* impl) : impl_(impl) { ++impl_->active_connections_; }
    ConnectionSlot(ConnectionSlot&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
      if (impl_ != nullptr && --impl_->active_connections_ == 0 && impl_->stopping()) {
        { std::lock_guard<std::mutex> lock(impl_->drain_mu_); }
        impl_->drain_cv_.notify_all();
      }
    }

   private:
    ServerImpl* impl_;
  };

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> SweepLoop(Worker& worker);
  SslContextPtr CurrentTls() {
    std::lock_guard<std::mutex> lock(tls_mu_);
    return tls_;
  }
  void RunWorker(Worker& worker);

  const HttpServerOptions options_;
  const HttpServer::Handler handler_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_connections_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;

  std::mutex tls_mu_;
  SslContextPtr tls_;  // null for plain HTTP

  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;  // on workers_[0]; destroyed before the workers
  tcp::endpoint local_endpoint_;

  std::mutex lifecycle_mu_;
  enum class State { kCreated, kRunning, kStopped } state_ = State::kCreated;
};

namespace {

using ConnectionSlot = ServerImpl::ConnectionSlot;

// One HTTP/1.1 connection (Beast examples style): reads requests one after another, answers each
// before reading the next (so pipelined requests are answered in order), and ends on the first
// error. Stream is tcp::socket or asio::ssl::stream<tcp::socket>.
template <class Stream>
class Session final : public ConnectionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  Session(ServerImpl& server, Worker& worker, Stream& stream)
      : ConnectionBase(worker), server_(server), options_(server.options()), stream_(stream) {}

  asio::awaitable<void> Run();

 private:
  tcp::socket& Socket() override { return beast::get_lowest_layer(stream_); }

  // Reads one request into parser; returns the status to answer with on a protocol error
  // (400/413/431), 0 when the request is complete, or -1 when the connection just ended.
  asio::awaitable<int> ReadRequest(beast::flat_buffer& buffer,
                                   http::request_parser<http::string_body>& parser,
                                   bool first_request);
  http::response<http::string_body> BuildResponse(HttpResponse response, unsigned version,
                                                  bool head, bool& keep_alive);
  asio::awaitable<void> SendErrorAndClose(int status, unsigned version);
  asio::awaitable<void> LingeringClose();

  ServerImpl& server_;
  const HttpServerOptions& options_;
  Stream& stream_;
  std::string remote_;
};

int StatusForReadError(const beast::error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) return 431;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return -1;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return -1;  // socket errors, TLS errors, our own close on timeout or stop
}

template <class Stream>
asio::awaitable<int> Session<Stream>::ReadRequest(beast::flat_buffer& buffer,
                                                  http::request_parser<http::string_body>& parser,
                                                  bool first_request) {
  if (buffer.size() == 0) {
    // Waiting for the first byte of the next request: the idle (keep-alive) timeout applies, and
    // Stop() may close the connection now without losing a request.
    if (server_.stopping()) co_return -1;
    idle_ = true;
    SetDeadline(first_request ? options_.header_timeout : options_.idle_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer.prepare(kIdleReadBytes), kUseTuple);
    idle_ = false;
    if (ec) co_return -1;
    buffer.commit(n);
  }
  // The header timeout runs from the request's first byte, however slowly the rest trickles in.
  const SteadyClock::time_point start = SteadyClock::now();
  SetDeadlineAt(start + options_.header_timeout);
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(options_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(options_.max_body_bytes);
  {
    auto [ec, n] = co_await http::async_read_header(stream_, buffer, parser, kUseTuple);
    if (ec) co_return StatusForReadError(ec);
  }
  const auto& message = parser.get();
  // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  // request message that lacks a Host header field and to any request message that contains
  // more than one Host header field line".
  size_t hosts = message.count(http::field::host);
  if (hosts > 1 || (hosts == 0 && message.version() >= 11)) co_return 400;
  if (message.version() < 10 || message.version() >= 20) co_return 505;
  if (parser.is_done()) co_return 0;

  // RFC 9110 §10.1.1: a server that receives 100-continue in an HTTP/1.1 request and intends to
  // read the body sends an immediate 100 (Continue); HTTP/1.0 requests' expectations are ignored.
  auto expect = message.find(http::field::expect);
  if (expect != message.end() && message.version() >= 11) {
    if (!EqualsIgnoreCase(expect->value(), "100-continue")) co_return 417;
    if (buffer.size() == 0) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      SetDeadline(options_.write_timeout);
      auto [ec, n] = co_await asio::async_write(
          stream_, asio::buffer(kContinue.data(), kContinue.size()), kUseTuple);
      if (ec) co_return -1;
    }
  }
  SetDeadlineAt(start + options_.read_timeout);
  auto [ec, n] = co_await http::async_read(stream_, buffer, parser, kUseTuple);
  if (ec) co_return StatusForReadError(ec);
  co_return 0;
}

template <class Stream>
http::response<http::string_body> Session<Stream>::BuildResponse(HttpResponse response,
                                                                 unsigned version, bool head,
                                                                 bool& keep_alive) {
  int status = response.status;
  std::string_view problem;
  if (status < 200 || status > 999) problem = "status outside 200..999";
  for (const auto& [name, value] : response.headers) {
    if (!IsToken(name) || !IsFieldValue(value)) problem = "header field with forbidden characters";
  }
  if (!problem.empty()) {
    Log(LogLevel::kError, "HTTP handler returned an invalid response",
        {{"status", std::to_string(status)}, {"problem", problem}});
    response = HttpResponse::Text(500, "Internal Server Error\n");
    status = 500;
  }

  http::response<http::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(status));
  if (std::string_view reason = ReasonPhrase(status); !reason.empty()) res.reason(reason);
  bool has_date = false;
  for (auto& [name, value] : response.headers) {
    // Framing and connection management are the server's (RFC 9112 §6, §9.6).
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding")) {
      continue;
    }
    if (EqualsIgnoreCase(name, "Connection")) {
      if (EqualsIgnoreCase(value, "close")) keep_alive = false;
      continue;
    }
    if (EqualsIgnoreCase(name, "Date")) has_date = true;
    res.insert(name, value);
  }
  if (!has_date) res.set(http::field::date, net::HttpDateNow());
  if (status == 204 || status == 304) {
    // RFC 9110 §15.3.5, §15.4.5: no content.
  } else if (head) {
    // RFC 9110 §9.3.2: the same header fields as for GET, no content.
    res.content_length(response.body.size());
  } else {
    res.content_length(response.body.size());
    res.body() = std::move(response.body);
  }
  res.keep_alive(keep_alive);
  return res;
}

template <class Stream>
asio::awaitable<void> Session<Stream>::SendErrorAndClose(int status, unsigned version) {
  http::response<http::string_body> res;
  res.version(version >= 11 ? 11 : 10);
  res.result(static_cast<unsigned>(status));
  res.reason(ReasonPhrase(status));
  res.set(http::field::date, net::HttpDateNow());
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(ReasonPhrase(status)) + "\n";
  res.content_length(res.body().size());
  res.keep_alive(false);
  SetDeadline(options_.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kUseTuple);
  if (!ec) co_await LingeringClose();
}

template <class Stream>
asio::awaitable<void> Session<Stream>::LingeringClose() {
  tcp::socket& socket = Socket();
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  SetDeadline(std::chrono::duration_cast<std::chrono::milliseconds>(kLingerTimeout));
  std::array<char, 4096> scratch;
  size_t drained = 0;
  while (drained < kLingerBytes) {
    auto [read_ec, n] = co_await socket.async_read_some(asio::buffer(scratch), kUseTuple);
    if (read_ec) break;
    drained += n;
  }
}

template <class Stream>
asio::awaitable<void> Session<Stream>::Run() {
  beast::error_code ec;
  tcp::endpoint peer = Socket().remote_endpoint(ec);
  if (ec) co_return;  // already gone
  remote_ = EndpointString(peer);

  if constexpr (kTls) {
    if (server_.stopping()) co_return;
    // No request is in flight during the handshake, so Stop() may close it like an idle one.
    idle_ = true;
    SetDeadline(options_.header_timeout);
    auto [handshake_ec] =
        co_await stream_.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    idle_ = false;
    if (handshake_ec) {
      Log(LogLevel::kDebug, "TLS handshake failed",
          {{"remote", remote_}, {"error", handshake_ec.message()}});
      co_return;
    }
  }

  beast::flat_buffer buffer;
  for (size_t served = 0;; ++served) {
    std::optional<http::request_parser<http::string_body>> parser;
    parser.emplace();
    int read_status = co_await ReadRequest(buffer, *parser, served == 0);
    if (read_status < 0) co_return;
    const unsigned version = parser->get().version();
    if (read_status > 0) {
      co_await SendErrorAndClose(read_status, version);
      co_return;
    }

    http::request<http::string_body> message = parser->release();
    parser.reset();
    bool keep_alive = message.keep_alive() && !server_.stopping() &&
                      served + 1 < options_.max_requests_per_connection;
    const bool head = message.method() == http::verb::head;

    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.version = version == 10 ? "HTTP/1.0" : "HTTP/1.1";
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_;

    http::response<http::string_body> res;
    bool built = false;
    try {
      res = BuildResponse(server_.CallHandler(request), version >= 11 ? 11 : 10, head, keep_alive);
      built = true;
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "HTTP response could not be built", {{"error", e.what()}});
    }
    if (!built) {
      co_await SendErrorAndClose(500, version);
      co_return;
    }
    SetDeadline(options_.write_timeout);
    auto [write_ec, n] = co_await http::async_write(stream_, res, kUseTuple);
    if (write_ec) co_return;
    if (!keep_alive) {
      co_await LingeringClose();
      co_return;
    }
  }
}

// The slot parameters hold the connection count for the coroutine's lifetime.
asio::awaitable<void> ServePlain(ServerImpl& server, Worker& worker, tcp::socket socket,
                                 [[maybe_unused]] ConnectionSlot slot) {
  Session<tcp::socket> session(server, worker, socket);
  co_await session.Run();
}

asio::awaitable<void> ServeTls(ServerImpl& server, Worker& worker, tcp::socket socket,
                               [[maybe_unused]] ConnectionSlot slot, SslContextPtr context) {
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *context);
  Session<asio::ssl::stream<tcp::socket>> session(server, worker, stream);
  co_await session.Run();
}

Result<tcp::endpoint> ResolveListenAddress(const std::string& listen_address) {
  auto [host, port] = TRY(ParseHostPort(listen_address));
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, port);
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Fail(ErrorCode::kNetwork, "cannot resolve listen address " + listen_address + ": " +
                                         (ec ? ec.message() : "no addresses"));
  }
  return results.begin()->endpoint();
}

}  // namespace

HttpResponse ServerImpl::CallHandler(const HttpRequest& request) const {
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "HTTP handler threw",
        {{"method", request.method}, {"target", request.target}, {"error", e.what()}});
  } catch (...) {
    Log(LogLevel::kError, "HTTP handler threw",
        {{"method", request.method}, {"target", request.target}});
  }
  return HttpResponse::Text(500, "Internal Server Error\n");
}

Status ServerImpl::Init() {
  if (!handler_) return Fail(ErrorCode::kInvalidArgument, "HTTP server needs a handler");
  if (options_.max_connections == 0 || options_.max_header_bytes == 0) {
    return Fail(ErrorCode::kInvalidArgument, "HTTP server limits must be positive");
  }
  tcp::endpoint endpoint = TRY(ResolveListenAddress(options_.listen_address));
  if (options_.tls) {
    SslCtxPtr ctx = TRY_CONTEXT(BuildServerSslCtx(*options_.tls), "HTTPS server");
    tls_ = std::make_shared<asio::ssl::context>(ctx.release());
  }

  unsigned threads = options_.threads != 0 ? options_.threads : std::thread::hardware_concurrency();
  threads = std::max(threads, 1u);
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());

  acceptor_ = std::make_unique<tcp::acceptor>(*workers_[0]->io);
  beast::error_code ec;
  auto fail = [&](std::string_view what) {
    return Fail(ErrorCode::kNetwork, "cannot listen on " + options_.listen_address + ": " +
                                         std::string(what) + ": " + ec.message());
  };
  acceptor_->open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  acceptor_->bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  local_endpoint_ = acceptor_->local_endpoint(ec);
  if (ec) return fail("getsockname");
  return Ok();
}

void ServerImpl::RunWorker(Worker& worker) {
  for (;;) {
    try {
      worker.io->run();
      return;
    } catch (const std::exception& e) {
      // Unreachable by design (every completion handler catches); keep serving if it happens.
      Log(LogLevel::kError, "HTTP server I/O loop threw", {{"error", e.what()}});
    }
  }
}

asio::awaitable<void> ServerImpl::AcceptLoop() {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  size_t next = 0;
  for (;;) {
    Worker& worker = *workers_[next];
    next = (next + 1) % workers_.size();
    auto [ec, socket] = co_await acceptor_->async_accept(worker.io->get_executor(), kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping()) co_return;
      // Out of file descriptors or memory: back off instead of spinning on the error.
      Log(LogLevel::kWarning, "HTTP server accept failed",
          {{"address", options_.listen_address}, {"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    if (active_connections_.load() >= options_.max_connections) {
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    ConnectionSlot slot(this);
    auto on_done = [](std::exception_ptr e) { LogCoroutineException(e, "connection"); };
    if (SslContextPtr tls = CurrentTls()) {
      asio::co_spawn(
          *worker.io,
          ServeTls(*this, worker, tcp::socket(std::move(socket)), std::move(slot), std::move(tls)),
          on_done);
    } else {
      asio::co_spawn(*worker.io,
                     ServePlain(*this, worker, tcp::socket(std::move(socket)), std::move(slot)),
                     on_done);
    }
  }
}

asio::awaitable<void> ServerImpl::SweepLoop(Worker& worker) {
  // Timeouts are enforced by a coarse per-thread sweep rather than a timer per operation: a
  // request costs one clock read instead of timer queue updates.
  auto shortest = std::min({options_.header_timeout, options_.read_timeout, options_.write_timeout,
                            options_.idle_timeout});
  auto interval = std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(5),
                                                        std::chrono::milliseconds(1000));
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    auto [ec] = co_await timer.async_wait(kUseTuple);
    if (ec) co_return;
    const SteadyClock::time_point now = SteadyClock::now();
    for (ConnectionBase* connection : worker.connections) {
      if (connection->deadline() <= now) connection->Close();
    }
  }
}

void ServerImpl::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ != State::kCreated) return;
  state_ = State::kRunning;
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    asio::co_spawn(*w->io, SweepLoop(*w),
                   [](std::exception_ptr e) { LogCoroutineException(e, "sweep"); });
  }
  asio::co_spawn(*workers_[0]->io, AcceptLoop(),
                 [](std::exception_ptr e) { LogCoroutineException(e, "accept"); });
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([this, w] { RunWorker(*w); });
  }
}

void ServerImpl::Stop() {
  for (const auto& worker : workers_) {
    // Joining the calling thread would deadlock.
    CHECK_MSG(worker->thread.get_id() != std::this_thread::get_id(),
              "HttpServer::Stop() or its destructor called from the server's own handler");
  }
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ == State::kStopped) return;
  const bool was_running = state_ == State::kRunning;
  state_ = State::kStopped;
  stopping_ = true;
  if (was_running) {
    asio::post(*workers_[0]->io, [this] {
      beast::error_code ignored;
      acceptor_->close(ignored);
    });
    for (auto& worker : workers_) {
      Worker* w = worker.get();
      asio::post(*w->io, [w] {
        for (ConnectionBase* connection : w->connections) {
          if (connection->idle()) connection->Close();
        }
      });
    }
    {
      std::unique_lock<std::mutex> drain_lock(drain_mu_);
      drain_cv_.wait_for(drain_lock, options_.shutdown_timeout,
                         [this] { return active_connections_.load() == 0; });
    }
    for (auto& worker : workers_) worker->io->stop();
    for (auto& worker : workers_) {
      if (worker->thread.joinable()) worker->thread.join();
    }
  }
  // Destroying the contexts destroys the remaining sessions (closing their sockets).
  acceptor_.reset();
  for (auto& worker : workers_) worker->io.reset();
}

Status ServerImpl::ReloadTls(const TlsServerOptions& tls) {
  if (!options_.tls) {
    return Fail(ErrorCode::kInvalidArgument,
                "HTTP server on " + options_.listen_address + " was created without TLS");
  }
  SslCtxPtr ctx = TRY_CONTEXT(BuildServerSslCtx(tls), "reloading TLS credentials");
  auto context = std::make_shared<asio::ssl::context>(ctx.release());
  std::lock_guard<std::mutex> lock(tls_mu_);
  tls_ = std::move(context);
  return Ok();
}

}  // namespace internal

Result<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options, Handler handler) {
  auto impl = std::make_unique<internal::ServerImpl>(std::move(options), std::move(handler));
  TRY(impl->Init());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<internal::ServerImpl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
void HttpServer::Start() { impl_->Start(); }
void HttpServer::Stop() { impl_->Stop(); }
uint16_t HttpServer::Port() const { return impl_->Port(); }
std::string HttpServer::LocalAddress() const { return impl_->LocalAddress(); }
Status HttpServer::ReloadTls(const TlsServerOptions& tls) { return impl_->ReloadTls(tls); }

}  // namespace autoseal::net
