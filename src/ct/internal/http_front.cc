#include "ct/internal/http_front.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/log.h"
#include "net/request_parser.h"

namespace autoseal::ct::internal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// A request is read into the session's buffer in pieces of at least this much.
constexpr size_t kReadChunk = 8192;
constexpr size_t kMaxHeadBytes = 16 * 1024;
// After an error response, unread input is discarded for this long / this much before closing,
// so the client reads the response instead of a reset (RFC 9112 §9.6).
constexpr auto kLingerTimeout = std::chrono::seconds(5);
constexpr size_t kLingerBytes = 64u << 20;
// Wire bytes a chunked body may take beyond its decoded size (chunk-size lines, extensions,
// trailers) before it is refused as too large.
constexpr size_t kChunkFramingAllowance = 64 * 1024;
// After a failed accept (EMFILE, ENFILE, ENOBUFS), the acceptor waits this long before trying
// again instead of spinning on the error.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

class Session;

// One I/O thread with its own io_context: a session lives on one worker, and only that thread
// touches its socket and buffers, so nothing per connection is locked. Responses computed on other
// threads (the log's sequencer) are posted to it.
struct Worker {
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::thread thread;
  std::list<Session*> sessions;  // for the timeout sweep and Stop(); this thread only
};

}  // namespace

class FrontImpl {
 public:
  FrontImpl(FrontOptions options, AsyncHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {
    unsigned n = options_.threads != 0 ? options_.threads
                                       : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
    acceptor_.emplace(*workers_[0]->io);
  }
  ~FrontImpl() {
    Stop();
    acceptor_.reset();
    accept_backoff_.reset();  // before the io_context it was made on
    // Destroying each io_context destroys the handlers still queued in it (responses posted after
    // Stop included) and with them the last references to their sessions (Asio's documented
    // clean-up path); the sessions unlink themselves from their worker, which still exists.
    for (auto& w : workers_) w->io.reset();
  }

  Status Bind() {
    auto hp = TRY(net::ParseHostPort(options_.listen));
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(hp.first, ec);
    if (ec)
      return Fail(ErrorCode::kInvalidArgument,
                  "listen address must be an IP literal: " + options_.listen);
    tcp::endpoint ep(addr, hp.second);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Fail(ErrorCode::kNetwork, "cannot listen on " + options_.listen + ": " + ec.message());
    local_ = acceptor_->local_endpoint(ec);
    return Ok();
  }

  void Start();
  void Stop();

  uint16_t Port() const { return local_.port(); }
  std::string LocalAddress() const {
    return net::FormatHostPort(local_.address().to_string(), local_.port());
  }
  const FrontOptions& options() const { return options_; }
  const AsyncHandler& handler() const { return handler_; }
  std::atomic<size_t>& connections() { return connections_; }

 private:
  void Accept();
  void Sweep(Worker& w, std::shared_ptr<asio::steady_timer> timer);

  FrontOptions options_;
  AsyncHandler handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  tcp::endpoint local_;
  size_t next_worker_ = 0;  // accept handler only (worker 0's thread)
  std::atomic<size_t> connections_{0};
  std::optional<asio::steady_timer> accept_backoff_;  // worker 0's thread
  bool accept_error_logged_ = false;                  // worker 0's thread
  std::mutex mu_;
  bool started_ = false, stopped_ = false;
};

namespace {

// One HTTP/1.1 connection: reads a request into buf_, hands it to the handler, waits for the
// response (which may come from another thread), writes it, and goes on with the next request
// (pipelined bytes already in buf_ included). Exactly one operation is pending at any time.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Worker& worker, FrontImpl& front)
      : socket_(std::move(socket)), worker_(worker), front_(front) {
    position_ = worker_.sessions.insert(worker_.sessions.end(), this);
    front_.connections().fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    worker_.sessions.erase(position_);
    front_.connections().fetch_sub(1, std::memory_order_relaxed);
  }

  void Start() {
    buf_.resize(kReadChunk);
    Read();
  }

  // Closes the socket; the pending operation completes with an error and the session ends.
  void Close() {
    deadline_ = SteadyClock::time_point::max();
    boost::system::error_code ec;
    socket_.close(ec);
  }
  SteadyClock::time_point deadline() const { return deadline_; }

 private:
  void SetDeadline(std::chrono::milliseconds d) { deadline_ = SteadyClock::now() + d; }

