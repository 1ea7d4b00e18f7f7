#include "ct/internal/http_front.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"

namespace autoseal::ct::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class FrontImpl : public std::enable_shared_from_this<FrontImpl> {
 public:
  FrontImpl(FrontOptions options, AsyncHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)), acceptor_(io_) {}

  Status Bind() {
    auto hp = TRY(net::ParseHostPort(options_.listen));
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(hp.first, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "listen address must be an IP literal: " + options_.listen);
    tcp::endpoint ep(addr, hp.second);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Fail(ErrorCode::kNetwork, "cannot listen on " + options_.listen + ": " + ec.message());
    return Ok();
  }

  void Start() {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
    Accept();
    unsigned n = options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          autoseal::Log(LogLevel::kError, "ct http: handler threw", {{"error", e.what()}});
        }
      }
    });
  }

  void Stop() {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    asio::post(io_, [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
    });
    io_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  uint16_t Port() const { return acceptor_.local_endpoint().port(); }
  std::string LocalAddress() const {
    auto ep = acceptor_.local_endpoint();
    return net::FormatHostPort(ep.address().to_string(), ep.port());
  }

  const FrontOptions& options() const { return options_; }
  const AsyncHandler& handler() const { return handler_; }

 private:
  void Accept();

  FrontOptions options_;
  AsyncHandler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::mutex mu_;
  bool started_ = false, stopped_ = false;
  std::vector<std::thread> threads_;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<FrontImpl> front)
      : stream_(std::move(socket)), front_(std::move(front)) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(front_->options().max_body_bytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(front_->options().idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

 private:
  // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" (curl does for bodies over 1 KiB)
  // waits for an interim response before sending the body.
  void OnHeader(beast::error_code ec) {
    if (ec) {
      OnRead(ec);
      return;
    }
    auto expect = parser_->get()[http::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) {
                            self->Close();
                            return;
                          }
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::eof) {
      Close();
      return;
    }
    if (ec == http::error::body_limit) {
      // Answer, then keep reading (and discarding) what the client is still sending: closing at
      // once would reset the connection and the client would never see the 400.
      keep_alive_ = false;
      drain_ = true;
      Write(front_->options().too_large);
      return;
    }
    if (ec) {
      keep_alive_ = false;
      Write(net::HttpResponse::Text(400, "malformed HTTP request\n"));
      return;
    }
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    net::HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(req.body());
    auto self = shared_from_this();
    front_->handler()(r, [self](net::HttpResponse res) {
      asio::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    });
  }

  void Write(net::HttpResponse res) {
    auto msg = std::make_shared<http::response<http::string_body>>();
    msg->result(static_cast<unsigned>(res.status));
    msg->version(11);
    for (auto& [k, v] : res.headers) {
      if (net::EqualsIgnoreCase(k, "Content-Length") || net::EqualsIgnoreCase(k, "Transfer-Encoding")) continue;
      msg->insert(k, v);
    }
    msg->body() = std::move(res.body);
    msg->keep_alive(keep_alive_);
    msg->prepare_payload();
    if (head_) msg->body().clear();  // Content-Length stays that of the full body
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, size_t) {
      if (!ec && self->drain_) {
        self->Drain();
        return;
      }
      if (ec || !self->keep_alive_) {
        self->Close();
        return;
      }
      self->Read();
    });
  }

  void Drain() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(5));
    drain_buffer_.resize(16 * 1024);
    stream_.async_read_some(asio::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (64u << 20)) {
        self->Close();
        return;
      }
      self->Drain();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<FrontImpl> front_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
  bool drain_ = false;
  std::vector<char> drain_buffer_;
  size_t drained_ = 0;
};

}  // namespace

void FrontImpl::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(s), self)->Read();
    }
    self->Accept();
  });
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