  void Read() {
    if (have_ > 0 && Process()) return;
    if (buf_.size() - have_ < kReadChunk / 2)
      buf_.resize(std::max(buf_.size() * 2, have_ + kReadChunk));
    if (have_ == 0) SetDeadline(front_.options().idle_timeout);
    socket_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (ec) {
                                self->Close();
                                return;
                              }
                              if (self->have_ == 0)
                                self->SetDeadline(self->front_.options().read_timeout);
                              self->have_ += n;
                              self->Read();
                            });
  }

  // Acts on what is buffered; false when more input is needed.
  bool Process() {
    std::string_view in(buf_.data(), have_);
    net::ParseRequestHead(in, kMaxHeadBytes, &head_);
    if (head_.status == net::RequestHead::Status::kIncomplete) return false;
    if (head_.status == net::RequestHead::Status::kError)
      return WriteMalformed(head_.http_status, head_.problem);
    const size_t max_body = front_.options().max_body_bytes;
    size_t consumed;
    if (head_.chunked) {
      if (!body_started_) {  // the head was just completed: a new body starts
        body_started_ = true;
        request_.body.clear();
        chunked_ = {};
      }
      std::string_view wire = in.substr(head_.head_bytes);
      long r = net::DecodeChunkedBody(wire, max_body, &request_.body, &chunked_);
      if (r == -413) return WriteTooLarge();
      if (r < 0) return WriteMalformed(400, "malformed chunked body");
      if (r == 0) {
        if (wire.size() > max_body + kChunkFramingAllowance) return WriteTooLarge();
        return ContinueIfExpected();
      }
      consumed = head_.head_bytes + static_cast<size_t>(r);
    } else {
      if (head_.content_length > max_body) return WriteTooLarge();
      // The buffer grows as the body arrives (Read doubles it), never to the declared length up
      // front: a 76-byte head declaring 512 KiB must not cost 512 KiB until the bytes come.
      if (have_ < head_.head_bytes + head_.content_length) return ContinueIfExpected();
      consumed = head_.head_bytes + static_cast<size_t>(head_.content_length);
      request_.body.assign(in.substr(head_.head_bytes, static_cast<size_t>(head_.content_length)));
    }
    // The request is complete. Its fields are copied into request_, whose strings keep their
    // capacity from request to request.
    request_.method.assign(head_.method);
    request_.target.assign(head_.target);
    request_.version.assign(head_.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1");
    request_.headers.resize(head_.fields.size());
    for (size_t i = 0; i < head_.fields.size(); ++i) {
      request_.headers[i].first.assign(head_.fields[i].first);
      request_.headers[i].second.assign(head_.fields[i].second);
    }
    keep_alive_ = head_.keep_alive;
    head_request_ = request_.method == "HEAD";
    consumed_ = consumed;
    // The log answers within its sequencing period; a handler that never answers must still
    // not pin the connection forever.
    SetDeadline(std::max(front_.options().idle_timeout, front_.options().read_timeout));
    continue_sent_ = false;
    body_started_ = false;
    // The callback hands its reference on (mutable, moved out), so that the session is never
    // destroyed on the thread that answered, which does not own it.
    try {
      front_.handler()(request_, [self = shared_from_this()](net::HttpResponse res) mutable {
        Session* s = self.get();
        s->Respond(std::move(res), std::move(self));
      });
    } catch (const std::exception& e) {  // no exception may escape into Asio
      autoseal::Log(LogLevel::kError, "ct http: handler threw", {{"error", e.what()}});
      Close();
    }
    return true;
  }

  bool WriteMalformed(int status, std::string_view problem) {
    const auto& make = front_.options().malformed;
    WriteError(make ? make(status, problem)
                    : net::HttpResponse::Text(status, std::string(net::ReasonPhrase(status)) + "\n"));
    return true;
  }

  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for 100 before the body.
  bool ContinueIfExpected() {
    if (!head_.expect_continue || continue_sent_ || have_ > head_.head_bytes) return false;
    continue_sent_ = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    SetDeadline(front_.options().read_timeout);
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) {
                          self->Close();
                          return;
                        }
                        self->Read();
                      });
    return true;
  }

  bool WriteTooLarge() {
    WriteError(front_.options().too_large);
    return true;
  }

  // Answers and then discards input until the client closes (lingering close).
  void WriteError(const net::HttpResponse& res) {
    keep_alive_ = false;
    linger_ = true;
    out_.clear();
    net::SerializeResponse(res, false, false, &out_);
    Send();
  }

  // Called exactly once per request, on any thread. After Stop() the posted response is never
  // run: it is destroyed, with the session, when the worker's io_context is.
  void Respond(net::HttpResponse res, std::shared_ptr<Session> self) {
    if (worker_.io->get_executor().running_in_this_thread()) {
      Deliver(std::move(res));
      return;
    }
    asio::post(*worker_.io, [self = std::move(self), res = std::move(res)]() mutable {
      self->Deliver(std::move(res));
    });
  }

  void Deliver(net::HttpResponse res) {
    out_.clear();
    keep_alive_ =
        net::SerializeResponse(res, keep_alive_, head_request_, &out_, head_.minor_version);
    // Drop the answered request from the buffer; pipelined bytes after it stay.
    std::memmove(buf_.data(), buf_.data() + consumed_, have_ - consumed_);
    have_ -= consumed_;
    consumed_ = 0;
    Send();
  }

  void Send() {
    SetDeadline(std::chrono::seconds(30));
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code ec, size_t) {
          if (ec) {
            self->Close();
            return;
          }
          if (self->linger_) {
            self->Linger();
            return;
          }
          if (!self->keep_alive_) {
            boost::system::error_code ignored;
            self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
            self->linger_ = true;
            self->Linger();
            return;
          }
          if (self->buf_.size() > 4 * kReadChunk && self->have_ < kReadChunk) {
            self->buf_.resize(
                kReadChunk);  // a large body's buffer is not kept for the connection's life
            self->buf_.shrink_to_fit();
          }
          self->Read();
        });
  }

  void Linger() {
    if (!lingering_) {
      lingering_ = true;
      boost::system::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      deadline_ = SteadyClock::now() + kLingerTimeout;
      buf_.resize(16 * 1024);
    }
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) {
                                self->Close();
                                return;
                              }
                              self->Linger();
                            });
  }

  tcp::socket socket_;
  Worker& worker_;
  FrontImpl& front_;
  std::list<Session*>::iterator position_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  std::vector<char> buf_;
  size_t have_ = 0;      // bytes of input in buf_
  size_t consumed_ = 0;  // length of the request being answered
  net::RequestHead head_;
  net::ChunkedProgress chunked_;
  bool body_started_ = false;  // a chunked body is being decoded into request_.body
  net::HttpRequest request_;
  std::string out_;
  bool keep_alive_ = true, head_request_ = false, continue_sent_ = false;
  bool linger_ = false, lingering_ = false;
  size_t drained_ = 0;
};

}  // namespace

void FrontImpl::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  Accept();
  for (auto& w : workers_) {
    Sweep(*w, std::make_shared<asio::steady_timer>(*w->io));
    Worker* worker = w.get();
    worker->thread = std::thread([worker] {
      for (;;) {
        try {
          worker->io->run();
          return;
        } catch (const std::exception& e) {
          autoseal::Log(LogLevel::kError, "ct http: handler threw", {{"error", e.what()}});
        }
      }
    });
  }
}

void FrontImpl::Sweep(Worker& w, std::shared_ptr<asio::steady_timer> timer) {
  // Timeouts by a coarse sweep per thread instead of a timer per operation (net/server.cc does
  // the same): a request costs a clock read, not timer-queue updates.
  auto interval = std::clamp<std::chrono::milliseconds>(
      std::min(options_.idle_timeout, options_.read_timeout) / 4, std::chrono::milliseconds(5),
      std::chrono::milliseconds(1000));
  timer->expires_after(interval);
  timer->async_wait([this, &w, timer](boost::system::error_code ec) {
    if (ec) return;
    auto now = SteadyClock::now();
    for (auto it = w.sessions.begin(); it != w.sessions.end();) {
      Session* s = *it++;  // Close() may not end the session at once, but never erases here
      if (s->deadline() <= now) s->Close();
    }
    Sweep(w, timer);
  });
}

void FrontImpl::Accept() {
  Worker& w = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(*w.io, [this, &w](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
    if (ec) {
      // Out of descriptors or buffers: the pending connection stays in the backlog, so accepting
      // again at once would spin. Wait, then try again.
      if (!accept_error_logged_) {
        accept_error_logged_ = true;
        autoseal::Log(LogLevel::kWarning, "ct http: accept failed; retrying",
                      {{"error", ec.message()}});
      }
      if (!accept_backoff_) accept_backoff_.emplace(*workers_[0]->io);
      accept_backoff_->expires_after(kAcceptBackoff);
      accept_backoff_->async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && acceptor_->is_open()) Accept();
      });
      return;
    }
    accept_error_logged_ = false;
    if (connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      s.close(ec);  // over the limit: refuse at once rather than queue unbounded state
    } else {
      s.set_option(tcp::no_delay(true), ec);
      // Started on its own worker's thread: only that thread touches the session.
      asio::post(*w.io, [this, &w, s = std::move(s)]() mutable {
        std::make_shared<Session>(std::move(s), w, *this)->Start();
      });
    }
    Accept();
  });
}

void FrontImpl::Stop() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  if (started_) {
    for (auto& w : workers_) w->io->stop();
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }
  // The threads are gone, so the acceptor is closed here, at once: a close posted to a stopping
  // io_context might never run, leaving new connections to hang in the backlog.
  boost::system::error_code ec;
  acceptor_->close(ec);
  if (accept_backoff_) accept_backoff_->cancel();
  // The threads are gone: close every connection from here.
  for (auto& w : workers_)
    for (Session* s : w->sessions) s->Close();
}

Result<std::unique_ptr<HttpFront>> HttpFront::Create(FrontOptions options, AsyncHandler handler) {
  auto impl = std::make_shared<FrontImpl>(std::move(options), std::move(handler));
  TRY(impl->Bind());
  return std::unique_ptr<HttpFront>(new HttpFront(std::move(impl)));
}

HttpFront::~HttpFront() { Stop(); }
void HttpFront::Start() { impl_->Start(); }
void HttpFront::Stop() { impl_->Stop(); }
uint16_t HttpFront::Port() const { return impl_->Port(); }
std::string HttpFront::LocalAddress() const { return impl_->LocalAddress(); }

}  // namespace autoseal::ct::internal
