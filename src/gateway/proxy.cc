#include "gateway/proxy.h"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "gateway/internal/http_head.h"
#include "gateway/internal/http_rules.h"
#include "gateway/internal/tls_server.h"
#include "gateway/internal/tls_stream.h"
#include "net/http.h"
#include "net/server.h"

namespace autoseal::gateway {
namespace internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// Everything runs on io_context executors; naming the concrete type (not any_io_executor) keeps
// the type-erased executor copies off the per-operation path.
using Executor = asio::io_context::executor_type;
template <class T>
using Task = asio::awaitable<T, Executor>;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable_t<Executor>{});

// First read of an idle connection; the parser asks for more when a request is larger.
constexpr size_t kIdleReadBytes = 4096;
// Body bytes relayed per read/write step; a few of these per busy connection bound its memory
// whatever the size of the body (a 1 GB transfer uses the same buffers as a 1 kB one).
constexpr size_t kRelayBytes = 32 * 1024;
// An origin's response header section.
constexpr uint32_t kMaxOriginHeaderBytes = 64 * 1024;
// A worker's scratch for a waking connection's first read: a TLS record's plaintext at most.
// A request the fast path serves never leaves it, so an idle connection owns no read buffer.
constexpr size_t kReadScratchBytes = 16 * 1024;
// How often each I/O thread looks for expired deadlines.
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
// While the gateway waits on the origin, the client's deadline is the origin's plus this: the
// origin's deadline fires first and the client still gets its 504 (the sweep must not cut the
// client at header_timeout or client_io_timeout while the origin has time left).
constexpr auto kOriginMargin = std::chrono::seconds(5);
// A TLS record header: type (1), legacy version (2), length (2) (RFC 8446 §5.1).
constexpr size_t kRecordHeaderBytes = 5;

// Deadlines need no better than a few milliseconds: CLOCK_MONOTONIC_COARSE (the same clock as
// steady_clock, read without a hardware timer access) keeps them off the per-request profile.
SteadyClock::time_point CoarseNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return SteadyClock::time_point(std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

std::string AddressString(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

std::string EndpointString(const tcp::endpoint& endpoint) {
  return net::FormatHostPort(AddressString(endpoint), endpoint.port());
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return net::EqualsIgnoreCase(a, b);
}

// Whether a field named in Connection (lower-case) may be removed. The message's framing and
// Host are never dropped on the peer's word: "Connection: content-length" would otherwise make
// the proxy forward a body without its length, and the origin read the rest as a new request.
bool MayDropAsConnectionOption(std::string_view name) {
  return name != "close" && name != "keep-alive" && name != "content-length" && name != "host" &&
         name != "transfer-encoding";
}

bool HasToken(const std::vector<std::string>& tokens, std::string_view token) {
  for (const auto& t : tokens) {
    if (t == token) return true;
  }
  return false;
}

// Appends to a fixed buffer; ok() turns false (and stays) when something did not fit.
class HeadWriter {
 public:
  HeadWriter(char* data, size_t capacity) : data_(data), capacity_(capacity) {}
  HeadWriter& operator<<(std::string_view s) {
    if (s.size() > capacity_ - size_) {
      ok_ = false;
    } else if (ok_) {
      std::memcpy(data_ + size_, s.data(), s.size());
      size_ += s.size();
    }
    return *this;
  }
  void Field(std::string_view name, std::string_view value) {
    *this << name << ": " << value << "\r\n";
  }
  bool ok() const { return ok_; }
  size_t size() const { return size_; }

 private:
  char* data_;
  size_t capacity_;
  size_t size_ = 0;
  bool ok_ = true;
};

// One proxied site with everything the request path needs precomputed.
struct Site {
  SiteConfig config;
  OriginUrl origin;
  std::string origin_key;  // pool key: "host:port"
  std::vector<tcp::endpoint> endpoints;
  std::string hsts;           // the header value, "" when off
  Counter* requests[6] = {};  // by status class: [1]..[5]; [0] for anything else
  Histogram* latency = nullptr;
};

// An immutable snapshot of the configured sites; ReplaceSites installs a new one.
struct SiteTable {
  std::vector<std::unique_ptr<Site>> sites;
  std::unordered_map<std::string, const Site*> exact;
  std::unordered_map<std::string, const Site*> wildcard;  // "*.example.com" under "example.com"
  const Site* default_site = nullptr;

  const Site* Find(std::string_view host) const {
    if (auto it = exact.find(std::string(host)); it != exact.end()) return it->second;
    size_t dot = host.find('.');
    if (dot != std::string_view::npos) {
      if (auto it = wildcard.find(std::string(host.substr(dot + 1))); it != wildcard.end()) {
        return it->second;
      }
    }
    return nullptr;
  }
};

// A keep-alive connection to an origin, with the bytes read past the last response.
struct Upstream {
  explicit Upstream(asio::io_context& io) : socket(io) {}
  Socket socket;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;
};

class Connection;

// One I/O thread: its event loop, its connections (for the deadline sweep), its origin
// connection pool and its spare relay buffers. Only its own thread touches these.
struct Worker {
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::thread thread;
  std::list<Connection*> connections;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Upstream>>> pool;
  std::vector<std::unique_ptr<char[]>> spare_buffers;
  std::unique_ptr<char[]> read_scratch = std::make_unique<char[]>(kReadScratchBytes);
  std::shared_ptr<const SiteTable> sites;
  uint64_t sites_generation = 0;
};

// A relay buffer borrowed from the worker for the duration of one transfer.
class RelayBuffer {
 public:
  explicit RelayBuffer(Worker& worker) : worker_(worker) {
    if (worker_.spare_buffers.empty()) {
      buffer_ = std::make_unique<char[]>(kRelayBytes);
    } else {
      buffer_ = std::move(worker_.spare_buffers.back());
      worker_.spare_buffers.pop_back();
    }
  }
  ~RelayBuffer() {
    if (worker_.spare_buffers.size() < 64) worker_.spare_buffers.push_back(std::move(buffer_));
  }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;
  char* data() { return buffer_.get(); }

 private:
  Worker& worker_;
  std::unique_ptr<char[]> buffer_;
};

// What the sweep sees of a client connection: a deadline for the client side, one for the
// current origin connection, and whether it waits idle for a request.
class Connection {
 public:
  Connection(Worker& worker, Socket& client) : worker_(worker), client_(client) {
    position_ = worker_.connections.insert(worker_.connections.end(), this);
  }
  ~Connection() { worker_.connections.erase(position_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Sweep(SteadyClock::time_point now) {
    bool client_expired = now >= client_deadline_;
    bool upstream_expired = upstream_ != nullptr && now >= upstream_deadline_;
    // A tunnel's two directions can each wait on the origin (a read, and a write the origin does
    // not take): an idle tunnel ends on both sides at once, whichever deadline passed.
    if (tunnel_ && (client_expired || upstream_expired)) {
      client_expired = true;
      upstream_expired = upstream_ != nullptr;
    }
    if (client_expired) CloseClient();
    if (upstream_expired) {
      upstream_timed_out_ = true;
      upstream_deadline_ = SteadyClock::time_point::max();
      beast::error_code ignored;
      upstream_->close(ignored);
    }
  }
  // Ends the client side without closing the descriptor: shutdown makes every later read see
  // the end and every write fail, cancel wakes the operations waiting on it. The descriptor is
  // closed only when the session ends, because a TLS session's SSL* keeps its number
  // (SSL_set_fd), and a coroutine still waiting on the origin would otherwise write TLS records
  // into, or read from, whatever connection the kernel gives that number next.
  void CloseClient() {
    client_closed_ = true;
    client_deadline_ = SteadyClock::time_point::max();
    beast::error_code ignored;
    client_.shutdown(Socket::shutdown_both, ignored);
    client_.cancel(ignored);
  }
  bool idle() const { return idle_; }
  // Whether the client side was ended (CloseClient) or its deadline has passed, the sweep not
  // having run yet.
  bool ClientEnded() const { return client_closed_ || CoarseNow() >= client_deadline_; }

 protected:
  void ClientDeadline(std::chrono::milliseconds timeout) {
    client_deadline_ = CoarseNow() + timeout;
  }
  void ClientDeadlineAt(SteadyClock::time_point t) { client_deadline_ = t; }
  void WatchUpstream(Socket* socket, std::chrono::milliseconds timeout) {
    upstream_ = socket;
    upstream_timed_out_ = false;
    upstream_deadline_ = CoarseNow() + timeout;
  }
  void UpstreamDeadline(std::chrono::milliseconds timeout) {
    upstream_deadline_ = CoarseNow() + timeout;
  }
  // Waiting on the watched origin connection for up to timeout: the client side is given the
  // same time plus kOriginMargin, so the origin's timeout (and its 504) comes first.
  void AwaitOrigin(std::chrono::milliseconds timeout) {
    upstream_deadline_ = CoarseNow() + timeout;
    client_deadline_ = upstream_deadline_ + kOriginMargin;
  }
  void UnwatchUpstream() {
    upstream_ = nullptr;
    upstream_deadline_ = SteadyClock::time_point::max();
  }

  Worker& worker_;
  Socket& client_;
  bool idle_ = false;
  bool upstream_timed_out_ = false;
  bool tunnel_ = false;  // an upgraded connection: both sides close together

 private:
  std::list<Connection*>::iterator position_;
  bool client_closed_ = false;
  SteadyClock::time_point client_deadline_ = SteadyClock::time_point::max();
  Socket* upstream_ = nullptr;
  SteadyClock::time_point upstream_deadline_ = SteadyClock::time_point::max();
};

// The first bytes of a connection on the HTTPS port, read before any TLS library sees them.
enum class FirstRecord { kTls, kTlcp, kOther };

// TLCP hook (GB/T 38636-2020): TLS and TLCP ClientHellos are both handshake records (type 22);
// TLCP writes record version 0x0101, TLS 0x0301..0x0303 (RFC 8446 §5.1: legacy_record_version).
// A TLCP stack takes over at this point with the socket and the bytes already read.
FirstRecord ClassifyFirstRecord(const unsigned char* p) {
  if (p[0] != 22) return FirstRecord::kOther;
  if (p[1] == 0x01 && p[2] == 0x01) return FirstRecord::kTlcp;
  if (p[1] == 0x03 && p[2] <= 0x04) return FirstRecord::kTls;
  return FirstRecord::kOther;
}

}  // namespace

class GatewayImpl {
 public:
  GatewayImpl(GatewayOptions options, const CertificateSource* certificates,
              const ChallengeResponder* challenges, Metrics* metrics)
      : options_(std::move(options)),
        certificates_(certificates),
        challenges_(challenges),
        metrics_(metrics) {}
  ~GatewayImpl() { Stop(); }

  Status Init(std::vector<SiteConfig> sites);
  void Start();
  void Stop();
  Status ReplaceSites(std::vector<SiteConfig> sites);

  uint16_t HttpPort() const { return http_acceptor_ ? http_endpoint_.port() : 0; }
  uint16_t HttpsPort() const { return https_acceptor_ ? https_endpoint_.port() : 0; }
  uint16_t AdminPort() const { return admin_ ? admin_->Port() : 0; }
  std::string HttpAddress() const { return http_acceptor_ ? EndpointString(http_endpoint_) : ""; }
  std::string HttpsAddress() const {
    return https_acceptor_ ? EndpointString(https_endpoint_) : "";
  }
  std::string AdminAddress() const { return admin_ ? admin_->LocalAddress() : ""; }

  const GatewayOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  const ChallengeResponder* challenges() const { return challenges_; }
  TlsServer& tls() { return *tls_; }
  uint16_t redirect_port() const {
    return options_.redirect_https_port != 0 ? options_.redirect_https_port : HttpsPort();
  }

  // The worker's current site table (refreshed when ReplaceSites installed a new one). A request
  // keeps the returned pointer as long as it uses a Site from the table: after a reload the
  // worker's own reference goes with the next request that asks, while this one may still be
  // waiting on its origin.
  std::shared_ptr<const SiteTable> Sites(Worker& worker) {
    uint64_t generation = sites_generation_.load(std::memory_order_acquire);
    if (worker.sites_generation != generation) {
      std::lock_guard<std::mutex> lock(sites_mu_);
      worker.sites = sites_;
      worker.sites_generation = sites_generation_.load(std::memory_order_relaxed);
    }
    return worker.sites;
  }

  // Metrics (no-ops without a registry).
  void CountUpstreamError(std::string_view kind);
  Gauge* open_connections() { return open_connections_; }
  Counter* handshake_failures() { return handshake_failures_; }

  // Counts one open client connection from accept until its session ends.
  class ConnectionSlot {
   public:
    explicit ConnectionSlot(GatewayImpl* impl) : impl_(impl) {
      ++impl_->active_connections_;
      if (impl_->open_connections_) impl_->open_connections_->Add(1);
    }
    ConnectionSlot(ConnectionSlot&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
      if (impl_ == nullptr) return;
      if (impl_->open_connections_) impl_->open_connections_->Add(-1);
      if (--impl_->active_connections_ == 0 && impl_->stopping()) {
        { std::lock_guard<std::mutex> lock(impl_->drain_mu_); }
        impl_->drain_cv_.notify_all();
      }
    }

   private:
    GatewayImpl* impl_;
  };

 private:
  Result<std::shared_ptr<const SiteTable>> BuildSites(std::vector<SiteConfig> sites);
  Result<std::unique_ptr<Acceptor>> Bind(const std::string& address, tcp::endpoint& bound);
  Task<void> AcceptLoop(Acceptor& acceptor, bool tls);
  Task<void> SweepLoop(Worker& worker);
  void RunWorker(Worker& worker);

  const GatewayOptions options_;
  const CertificateSource* certificates_;
  const ChallengeResponder* challenges_;
  Metrics* metrics_;

  std::unique_ptr<TlsServer> tls_;

  std::mutex sites_mu_;
  std::shared_ptr<const SiteTable> sites_;
  std::atomic<uint64_t> sites_generation_{1};

  std::vector<std::unique_ptr<Worker>> workers_;
  size_t next_worker_ = 0;  // only touched by the accepting thread
  std::unique_ptr<Acceptor> http_acceptor_;
  std::unique_ptr<Acceptor> https_acceptor_;
  tcp::endpoint http_endpoint_;
  tcp::endpoint https_endpoint_;
  std::unique_ptr<net::HttpServer> admin_;

  std::atomic<bool> stopping_{false};
  std::atomic<size_t> active_connections_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
  std::mutex lifecycle_mu_;
  enum class State { kCreated, kRunning, kStopped } state_ = State::kCreated;

  Gauge* open_connections_ = nullptr;
  Counter* handshake_failures_ = nullptr;
  Counter* upstream_connect_errors_ = nullptr;
  Counter* upstream_timeouts_ = nullptr;
  Counter* upstream_resets_ = nullptr;
};

namespace {

using ConnectionSlot = GatewayImpl::ConnectionSlot;

constexpr std::string_view kBadGatewayPage =
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>502 Bad Gateway</h1><p>The web server behind this gateway did not answer.</p>"
    "</body></html>\n";
constexpr std::string_view kGatewayTimeoutPage =
    "<!DOCTYPE html>\n<html><head><title>504 Gateway Timeout</title></head>\n"
    "<body><h1>504 Gateway Timeout</h1><p>The web server behind this gateway did not answer in "
    "time.</p></body></html>\n";

// What one request came to, for the access log and metrics.
struct Outcome {
  int status = 0;
  uint64_t bytes = 0;  // response body bytes sent
  SteadyClock::duration upstream_time{};
  bool upstream = false;
};

// One client connection on either listener (Beast examples style: one session object, errors
// end only this session). Stream is Socket (HTTP) or TlsStream (HTTPS).
template <class Stream>
class Session final : public Connection {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, Socket>;

  Session(GatewayImpl& gateway, Worker& worker, Stream& stream, Socket& lowest,
          std::string remote_ip)
      : Connection(worker, lowest),
        gateway_(gateway),
        options_(gateway.options()),
        stream_(stream),
        remote_ip_(std::move(remote_ip)) {}

  // The TLS handshake's deadline, from now.
  void StartHandshakeDeadline() { ClientDeadline(options_.handshake_timeout); }
  // The site and server name the TLS handshake chose.
  void SetTlsIdentity(std::string site, std::string sni) {
    tls_site_ = std::move(site);
    sni_ = std::move(sni);
  }

  // Serves requests until nothing is left to read: true when the connection is to wait for its
  // next request (the owner waits for readability without a coroutine frame, calls Woken, then
  // Run again), false when the client, an error or a stop ends it.
  Task<bool> Run();
  void Woken() { woken_ = true; }
  Socket& lowest() { return client_; }

 private:
  using RequestParser = http::request_parser<http::buffer_body>;
  using ResponseParser = http::response_parser<http::buffer_body>;

  // The fast path for the common request: a GET or HEAD whose head arrived whole in bytes,
  // strictly well-formed (gateway/internal/http_head.h), with no body, expectation, upgrade or
  // Connection option beyond close and keep-alive, for this connection's site. Its head is
  // rewritten by the rules Proxy applies, with no per-field allocation, and sent in one write; a
  // response with a Content-Length (or none needed) comes back the same way, anything else
  // through ForwardResponse. kNotFast, with nothing sent or consumed, for every other request:
  // the general path then parses the same bytes. bytes need only last until the first
  // suspension (everything taken from them is copied by then).
  enum class FastResult { kNotFast, kKeepAlive, kClose };
  Task<FastResult> FastProxy(std::string_view bytes);
  // The fast path's steps that need the parsed heads, kept out of the coroutine so that its frame
  // (allocated per request) stays small.
  struct FastRequest {
    std::shared_ptr<const Site> site;  // shares ownership of its site table (see Sites)
    std::string host;
    size_t size = 0;  // the origin's request head, written to out
    bool head = false;
    bool keep_alive = true;
    std::string method, target;  // for the access log only
  };
  bool PrepareFastRequest(std::string_view bytes, char* out, size_t capacity, FastRequest& fast);
  struct FastResponse {
    unsigned status = 0;
    size_t origin_size = 0;  // the origin's head
    size_t size = 0;         // the client's head, written to out
    size_t length = 0;       // Content-Length
    bool no_body = false;
    bool origin_keep_alive = true;
  };
  // kComplete when the origin's head in bytes is one the fast path writes on (the client's head
  // is then in out), kIncomplete while it is not all there, kUnsupported for the general path.
  HeadParse PrepareFastResponse(std::string_view bytes, const FastRequest& request,
                                bool keep_client, char* out, size_t capacity,
                                FastResponse& fast);
  // Writes what the client socket takes now, without the reactor; would_block when nothing.
  beast::error_code WriteNow(const char* data, size_t size, size_t& n);
  beast::error_code ReadNow(char* data, size_t size, size_t& n);

  // Handles one request whose header is in parser; returns whether to read another.
  Task<bool> Handle(RequestParser& parser);
  Task<bool> Proxy(RequestParser& parser, const Site& site, const std::string& host,
                   Outcome& outcome);
  Task<bool> AnswerPlainHttp(RequestParser& parser, const std::string& host, Outcome& outcome);
  // Sends a short response; closes afterwards unless keep_alive. Returns keep_alive && sent.
  // For a HEAD request (head_request) the body is left out and its Content-Length kept (RFC 9110
  // §9.3.2).
  Task<bool> Respond(int status, std::string_view content_type, std::string_view body,
                     bool keep_alive, unsigned version, bool head_request,
                     std::string_view location = {});
  Task<void> Tunnel(Upstream& upstream);

  // A pooled connection to site's origin that is still usable, or nullptr.
  std::unique_ptr<Upstream> TakeIdleOrigin(const Site& site);
  // Returns upstream, whose last response has been read whole, to the pool for site's origin
  // when it can carry another request; otherwise it is closed.
  void PoolOrigin(std::unique_ptr<Upstream> upstream, const Site& site);
  // Connects upstream to site's origin under the connect timeout: 0, or the status to answer
  // (502 refused, 504 timed out; counted).
  Task<int> ConnectOrigin(Upstream& upstream, const Site& site);
  // Reads the origin's response header into response (interim 1xx responses other than 101 are
  // skipped; interim tells whether one came). HEAD responses have no body.
  Task<beast::error_code> ReadResponseHeader(Upstream& upstream,
                                             std::optional<ResponseParser>& response, bool head,
                                             bool& interim);
  // What the response side needs to know of the request.
  struct ResponseContext {
    const Site* site;
    unsigned client_version;
    bool head;         // a HEAD request: no body whatever the header says
    bool keep_client;  // the client asked to keep the connection and its request is all read
    std::string_view upgrade;  // the Upgrade the client asked for, "" for none
  };
  // Forwards the response whose header is in response to the client (the general path: any
  // framing, 101 upgrades), returns upstream to the pool when it can carry another request.
  // Returns whether the client connection stays open.
  Task<bool> ForwardResponse(ResponseParser& response, std::unique_ptr<Upstream> upstream,
                             const ResponseContext& context, RelayBuffer& relay, Outcome& outcome);

  void Record(const http::request_header<>& request, const std::string& host, const Site* site,
              const Outcome& outcome, SteadyClock::time_point start) {
    Record(std::string_view(request.method_string().data(), request.method_string().size()),
           std::string_view(request.target().data(), request.target().size()), host, site,
           outcome, start);
  }
  void Record(std::string_view method, std::string_view target, const std::string& host,
              const Site* site, const Outcome& outcome, SteadyClock::time_point start);

  GatewayImpl& gateway_;
  const GatewayOptions& options_;
  Stream& stream_;
  std::string remote_ip_;
  std::string tls_site_;  // the site chosen by SNI (HTTPS)
  std::string sni_;
  beast::flat_buffer buffer_;  // client bytes read ahead of the parser
  bool first_ = true;          // no request yet: the header timeout applies to the wait
  bool woken_ = false;         // the socket became readable since Run last returned true
};

int StatusForReadError(const beast::error_code& ec) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) return 431;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return -1;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return -1;  // socket errors, TLS errors, our own close on timeout or stop
}

template <class Stream>
Task<bool> Session<Stream>::Run() {
  for (;;) {
    if (buffer_.size() == 0) {
      if (!woken_) {
        if (gateway_.stopping()) co_return false;
        // An idle connection keeps no read buffer (the next request allocates one).
        buffer_.shrink_to_fit();
        idle_ = true;
        ClientDeadline(first_ ? options_.header_timeout : options_.idle_timeout);
        co_return true;
      }
      woken_ = false;
      // A wake-up for bytes OpenSSL already held is posted without the socket (AwaitRequest):
      // the sweep or Stop may have ended this connection since, and it serves nothing more.
      if (gateway_.stopping() || ClientEnded()) co_return false;
      // Read what is there into the worker's scratch; most requests are served from it by the
      // fast path, and only the general path's requests are copied into buffer_.
      char* scratch = worker_.read_scratch.get();
      size_t got = 0;
      beast::error_code read_ec = ReadNow(scratch, kReadScratchBytes, got);
      idle_ = false;
      if (read_ec == asio::error::would_block) {
        auto [ec, n] =
            co_await stream_.async_read_some(buffer_.prepare(kIdleReadBytes), kUseTuple);
        if (ec) co_return false;
        buffer_.commit(n);
      } else if (read_ec) {
        co_return false;
      } else {
        first_ = false;
        FastResult fast = co_await FastProxy(std::string_view(scratch, got));
        if (fast == FastResult::kKeepAlive) continue;
        if (fast == FastResult::kClose) co_return false;
        auto space = buffer_.prepare(got);
        std::memcpy(space.data(), scratch, got);
        buffer_.commit(got);
      }
    }
    first_ = false;
    ClientDeadline(options_.header_timeout);
    RequestParser parser;
    parser.header_limit(static_cast<uint32_t>(
        std::min<size_t>(options_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser.body_limit(boost::none);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kUseTuple);
    if (ec) {
      int status = StatusForReadError(ec);
      if (status > 0) {
        Outcome outcome;
        outcome.status = status;
        co_await Respond(status, "text/plain; charset=utf-8",
                         status == 431 ? "Request Header Fields Too Large\n" : "Bad Request\n",
                         false, 11, false);
      }
      co_return false;
    }
    if (!co_await Handle(parser)) co_return false;
  }
}

template <class Stream>
beast::error_code Session<Stream>::ReadNow(char* data, size_t size, size_t& n) {
  if constexpr (kTls) {
    return stream_.TryRead(data, size, n);
  } else {
    beast::error_code ec;
    n = stream_.read_some(asio::buffer(data, size), ec);
    return ec;
  }
}

template <class Stream>
beast::error_code Session<Stream>::WriteNow(const char* data, size_t size, size_t& n) {
  if constexpr (kTls) {
    return stream_.TryWrite(data, size, n);
  } else {
    beast::error_code ec;
    n = stream_.write_some(asio::buffer(data, size), ec);
    return ec;
  }
}

template <class Stream>
bool Session<Stream>::PrepareFastRequest(std::string_view bytes, char* out, size_t capacity,
                                         FastRequest& fast) {
  RequestHead request;
  if (ParseRequestHead(bytes, options_.max_header_bytes, request) != HeadParse::kComplete ||
      request.size != bytes.size() || request.version != 11 ||
      (request.method != "GET" && request.method != "HEAD") || request.target.front() != '/') {
    return false;
  }
  // One pass over the fields. Framing, expectations, upgrades, the fields Beast validates as
  // lists, and repeated Host or forwarding fields are the general path's.
  const HeadField* host_field = nullptr;
  const HeadField* forwarded_for = nullptr;
  const HeadField* forwarded = nullptr;
  bool close = false;
  for (const HeadField& field : request.fields) {
    const std::string_view name = field.name;
    const HeadField** single = nullptr;
    if (EqualsIgnoreCase(name, "host")) {
      single = &host_field;
    } else if (EqualsIgnoreCase(name, "x-forwarded-for")) {
      single = &forwarded_for;
    } else if (EqualsIgnoreCase(name, "forwarded")) {
      single = &forwarded;
    } else if (EqualsIgnoreCase(name, "connection")) {
      bool has_close = false;
      if (!ListHasOnly(field.value, {"close", "keep-alive"}, &has_close)) return false;
      close = close || has_close;
    } else if (EqualsIgnoreCase(name, "content-length") ||
               EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "expect") ||
               EqualsIgnoreCase(name, "upgrade") || EqualsIgnoreCase(name, "proxy-connection")) {
      return false;
    }
    if (single != nullptr) {
      if (*single != nullptr) return false;
      *single = &field;
    }
  }
  if (host_field == nullptr) return false;
  std::optional<std::string> host = NormalizeHost(host_field->value);
  if (!host || host->empty()) return false;
  if constexpr (!kTls) {
    if (options_.redirect_http || AcmeChallengeToken(request.target)) return false;
  }
  std::shared_ptr<const SiteTable> table = gateway_.Sites(worker_);
  const Site* site = table->Find(*host);
  if (site == nullptr || (kTls && site->config.name != tls_site_)) return false;

  // The origin's request head, by Proxy's rules: hop-by-hop fields dropped (RFC 9110 §7.6.1),
  // HTTP/1.1, Host replaced unless preserved, X-Forwarded-For appended to, X-Forwarded-Proto
  // replaced, one Forwarded element added (RFC 7239 §4), the base path prefixed.
  const std::string_view proto = kTls ? "https" : "http";
  HeadWriter head(out, capacity);
  head << request.method << " " << site->origin.base_path << request.target << " HTTP/1.1\r\n";
  for (const HeadField& field : request.fields) {
    if (&field == forwarded_for || &field == forwarded) continue;  // written below
    if (&field == host_field && !site->config.preserve_host) continue;
    if (IsHopByHop(field.name) || EqualsIgnoreCase(field.name, "x-forwarded-proto")) continue;
    head.Field(field.name, field.value);
  }
  if (!site->config.preserve_host) head.Field("Host", site->origin.authority);
  head << "X-Forwarded-For: ";
  if (forwarded_for != nullptr) head << forwarded_for->value << ", ";
  head << remote_ip_ << "\r\n";
  head.Field("X-Forwarded-Proto", proto);
  head << "Forwarded: ";
  if (forwarded != nullptr) head << forwarded->value << ", ";
  head << "for=" << ForwardedNode(remote_ip_) << ";host=" << ForwardedValue(*host)
       << ";proto=" << proto << "\r\n\r\n";
  if (!head.ok()) return false;
  fast.site = std::shared_ptr<const Site>(std::move(table), site);
  fast.host = std::move(*host);
  fast.size = head.size();
  fast.head = request.method == "HEAD";
  fast.keep_alive = !close;
  if (options_.access_log) {
    fast.method = request.method;
    fast.target = site->origin.base_path;  // the path the origin saw, as the general path logs it
    fast.target += request.target;
  }
  return true;
}

template <class Stream>
HeadParse Session<Stream>::PrepareFastResponse(std::string_view bytes, const FastRequest& request,
                                               bool keep_client, char* out, size_t capacity,
                                               FastResponse& fast) {
  ResponseHead response;
  HeadParse parsed = ParseResponseHead(bytes, kMaxOriginHeaderBytes, response);
  if (parsed != HeadParse::kComplete) return parsed;
  // The fast response: HTTP/1.1, final, framed by one Content-Length or by having no body
  // (RFC 9112 §6.3 rules 1-2), Connection with close/keep-alive only.
  if (response.version != 11 || response.status < 200) return HeadParse::kUnsupported;
  const HeadField* content_length = nullptr;
  fast.origin_keep_alive = true;
  for (const HeadField& field : response.fields) {
    if (EqualsIgnoreCase(field.name, "content-length")) {
      if (content_length != nullptr) return HeadParse::kUnsupported;
      content_length = &field;
    } else if (EqualsIgnoreCase(field.name, "transfer-encoding")) {
      return HeadParse::kUnsupported;
    } else if (EqualsIgnoreCase(field.name, "connection")) {
      bool has_close = false;
      if (!ListHasOnly(field.value, {"close", "keep-alive"}, &has_close)) {
        return HeadParse::kUnsupported;
      }
      fast.origin_keep_alive = fast.origin_keep_alive && !has_close;
    }
  }
  fast.no_body = request.head || response.status == 204 || response.status == 304;
  fast.length = 0;
  if (content_length != nullptr) {
    if (!ParseContentLength(content_length->value, fast.length)) return HeadParse::kUnsupported;
  } else if (!fast.no_body) {
    return HeadParse::kUnsupported;
  }
  const char code[4] = {static_cast<char>('0' + response.status / 100),
                        static_cast<char>('0' + response.status / 10 % 10),
                        static_cast<char>('0' + response.status % 10), 0};
  HeadWriter head(out, capacity);
  head << "HTTP/1.1 " << code << " "
       << (response.reason.empty() ? net::ReasonPhrase(static_cast<int>(response.status))
                                   : response.reason)
       << "\r\n";
  const Site& site = *request.site;
  const bool hsts = kTls && !site.hsts.empty();
  for (const HeadField& field : response.fields) {
    if (IsHopByHop(field.name)) continue;
    if (hsts && EqualsIgnoreCase(field.name, "strict-transport-security")) continue;
    head.Field(field.name, field.value);
  }
  if (hsts) head.Field("Strict-Transport-Security", site.hsts);
  if (!keep_client) head << "Connection: close\r\n";
  head << "\r\n";
  if (!head.ok()) return HeadParse::kUnsupported;
  fast.status = response.status;
  fast.origin_size = response.size;
  fast.size = head.size();
  return HeadParse::kComplete;
}

template <class Stream>
Task<typename Session<Stream>::FastResult> Session<Stream>::FastProxy(std::string_view bytes) {
  // bytes are the worker's scratch: PrepareFastRequest copies what is needed before any
  // co_await.
  const SteadyClock::time_point start = SteadyClock::now();
  RelayBuffer relay(worker_);
  FastRequest request;
  if (!PrepareFastRequest(bytes, relay.data(), kRelayBytes, request)) {
    co_return FastResult::kNotFast;
  }
  // From here on the request is this path's.
  const Site* site = request.site.get();
  Outcome outcome;
  outcome.upstream = true;
  auto finish = [&](bool keep) {
    Record(request.method, request.target, request.host, site, outcome, start);
    return keep ? FastResult::kKeepAlive : FastResult::kClose;
  };
  auto fail = [&](int status) -> Task<FastResult> {
    UnwatchUpstream();
    outcome.status = status;
    outcome.upstream_time = SteadyClock::now() - start;
    std::string_view page = status == 504 ? kGatewayTimeoutPage : kBadGatewayPage;
    bool more = co_await Respond(status, "text/html; charset=utf-8", page, request.keep_alive, 11,
                                 request.head);
    co_return finish(more);
  };

  // As in Proxy: a pooled connection found closed before any of the response came is replaced
  // once by a fresh one (GET and HEAD are idempotent, RFC 9110 §9.2.2).
  const bool keep_client = request.keep_alive && !gateway_.stopping();
  std::unique_ptr<Upstream> upstream;
  FastResponse response;
  HeadParse parsed = HeadParse::kIncomplete;
  for (int attempt = 0;; ++attempt) {
    upstream = TakeIdleOrigin(*site);
    const bool reused = upstream != nullptr;
    if (!reused) {
      upstream = std::make_unique<Upstream>(*worker_.io);
      if (int status = co_await ConnectOrigin(*upstream, *site); status != 0) {
        co_return co_await fail(status);
      }
    }
    WatchUpstream(&upstream->socket, options_.origin_read_timeout);
    AwaitOrigin(options_.origin_read_timeout);
    beast::error_code ec;
    size_t sent = upstream->socket.write_some(asio::buffer(relay.data(), request.size), ec);
    if (ec == asio::error::would_block) ec = {};
    if (!ec && sent < request.size) {
      auto [write_ec, n] = co_await asio::async_write(
          upstream->socket, asio::buffer(relay.data() + sent, request.size - sent), kUseTuple);
      ec = write_ec;
    }
    if (ec) {
      if (reused && attempt == 0 && !upstream_timed_out_) continue;
      gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
      co_return co_await fail(upstream_timed_out_ ? 504 : 502);
    }
    for (;;) {
      auto data = upstream->buffer.data();
      if (data.size() > 0) {
        // The client's head is written over the request's, which has gone out.
        parsed = PrepareFastResponse(
            std::string_view(static_cast<const char*>(data.data()), data.size()), request,
            keep_client, relay.data(), kRelayBytes, response);
        if (parsed != HeadParse::kIncomplete) break;
      }
      auto [read_ec, n] =
          co_await upstream->socket.async_read_some(upstream->buffer.prepare(4096), kUseTuple);
      if (read_ec) {
        ec = read_ec;
        break;
      }
      upstream->buffer.commit(n);
    }
    if (ec) {
      bool closed_early = ec == asio::error::connection_reset || ec == asio::error::eof;
      if (reused && attempt == 0 && closed_early && upstream->buffer.size() == 0 &&
          !upstream_timed_out_) {
        continue;
      }
      gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
      co_return co_await fail(upstream_timed_out_ ? 504 : 502);
    }
    break;
  }
  outcome.upstream_time = SteadyClock::now() - start;

  if (parsed != HeadParse::kComplete) {
    // Chunked, close-delimited, interim, upgrade, HTTP/1.0 or unusual: the general path parses
    // the same bytes from the origin connection's buffer.
    std::optional<ResponseParser> parser;
    bool interim = false;
    beast::error_code ec = co_await ReadResponseHeader(*upstream, parser, request.head, interim);
    if (ec) {
      gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
      co_return co_await fail(upstream_timed_out_ ? 504 : 502);
    }
    ResponseContext context{site, 11, request.head, request.keep_alive, {}};
    bool more = co_await ForwardResponse(*parser, std::move(upstream), context, relay, outcome);
    co_return finish(more);
  }

  // The head and as much of the body as the origin sent with it go out in one write.
  outcome.status = static_cast<int>(response.status);
  size_t remaining = response.no_body ? 0 : response.length;
  upstream->buffer.consume(response.origin_size);
  size_t take = std::min({remaining, upstream->buffer.size(), kRelayBytes - response.size});
  std::memcpy(relay.data() + response.size, upstream->buffer.data().data(), take);
  upstream->buffer.consume(take);
  remaining -= take;
  outcome.bytes += take;
  size_t pending = response.size + take;
  for (;;) {
    // As in ForwardResponse, the client's write deadline stays while the origin is read next.
    ClientDeadline(options_.client_io_timeout);
    size_t written = 0;
    beast::error_code ec = WriteNow(relay.data(), pending, written);
    if (ec == asio::error::would_block) ec = {};
    if (!ec && written < pending) {
      auto [write_ec, n] = co_await asio::async_write(
          stream_, asio::buffer(relay.data() + written, pending - written), kUseTuple);
      ec = write_ec;
    }
    if (ec) {
      UnwatchUpstream();
      co_return finish(false);
    }
    if (remaining == 0) break;
    // The rest of the body, a relay buffer at a time.
    if (upstream->buffer.size() > 0) {
      pending = std::min({remaining, upstream->buffer.size(), kRelayBytes});
      std::memcpy(relay.data(), upstream->buffer.data().data(), pending);
      upstream->buffer.consume(pending);
    } else {
      UpstreamDeadline(options_.origin_read_timeout);
      auto [read_ec, n] = co_await upstream->socket.async_read_some(
          asio::buffer(relay.data(), std::min(remaining, kRelayBytes)), kUseTuple);
      if (read_ec) {
        // Too late for a 502: the header is out. Close, so the client sees a short body.
        gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
        UnwatchUpstream();
        co_return finish(false);
      }
      pending = n;
    }
    remaining -= pending;
    outcome.bytes += pending;
  }
  UnwatchUpstream();
  if (response.origin_keep_alive) PoolOrigin(std::move(upstream), *site);
  co_return finish(keep_client);
}

template <class Stream>
Task<bool> Session<Stream>::Respond(int status, std::string_view content_type,
                                    std::string_view body, bool keep_alive, unsigned version,
                                    bool head_request, std::string_view location) {
  if (gateway_.stopping()) keep_alive = false;
  std::string head = "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += net::ReasonPhrase(status);
  head += "\r\nDate: ";
  head += net::HttpDateNow();
  head += "\r\nContent-Type: ";
  head += content_type;
  head += "\r\nContent-Length: ";
  head += std::to_string(body.size());
  if (!location.empty()) {
    head += "\r\nLocation: ";
    head += location;
  }
  if (!keep_alive) {
    head += "\r\nConnection: close";
  } else if (version == 10) {
    head += "\r\nConnection: keep-alive";
  }
  head += "\r\n\r\n";
  ClientDeadline(options_.client_io_timeout);
  // RFC 9110 §9.3.2: the response to HEAD has no content; a body sent anyway would be read by
  // the client as the start of the next response on this connection.
  std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(head), asio::buffer(head_request ? std::string_view() : body)};
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kUseTuple);
  co_return !ec && keep_alive;
}

template <class Stream>
Task<bool> Session<Stream>::Handle(RequestParser& parser) {
  const SteadyClock::time_point start = SteadyClock::now();
  auto& request = parser.get();
  Outcome outcome;
  const bool keep_alive = parser.keep_alive();
  const unsigned version = request.version();
  const bool head = request.method() == http::verb::head;
  // A request whose body we do not read leaves the connection unusable.
  const bool body_pending = !parser.is_done();
  auto refuse = [&](int status, std::string_view text) -> Task<bool> {
    outcome.status = status;
    co_return co_await Respond(status, "text/plain; charset=utf-8", text,
                               keep_alive && !body_pending, version, head);
  };

  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host or with several.
  size_t hosts = request.count(http::field::host);
  std::optional<std::string> host;
  if (hosts == 1) host = NormalizeHost(request[http::field::host]);
  if (hosts > 1 || (hosts == 1 && !host) || (hosts == 0 && version >= 11)) {
    bool more = co_await refuse(400, "Bad Request: Host\n");
    Record(request, host.value_or(""), nullptr, outcome, start);
    co_return more;
  }
  if (version < 10 || version >= 20) {
    co_await refuse(505, "HTTP Version Not Supported\n");
    co_return false;
  }
  // RFC 9112 §3.2: the request-target's form. The gateway is no forward proxy: CONNECT
  // (authority-form) gets 405. An absolute-form target becomes origin-form, and its authority
  // replaces Host (RFC 9112 §3.2.2), so the site, the 421 check and the origin all see one name.
  // The asterisk-form is for OPTIONS only; anything else that is not origin-form gets 400.
  if (request.method() == http::verb::connect) {
    bool more = co_await refuse(405, "Method Not Allowed\n");
    Record(request, host.value_or(""), nullptr, outcome, start);
    co_return more;
  }
  if (std::string_view target(request.target().data(), request.target().size());
      target.empty() || target.front() != '/') {
    std::optional<AbsoluteTarget> absolute = ParseAbsoluteTarget(target);
    if (absolute) host = NormalizeHost(absolute->authority);
    bool asterisk = target == "*" && request.method() == http::verb::options;
    if (!asterisk && (!absolute || !host)) {
      bool more = co_await refuse(400, "Bad Request: request-target\n");
      Record(request, host.value_or(""), nullptr, outcome, start);
      co_return more;
    }
    if (absolute) {
      request.target(absolute->origin_form);
      request.set(http::field::host, absolute->authority);
    }
  }
  // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked has no reliable
  // length: 400 and close (anything else would let the bytes after it pass as a request).
  if (request.count(http::field::transfer_encoding) > 0 && !parser.chunked()) {
    outcome.status = 400;
    co_await Respond(400, "text/plain; charset=utf-8", "Bad Request: Transfer-Encoding\n", false,
                     version, head);
    Record(request, host.value_or(""), nullptr, outcome, start);
    co_return false;
  }
  // RFC 9112 §6.1: a transfer coding before chunked would have to be passed on to the origin,
  // but Transfer-Encoding is re-framed hop by hop: 501 (not understood) and close.
  if (parser.chunked()) {
    for (auto it = request.find(http::field::transfer_encoding);
         it != request.end() && it->name() == http::field::transfer_encoding; ++it) {
      std::string_view value(it->value().data(), it->value().size());
      bool only_chunked = true;
      for (size_t pos = 0; pos <= value.size();) {
        size_t comma = std::min(value.find(',', pos), value.size());
        std::string_view coding = value.substr(pos, comma - pos);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
          coding.remove_prefix(1);
        }
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
          coding.remove_suffix(1);
        }
        if (!coding.empty() && !EqualsIgnoreCase(coding, "chunked")) only_chunked = false;
        pos = comma + 1;
      }
      if (!only_chunked) {
        outcome.status = 501;
        co_await Respond(501, "text/plain; charset=utf-8", "Not Implemented: Transfer-Encoding\n",
                         false, version, head);
        Record(request, host.value_or(""), nullptr, outcome, start);
        co_return false;
      }
    }
  }
  // RFC 9112 §6.3 rule 5: repeated identical Content-Length values (several fields, or a list)
  // were accepted by the parser as one length; the origin gets that one value once.
  if (auto length = parser.content_length(); length) {
    auto it = request.find(http::field::content_length);
    if (request.count(http::field::content_length) > 1 ||
        (it != request.end() && it->value().find(',') != std::string_view::npos)) {
      request.set(http::field::content_length, std::to_string(*length));
    }
  }
  if (!host) host = sni_;  // HTTP/1.0 without Host: the TLS server name, if any
  // Held until the request ends: site below points into it across the waits on the origin.
  const std::shared_ptr<const SiteTable> table = gateway_.Sites(worker_);

  if constexpr (!kTls) {
    // RFC 8555 §8.3: http-01 is answered on port 80, before any redirect.
    if (auto token = AcmeChallengeToken(request.target());
        token && (request.method() == http::verb::get || request.method() == http::verb::head)) {
      std::optional<std::string> answer = gateway_.challenges()->Http01(*host, *token);
      outcome.status = answer ? 200 : 404;
      bool more = co_await Respond(outcome.status, "application/octet-stream",
                                   answer ? std::string_view(*answer) : "not found\n",
                                   keep_alive && !body_pending, version, head);
      Record(request, *host, nullptr, outcome, start);
      co_return more;
    }
    if (options_.redirect_http) {
      bool more = co_await AnswerPlainHttp(parser, *host, outcome);
      Record(request, *host, table->Find(*host), outcome, start);
      co_return more;
    }
  }

  const Site* site = host->empty() ? nullptr : table->Find(*host);
  if (kTls && site != nullptr && site->config.name != tls_site_) site = nullptr;
  if (site == nullptr) {
    // RFC 9110 §15.5.20: 421 for a request this connection cannot serve (another site's name
    // than the one its TLS handshake was for, or no site at all).
    bool more = co_await refuse(421, "Misdirected Request\n");
    Record(request, *host, nullptr, outcome, start);
    co_return more;
  }
  bool more = co_await Proxy(parser, *site, *host, outcome);
  Record(request, *host, site, outcome, start);
  co_return more;
}

template <class Stream>
Task<bool> Session<Stream>::AnswerPlainHttp(RequestParser& parser, const std::string& host,
                                            Outcome& outcome) {
  auto& request = parser.get();
  bool keep_alive = parser.keep_alive() && parser.is_done();
  const bool head = request.method() == http::verb::head;
  if (gateway_.Sites(worker_)->Find(host) == nullptr) {
    outcome.status = 404;
    co_return co_await Respond(404, "text/plain; charset=utf-8", "No site here\n", keep_alive,
                               request.version(), head);
  }
  // RFC 9110 §15.4.2/§15.4.9: 301 for GET and HEAD; 308 keeps the method and body of others.
  bool safe = request.method() == http::verb::get || head;
  outcome.status = safe ? 301 : 308;
  std::string location =
      RedirectLocation(host, gateway_.redirect_port(),
                       std::string_view(request.target().data(), request.target().size()));
  co_return co_await Respond(outcome.status, "text/plain; charset=utf-8", "Moved to HTTPS\n",
                             keep_alive, request.version(), head, location);
}

template <class Stream>
Task<bool> Session<Stream>::Proxy(RequestParser& parser, const Site& site, const std::string& host,
                                  Outcome& outcome) {
  auto& request = parser.get();
  const unsigned client_version = request.version();
  const bool head = request.method() == http::verb::head;
  bool client_keep_alive = parser.keep_alive();

  // RFC 9110 §10.1.1: the gateway answers 100-continue itself once the origin connection is up
  // and the request header is on its way, so a client never waits on an origin that ignores it.
  bool expect_continue = false;
  if (auto expect = request.find(http::field::expect); expect != request.end()) {
    if (!EqualsIgnoreCase(expect->value(), "100-continue")) {
      outcome.status = 417;
      co_return co_await Respond(417, "text/plain; charset=utf-8", "Expectation Failed\n", false,
                                 client_version, head);
    }
    expect_continue = client_version >= 11;
  }

  // RFC 9110 §7.6.1: remove Connection, the fields it names, and the other hop-by-hop fields.
  std::vector<std::string> options;
  for (auto it = request.find(http::field::connection);
       it != request.end() && it->name() == http::field::connection; ++it) {
    AppendConnectionOptions(it->value(), options);
  }
  std::string upgrade;
  if (HasToken(options, "upgrade")) {
    // RFC 9110 §7.8: Upgrade is only meaningful together with "Connection: upgrade".
    if (auto it = request.find(http::field::upgrade); it != request.end()) {
      upgrade = std::string(it->value());
    }
  }
  for (const std::string& name : options) {
    if (MayDropAsConnectionOption(name)) request.erase(name);
  }
  for (auto it = request.begin(); it != request.end();) {
    std::string_view name(it->name_string().data(), it->name_string().size());
    if (IsHopByHop(name) || it->name() == http::field::expect) {
      it = request.erase(it);
    } else {
      ++it;
    }
  }
  if (parser.chunked()) request.chunked(true);
  if (!upgrade.empty()) {
    request.set(http::field::connection, "upgrade");
    request.set(http::field::upgrade, upgrade);
  }
  request.version(11);
  if (!site.config.preserve_host) request.set(http::field::host, site.origin.authority);
  // X-Forwarded-For is appended to (a list from earlier proxies), X-Forwarded-Proto replaced;
  // RFC 7239 §4: Forwarded gains one element for this hop.
  if (auto it = request.find("X-Forwarded-For"); it != request.end()) {
    std::string value(it->value());
    value += ", ";
    value += remote_ip_;
    request.set("X-Forwarded-For", value);
  } else {
    request.set("X-Forwarded-For", remote_ip_);
  }
  const char* proto = kTls ? "https" : "http";
  request.set("X-Forwarded-Proto", proto);
  {
    std::string element =
        "for=" + ForwardedNode(remote_ip_) + ";host=" + ForwardedValue(host) + ";proto=" + proto;
    if (auto it = request.find(http::field::forwarded); it != request.end()) {
      std::string value(it->value());
      value += ", ";
      value += element;
      request.set(http::field::forwarded, value);
    } else {
      request.set(http::field::forwarded, element);
    }
  }
  if (!site.origin.base_path.empty() && request.target() != "*") {
    std::string target = site.origin.base_path;
    target.append(request.target().data(), request.target().size());
    request.target(target);
  }

  // Origin connection: a pooled one when the pool has a live one, else a new one. An idempotent
  // request (RFC 9110 §9.2.2) is retried once on a fresh connection when a pooled one turns out
  // closed before any of the response arrived: after a failed header write, or (without a body,
  // which is consumed by then) when the response header never began.
  const http::verb method = request.method();
  const bool idempotent = method == http::verb::get || method == http::verb::head ||
                          method == http::verb::options || method == http::verb::trace ||
                          method == http::verb::put || method == http::verb::delete_;
  Worker& worker = worker_;
  const bool has_body = !parser.is_done();
  const SteadyClock::time_point upstream_start = SteadyClock::now();
  outcome.upstream = true;
  std::unique_ptr<Upstream> upstream;
  std::optional<ResponseParser> response;
  RelayBuffer relay(worker);
  auto fail_with = [&](int status) -> Task<bool> {
    UnwatchUpstream();
    outcome.status = status;
    outcome.upstream_time = SteadyClock::now() - upstream_start;
    std::string_view page = status == 504 ? kGatewayTimeoutPage : kBadGatewayPage;
    co_return co_await Respond(status, "text/html; charset=utf-8", page,
                               client_keep_alive && parser.is_done(), client_version, head);
  };

  for (int attempt = 0;; ++attempt) {
    upstream.reset();
    response.reset();
    upstream = TakeIdleOrigin(site);
    const bool reused = upstream != nullptr;
    if (!reused) {
      upstream = std::make_unique<Upstream>(*worker.io);
      if (int status = co_await ConnectOrigin(*upstream, site); status != 0) {
        co_return co_await fail_with(status);
      }
    }
    WatchUpstream(&upstream->socket, options_.origin_read_timeout);
    AwaitOrigin(options_.origin_read_timeout);

    // The request header, then (for a body) the relay from client to origin.
    request.body().data = nullptr;
    request.body().size = 0;
    request.body().more = has_body;
    http::serializer<true, http::buffer_body> serializer(request);
    {
      beast::error_code ec;
      if (has_body) {
        auto [write_ec, n] =
            co_await http::async_write_header(upstream->socket, serializer, kUseTuple);
        ec = write_ec;
      } else {
        auto [write_ec, n] = co_await http::async_write(upstream->socket, serializer, kUseTuple);
        ec = write_ec;
      }
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (reused && attempt == 0 && idempotent && !upstream_timed_out_) continue;
        gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
        co_return co_await fail_with(upstream_timed_out_ ? 504 : 502);
      }
    }
    if (has_body) {
      if (expect_continue && buffer_.size() == 0) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        ClientDeadline(options_.client_io_timeout);
        auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(kContinue), kUseTuple);
        if (ec) co_return false;
      }
      // Beast's relay pattern (buffer_body): read a piece into the relay buffer, write it on.
      do {
        if (!parser.is_done()) {
          request.body().data = relay.data();
          request.body().size = kRelayBytes;
          ClientDeadline(options_.client_io_timeout);
          auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kUseTuple);
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {
            // The client went away or sent a broken body: nothing to answer.
            UnwatchUpstream();
            co_return false;
          }
          request.body().size = kRelayBytes - request.body().size;
          request.body().data = relay.data();
          request.body().more = !parser.is_done();
        } else {
          request.body().data = nullptr;
          request.body().size = 0;
          request.body().more = false;
        }
        AwaitOrigin(options_.origin_read_timeout);
        auto [ec, n] = co_await http::async_write(upstream->socket, serializer, kUseTuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
          co_return co_await fail_with(upstream_timed_out_ ? 504 : 502);
        }
      } while (!serializer.is_done());
    }

    // The response header. RFC 9110 §15.6.5: the client waits as long as the origin may take, so
    // a slow origin's 504 reaches it.
    AwaitOrigin(options_.origin_read_timeout);
    bool interim = false;  // a 1xx came: the origin has seen the request
    beast::error_code ec = co_await ReadResponseHeader(*upstream, response, head, interim);
    if (ec) {
      bool closed_early = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                          ec == asio::error::eof;
      // Only when nothing of a response came (RFC 9110 §9.2.2: a request that is not idempotent
      // is never re-sent on the gateway's own initiative, the origin may have acted on it).
      bool nothing_received = !interim && upstream->buffer.size() == 0;
      if (reused && attempt == 0 && !has_body && idempotent && closed_early && nothing_received &&
          !upstream_timed_out_) {
        continue;
      }
      gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
      co_return co_await fail_with(upstream_timed_out_ ? 504 : 502);
    }
    break;
  }
  outcome.upstream_time = SteadyClock::now() - upstream_start;
  ResponseContext context{&site, client_version, head, client_keep_alive && parser.is_done(),
                          upgrade};
  co_return co_await ForwardResponse(*response, std::move(upstream), context, relay, outcome);
}

template <class Stream>
Task<bool> Session<Stream>::ForwardResponse(ResponseParser& response,
                                            std::unique_ptr<Upstream> upstream,
                                            const ResponseContext& context, RelayBuffer& relay,
                                            Outcome& outcome) {
  auto& res = response.get();
  const unsigned status = res.result_int();
  outcome.status = static_cast<int>(status);
  if (status == 101 && context.upgrade.empty()) {
    gateway_.CountUpstreamError("protocol");
    UnwatchUpstream();
    outcome.status = 502;
    co_return co_await Respond(502, "text/html; charset=utf-8", kBadGatewayPage,
                               context.keep_client, context.client_version, context.head);
  }
  const bool upgraded = status == 101;
  bool origin_keep_alive = response.keep_alive();
  const bool res_chunked = response.chunked();
  const bool has_length = response.content_length().has_value();
  const bool no_body = context.head || status == 204 || status == 304 || upgraded || response.is_done();

  std::vector<std::string> res_options;
  for (auto it = res.find(http::field::connection);
       it != res.end() && it->name() == http::field::connection; ++it) {
    AppendConnectionOptions(it->value(), res_options);
  }
  std::string res_upgrade;
  if (upgraded) {
    if (auto it = res.find(http::field::upgrade); it != res.end()) res_upgrade = it->value();
  }
  for (const std::string& name : res_options) {
    if (MayDropAsConnectionOption(name)) res.erase(name);
  }
  for (auto it = res.begin(); it != res.end();) {
    std::string_view name(it->name_string().data(), it->name_string().size());
    if (IsHopByHop(name)) {
      it = res.erase(it);
    } else {
      ++it;
    }
  }
  bool keep_client = context.keep_client && !gateway_.stopping();
  if (!no_body) {
    if (res_chunked) {
      res.chunked(true);
    } else if (!has_length) {
      // A close-delimited body (RFC 9112 §6.3 rule 8): re-framed as chunked for HTTP/1.1
      // clients; an HTTP/1.0 client reads to the close. The origin connection ends with it.
      origin_keep_alive = false;
      if (context.client_version >= 11) {
        res.chunked(true);
      } else {
        keep_client = false;
      }
    }
  }
  const Site& site = *context.site;
  if (kTls && !site.hsts.empty()) res.set(http::field::strict_transport_security, site.hsts);
  res.version(11);
  if (upgraded) {
    res.set(http::field::connection, "upgrade");
    if (!res_upgrade.empty()) res.set(http::field::upgrade, res_upgrade);
  } else {
    res.keep_alive(keep_client);
    if (keep_client && context.client_version == 10) res.set(http::field::connection, "keep-alive");
  }

  http::serializer<false, http::buffer_body> serializer(res);
  if (no_body) {
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    ClientDeadline(options_.client_io_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, kUseTuple);
    if (ec) {
      UnwatchUpstream();
      co_return false;
    }
  } else {
    do {
      if (!response.is_done()) {
        res.body().data = relay.data();
        res.body().size = kRelayBytes;
        UpstreamDeadline(options_.origin_read_timeout);
        auto [ec, n] =
            co_await http::async_read(upstream->socket, upstream->buffer, response, kUseTuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          // Too late for a 502: the header is out. Close, so the client sees a short body.
          gateway_.CountUpstreamError(upstream_timed_out_ ? "timeout" : "reset");
          UnwatchUpstream();
          co_return false;
        }
        res.body().size = kRelayBytes - res.body().size;
        res.body().data = relay.data();
        res.body().more = !response.is_done();
        outcome.bytes += res.body().size;
      } else {
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
      }
      ClientDeadline(options_.client_io_timeout);
      auto [ec, n] = co_await http::async_write(stream_, serializer, kUseTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        UnwatchUpstream();
        co_return false;
      }
    } while (!serializer.is_done());
  }
  UnwatchUpstream();

  if (upgraded) {
    co_await Tunnel(*upstream);
    co_return false;
  }
  if (origin_keep_alive && response.is_done()) PoolOrigin(std::move(upstream), site);
  co_return keep_client;
}

template <class Stream>
void Session<Stream>::PoolOrigin(std::unique_ptr<Upstream> upstream, const Site& site) {
  // Bytes beyond the response (an origin that sent more than it framed) would be read as the
  // next request's response, whichever client sent it: such a connection is never reused. Nor
  // is one the sweep closed while its response was being written to the client.
  if (upstream->buffer.size() != 0 || upstream_timed_out_ || !upstream->socket.is_open()) return;
  auto& idle = worker_.pool[site.origin_key];
  if (idle.size() >= options_.max_idle_origin_connections) return;
  upstream->idle_since = CoarseNow();
  idle.push_back(std::move(upstream));
}

template <class Stream>
std::unique_ptr<Upstream> Session<Stream>::TakeIdleOrigin(const Site& site) {
  auto it = worker_.pool.find(site.origin_key);
  if (it == worker_.pool.end()) return nullptr;
  auto& idle = it->second;
  while (!idle.empty()) {
    std::unique_ptr<Upstream> candidate = std::move(idle.back());
    idle.pop_back();
    if (CoarseNow() - candidate->idle_since >= options_.origin_idle_timeout) continue;
    if (candidate->buffer.size() != 0) continue;
    // A closed or chattering idle connection is useless: peek without blocking, every time. An
    // idle origin connection that has anything to read holds bytes no request asked for (an
    // origin that sent more than it framed, or its close): the next request would take them for
    // its response, so however recently it was used it is closed here.
    char probe;
    ssize_t r = ::recv(candidate->socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return candidate;
  }
  return nullptr;
}

template <class Stream>
Task<int> Session<Stream>::ConnectOrigin(Upstream& upstream, const Site& site) {
  WatchUpstream(&upstream.socket, options_.origin_connect_timeout);
  AwaitOrigin(options_.origin_connect_timeout);
  beast::error_code ec;
  for (const tcp::endpoint& endpoint : site.endpoints) {
    beast::error_code ignored;
    upstream.socket.close(ignored);
    auto [connect_ec] = co_await upstream.socket.async_connect(endpoint, kUseTuple);
    ec = connect_ec;
    if (!ec || upstream_timed_out_) break;
  }
  if (upstream_timed_out_) {
    gateway_.CountUpstreamError("timeout");
    co_return 504;
  }
  if (ec) {
    gateway_.CountUpstreamError("connect");
    co_return 502;
  }
  upstream.socket.set_option(tcp::no_delay(true), ec);
  // The fast path writes the request head without the reactor (asynchronous operations ignore
  // this flag).
  upstream.socket.non_blocking(true, ec);
  co_return 0;
}

template <class Stream>
Task<beast::error_code> Session<Stream>::ReadResponseHeader(Upstream& upstream,
                                                            std::optional<ResponseParser>& response,
                                                            bool head, bool& interim) {
  // Interim 1xx responses other than 101 are dropped (the client's own 100-continue was
  // answered before the body).
  interim = false;
  for (;;) {
    if (response) interim = true;
    response.emplace();
    response->header_limit(kMaxOriginHeaderBytes);
    response->body_limit(boost::none);
    if (head) response->skip(true);
    auto [ec, n] =
        co_await http::async_read_header(upstream.socket, upstream.buffer, *response, kUseTuple);
    if (ec) co_return ec;
    unsigned status = response->get().result_int();
    if (status >= 200 || status == 101) co_return ec;
  }
}

// After a 101: bytes pass both ways until either side closes or the connection idles out.
template <class Stream>
Task<void> Session<Stream>::Tunnel(Upstream& upstream) {
  // Both sides are watched with idle_timeout, refreshed by traffic either way; when it passes
  // the sweep closes both, so neither direction can wait forever on a silent origin.
  tunnel_ = true;
  WatchUpstream(&upstream.socket, options_.idle_timeout);
  auto traffic = [this] {
    ClientDeadline(options_.idle_timeout);
    UpstreamDeadline(options_.idle_timeout);
  };
  struct EndTunnel {
    Session* session;
    ~EndTunnel() {
      session->tunnel_ = false;
      session->UnwatchUpstream();
    }
  } end_tunnel{this};
  // Bytes that arrived behind the headers belong to the new protocol.
  if (upstream.buffer.size() > 0) {
    ClientDeadline(options_.client_io_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, upstream.buffer.data(), kUseTuple);
    if (ec) co_return;
    upstream.buffer.consume(n);
  }
  if (buffer_.size() > 0) {
    ClientDeadline(options_.client_io_timeout);
    auto [ec, n] = co_await asio::async_write(upstream.socket, buffer_.data(), kUseTuple);
    if (ec) co_return;
    buffer_.consume(n);
  }
  auto close_both = [this, &upstream] {
    beast::error_code ignored;
    upstream.socket.close(ignored);
    CloseClient();
  };
  auto client_to_origin = [&]() -> Task<void> {
    RelayBuffer relay(worker_);
    for (;;) {
      auto [ec, n] =
          co_await stream_.async_read_some(asio::buffer(relay.data(), kRelayBytes), kUseTuple);
      if (ec) break;
      traffic();
      auto [wec, wn] =
          co_await asio::async_write(upstream.socket, asio::buffer(relay.data(), n), kUseTuple);
      if (wec) break;
    }
    close_both();
  };
  auto origin_to_client = [&]() -> Task<void> {
    RelayBuffer relay(worker_);
    for (;;) {
      auto [ec, n] = co_await upstream.socket.async_read_some(
          asio::buffer(relay.data(), kRelayBytes), kUseTuple);
      if (ec) break;
      traffic();
      auto [wec, wn] =
          co_await asio::async_write(stream_, asio::buffer(relay.data(), n), kUseTuple);
      if (wec) break;
    }
    close_both();
  };
  traffic();
  co_await (client_to_origin() && origin_to_client());
}

template <class Stream>
void Session<Stream>::Record(std::string_view method, std::string_view target,
                             const std::string& host, const Site* site, const Outcome& outcome,
                             SteadyClock::time_point start) {
  SteadyClock::duration elapsed = SteadyClock::now() - start;
  if (site != nullptr) {
    int cls = outcome.status / 100;
    Counter* counter = site->requests[(cls >= 1 && cls <= 5) ? cls : 0];
    if (counter) counter->Add();
    if (site->latency) site->latency->Observe(std::chrono::duration<double>(elapsed).count());
  }
  if (!options_.access_log) return;
  auto ms = [](SteadyClock::duration d) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", std::chrono::duration<double, std::milli>(d).count());
    return std::string(buf);
  };
  std::string status = std::to_string(outcome.status);
  std::string bytes = std::to_string(outcome.bytes);
  std::string duration = ms(elapsed);
  std::string upstream = outcome.upstream ? ms(outcome.upstream_time) : "";
  Log(LogLevel::kInfo, "access",
      {{"client", remote_ip_},
       {"method", method},
       {"host", host},
       {"path", target},
       {"site", site ? std::string_view(site->config.name) : std::string_view()},
       {"status", status},
       {"bytes", bytes},
       {"duration_ms", duration},
       {"upstream_ms", upstream},
       {"tls", kTls ? "1" : "0"}});
}

// What the first record of a connection on the HTTPS port is. TLCP hook: before any TLS
// library reads from the socket, the record header is peeked (MSG_PEEK: the bytes stay in the
// socket). TLS and TLCP (GB/T 38636-2020) ClientHellos differ in the record version
// (0x0301..0x0303 vs 0x0101), so a second TLS stack can take the socket over here, unread, with
// SNI still to parse. std::nullopt when the connection ended or failed first.
Task<std::optional<FirstRecord>> PeekFirstRecord(Socket& socket, Worker& worker) {
  std::array<unsigned char, kRecordHeaderBytes> first;
  for (;;) {
    // The ClientHello has usually arrived by the time the connection is accepted: look first,
    // wait only when there is nothing yet.
    ssize_t n = ::recv(socket.native_handle(), first.data(), first.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      auto [wait_ec] = co_await socket.async_wait(Socket::wait_read, kUseTuple);
      if (wait_ec) co_return std::nullopt;
      continue;
    }
    if (n <= 0) co_return std::nullopt;
    if (static_cast<size_t>(n) == first.size()) break;
    // A record header split across segments: rare; look again shortly (the handshake deadline
    // still applies, the sweep closes the socket when it passes).
    Timer timer(*worker.io);
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(kUseTuple);
  }
  co_return ClassifyFirstRecord(first.data());
}

// The TLS handshake (after the peek); fills choice. False when the connection is to end here.
Task<bool> HandshakeTls(GatewayImpl& gateway, Worker& worker, TlsStream& stream,
                        HandshakeChoice& choice) {
  std::optional<FirstRecord> first = co_await PeekFirstRecord(stream.next_layer(), worker);
  if (!first) co_return false;
  if (*first != FirstRecord::kTls) {
    // kTlcp: no TLCP stack yet, refused like any other non-TLS client.
    if (gateway.handshake_failures()) gateway.handshake_failures()->Add();
    co_return false;
  }
  TlsServer::Attach(stream.native_handle(), &choice);
  auto [ec] = co_await stream.async_handshake(kUseTuple);
  TlsServer::Attach(stream.native_handle(), nullptr);
  if (ec) {
    if (gateway.handshake_failures()) gateway.handshake_failures()->Add();
    co_return false;
  }
  // RFC 8737 §3: a tls-alpn-01 validation is the handshake itself; the connection carries no
  // data.
  co_return !choice.acme_challenge;
}

Socket& Lowest(TlsStream& stream) { return stream.next_layer(); }
Socket& Lowest(Socket& socket) { return socket; }

void LogCoroutineException(std::exception_ptr e, const char* what);

// One client connection's objects on the heap. Between requests they are all that is left of
// it besides the reactor's wait: no coroutine frame waits for the next request.
template <class Stream>
struct ClientConnection {
  template <class... StreamArgs>
  ClientConnection(GatewayImpl& gateway, Worker& worker, ConnectionSlot connection_slot,
                   std::string remote_ip, StreamArgs&&... stream_args)
      : slot(std::move(connection_slot)),
        stream(std::forward<StreamArgs>(stream_args)...),
        session(gateway, worker, stream, Lowest(stream), std::move(remote_ip)) {}

  ConnectionSlot slot;  // released last, after the socket has closed
  Stream stream;
  Session<Stream> session;
};

template <class Stream>
void AwaitRequest(std::unique_ptr<ClientConnection<Stream>> connection);

// Serves what the connection has to read, then waits for more (or ends it).
template <class Stream>
Task<void> Serve(std::unique_ptr<ClientConnection<Stream>> connection) {
  const bool wait = co_await connection->session.Run();
  if (wait) AwaitRequest(std::move(connection));
  co_return;
}

// Waits for the connection to become readable, holding it in the wait's handler; a new
// coroutine serves it then. The sweep and Stop end the wait through CloseClient (the handler
// then sees an error or the end of the stream, and the connection is destroyed).
template <class Stream>
void AwaitRequest(std::unique_ptr<ClientConnection<Stream>> connection) {
  Socket& socket = connection->session.lowest();
  bool pending = false;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    // Bytes OpenSSL already holds (a pipelined request) make no socket readable.
    pending = SSL_has_pending(connection->stream.native_handle()) == 1;
  }
  auto resume = [connection = std::move(connection)](beast::error_code ec) mutable {
    if (ec) return;
    connection->session.Woken();
    auto executor = connection->session.lowest().get_executor();
    asio::co_spawn(executor, Serve(std::move(connection)),
                   [](std::exception_ptr e) { LogCoroutineException(e, "client connection"); });
  };
  if (pending) {
    asio::post(socket.get_executor(), [resume = std::move(resume)]() mutable { resume({}); });
    return;
  }
  socket.async_wait(Socket::wait_read, std::move(resume));
}

// An HTTPS connection: the ClientHello peek (the TLCP hook), the handshake, then HTTP. The
// handshake runs in its own coroutine so its state is gone while the connection idles.
Task<void> RunHttps(GatewayImpl& gateway, Worker& worker, Socket socket, ConnectionSlot slot) {
  beast::error_code ec;
  tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  socket.set_option(tcp::no_delay(true), ec);
  SSL* ssl = SSL_new(gateway.tls().context());
  if (ssl == nullptr) co_return;
  auto connection = std::make_unique<ClientConnection<TlsStream>>(
      gateway, worker, std::move(slot), AddressString(remote), std::move(socket), ssl);
  connection->session.StartHandshakeDeadline();
  {
    HandshakeChoice choice;
    if (!co_await HandshakeTls(gateway, worker, connection->stream, choice)) co_return;
    connection->session.SetTlsIdentity(std::move(choice.site), std::move(choice.server_name));
  }
  co_await Serve(std::move(connection));
}

Task<void> RunHttp(GatewayImpl& gateway, Worker& worker, Socket socket, ConnectionSlot slot) {
  beast::error_code ec;
  tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  socket.set_option(tcp::no_delay(true), ec);
  // ReadNow and WriteNow use the socket without the reactor (asynchronous operations ignore
  // this flag).
  socket.non_blocking(true, ec);
  auto connection = std::make_unique<ClientConnection<Socket>>(
      gateway, worker, std::move(slot), AddressString(remote), std::move(socket));
  co_await Serve(std::move(connection));
}

void LogCoroutineException(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    Log(LogLevel::kError, "gateway coroutine failed", {{"where", what}, {"error", ex.what()}});
  } catch (...) {
    Log(LogLevel::kError, "gateway coroutine failed", {{"where", what}});
  }
}

}  // namespace

void GatewayImpl::CountUpstreamError(std::string_view kind) {
  Counter* counter = nullptr;
  if (kind == "connect") {
    counter = upstream_connect_errors_;
  } else if (kind == "timeout") {
    counter = upstream_timeouts_;
  } else {
    counter = upstream_resets_;
  }
  if (counter) counter->Add();
}

Result<std::shared_ptr<const SiteTable>> GatewayImpl::BuildSites(std::vector<SiteConfig> sites) {
  TRY(ValidateSites(sites));
  auto table = std::make_shared<SiteTable>();
  asio::io_context io;
  tcp::resolver resolver(io);
  for (SiteConfig& config : sites) {
    auto site = std::make_unique<Site>();
    site->origin = TRY(ParseOriginUrl(config.origin));
    beast::error_code ec;
    auto results = resolver.resolve(site->origin.host, std::to_string(site->origin.port), ec);
    if (ec || results.empty()) {
      return Fail(ErrorCode::kNetwork, "site \"" + config.name + "\": origin host \"" +
                                           site->origin.host + "\" does not resolve");
    }
    for (const auto& entry : results) site->endpoints.push_back(entry.endpoint());
    site->origin_key = net::FormatHostPort(site->origin.host, site->origin.port);
    if (config.hsts.enabled) site->hsts = HstsValue(config.hsts);
    if (metrics_ != nullptr) {
      static constexpr const char* kClasses[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
      for (int i = 0; i < 6; ++i) {
        site->requests[i] = metrics_->GetCounter(
            "autoseal_gateway_requests_total", "HTTP requests answered, by site and status class.",
            {{"site", config.name}, {"code", kClasses[i]}});
      }
      site->latency = metrics_->GetHistogram(
          "autoseal_gateway_request_duration_seconds",
          "Time from a request's header to the end of its response, by site.",
          DefaultLatencyBuckets(), {{"site", config.name}});
    }
    site->config = std::move(config);
    table->sites.push_back(std::move(site));
  }
  for (const auto& site : table->sites) {
    for (const std::string& name : site->config.server_names) {
      if (name.starts_with("*.")) {
        table->wildcard[name.substr(2)] = site.get();
      } else {
        table->exact[name] = site.get();
      }
    }
    if (site->config.name == options_.default_site) table->default_site = site.get();
  }
  if (!options_.default_site.empty() && table->default_site == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "default site \"" + options_.default_site + "\" is not among the sites");
  }
  return std::shared_ptr<const SiteTable>(std::move(table));
}

Result<std::unique_ptr<Acceptor>> GatewayImpl::Bind(const std::string& address,
                                                    tcp::endpoint& bound) {
  auto [host, port] = TRY(net::ParseHostPort(address));
  beast::error_code ec;
  asio::ip::address ip = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(*workers_[0]->io);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return Fail(ErrorCode::kNetwork, "cannot resolve listen address " + address);
    }
    ip = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(ip, port);
  auto acceptor = std::make_unique<Acceptor>(workers_[0]->io->get_executor());
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) bound = acceptor->local_endpoint(ec);
  if (ec) return Fail(ErrorCode::kNetwork, "cannot listen on " + address + ": " + ec.message());
  return acceptor;
}

Status GatewayImpl::Init(std::vector<SiteConfig> sites) {
  CHECK(certificates_ != nullptr && challenges_ != nullptr);
  if (options_.http_address.empty() && options_.https_address.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the gateway needs an HTTP or HTTPS address");
  }
  if (metrics_ != nullptr) {
    open_connections_ = metrics_->GetGauge("autoseal_gateway_open_connections",
                                           "Client connections open on both listeners.");
    handshake_failures_ = metrics_->GetCounter(
        "autoseal_gateway_tls_handshake_failures_total",
        "TLS handshakes that failed or were refused (unknown name, not TLS, TLCP).");
    const char* help = "Requests the origin could not serve, by kind.";
    upstream_connect_errors_ =
        metrics_->GetCounter("autoseal_gateway_upstream_errors_total", help, {{"kind", "connect"}});
    upstream_timeouts_ =
        metrics_->GetCounter("autoseal_gateway_upstream_errors_total", help, {{"kind", "timeout"}});
    upstream_resets_ =
        metrics_->GetCounter("autoseal_gateway_upstream_errors_total", help, {{"kind", "reset"}});
  }
  sites_ = TRY(BuildSites(std::move(sites)));

  unsigned threads = options_.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());

  if (!options_.https_address.empty()) {
    TlsServer::Options tls_options;
    tls_options.session_tickets = options_.session_tickets;
    tls_options.ticket_key_rotation = options_.ticket_key_rotation;
    tls_ = TRY(TlsServer::Create(certificates_, challenges_, tls_options));
    https_acceptor_ = TRY(Bind(options_.https_address, https_endpoint_));
  }
  if (!options_.http_address.empty()) {
    http_acceptor_ = TRY(Bind(options_.http_address, http_endpoint_));
  }
  if (tls_) {
    const SiteTable& table = *sites_;
    std::string default_name;
    if (table.default_site != nullptr) {
      for (const std::string& name : table.default_site->config.server_names) {
        if (!name.starts_with("*.")) {
          default_name = name;
          break;
        }
      }
    }
    tls_->SetDefaultServerName(default_name);
  }
  if (!options_.admin_address.empty()) {
    net::HttpServerOptions admin_options;
    admin_options.listen_address = options_.admin_address;
    admin_options.threads = 1;
    Metrics* metrics = metrics_;
    admin_ =
        TRY_CONTEXT(net::HttpServer::Create(admin_options,
                                            [metrics](const net::HttpRequest& request) {
                                              std::string_view path = request.Path();
                                              if (path == "/healthz")
                                                return net::HttpResponse::Text(200, "ok\n");
                                              if (path == "/metrics" && metrics != nullptr) {
                                                return net::HttpResponse::Make(
                                                    200, "text/plain; version=0.0.4; charset=utf-8",
                                                    metrics->RenderPrometheus());
                                              }
                                              return net::HttpResponse::Text(404, "not found\n");
                                            }),
                    "admin listener");
  }
  return Ok();
}

Status GatewayImpl::ReplaceSites(std::vector<SiteConfig> sites) {
  std::shared_ptr<const SiteTable> table = TRY(BuildSites(std::move(sites)));
  if (tls_) {
    std::string default_name;
    if (table->default_site != nullptr) {
      for (const std::string& name : table->default_site->config.server_names) {
        if (!name.starts_with("*.")) {
          default_name = name;
          break;
        }
      }
    }
    tls_->SetDefaultServerName(default_name);
  }
  std::lock_guard<std::mutex> lock(sites_mu_);
  sites_ = std::move(table);
  sites_generation_.fetch_add(1, std::memory_order_release);
  return Ok();
}

Task<void> GatewayImpl::AcceptLoop(Acceptor& acceptor, bool tls) {
  for (;;) {
    Worker& worker = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    auto [ec, socket] = co_await acceptor.async_accept(*worker.io, kUseTuple);
    if (stopping()) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      // EMFILE and the like: back off briefly instead of spinning.
      Timer timer(co_await asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(kUseTuple);
      continue;
    }
    if (active_connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ConnectionSlot slot(this);
    if (tls) {
      asio::co_spawn(*worker.io, RunHttps(*this, worker, std::move(socket), std::move(slot)),
                     [](std::exception_ptr e) { LogCoroutineException(e, "https connection"); });
    } else {
      asio::co_spawn(*worker.io, RunHttp(*this, worker, std::move(socket), std::move(slot)),
                     [](std::exception_ptr e) { LogCoroutineException(e, "http connection"); });
    }
  }
}

Task<void> GatewayImpl::SweepLoop(Worker& worker) {
  Timer timer(*worker.io);
  for (;;) {
    timer.expires_after(kSweepInterval);
    auto [ec] = co_await timer.async_wait(kUseTuple);
    if (ec) co_return;
    SteadyClock::time_point now = CoarseNow();
    for (auto it = worker.connections.begin(); it != worker.connections.end();) {
      Connection* connection = *it++;  // Sweep never destroys a connection synchronously
      connection->Sweep(now);
    }
    // Idle origin connections past their time.
    for (auto& [key, idle] : worker.pool) {
      std::erase_if(idle, [&](const std::unique_ptr<Upstream>& upstream) {
        return now - upstream->idle_since >= options_.origin_idle_timeout;
      });
    }
  }
}

void GatewayImpl::RunWorker(Worker& worker) {
  for (;;) {
    try {
      worker.io->run();
      return;
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "gateway I/O thread caught an exception", {{"error", e.what()}});
    }
  }
}

void GatewayImpl::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ != State::kCreated) return;
  state_ = State::kRunning;
  // OpenSSL writes TLS records with write(2) on the socket: a peer that has gone away must give
  // EPIPE, not a process-killing SIGPIPE (as in every server that writes to sockets).
  std::signal(SIGPIPE, SIG_IGN);
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    asio::co_spawn(*w->io, SweepLoop(*w),
                   [](std::exception_ptr e) { LogCoroutineException(e, "sweep"); });
  }
  if (https_acceptor_) {
    asio::co_spawn(*workers_[0]->io, AcceptLoop(*https_acceptor_, true),
                   [](std::exception_ptr e) { LogCoroutineException(e, "https accept"); });
  }
  if (http_acceptor_) {
    asio::co_spawn(*workers_[0]->io, AcceptLoop(*http_acceptor_, false),
                   [](std::exception_ptr e) { LogCoroutineException(e, "http accept"); });
  }
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([this, w] { RunWorker(*w); });
  }
  if (admin_) admin_->Start();
}

void GatewayImpl::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (state_ == State::kStopped) return;
  bool was_running = state_ == State::kRunning;
  state_ = State::kStopped;
  stopping_ = true;
  if (admin_) admin_->Stop();
  if (was_running) {
    asio::post(*workers_[0]->io, [this] {
      beast::error_code ignored;
      if (https_acceptor_) https_acceptor_->close(ignored);
      if (http_acceptor_) http_acceptor_->close(ignored);
    });
    for (auto& worker : workers_) {
      Worker* w = worker.get();
      asio::post(*w->io, [w] {
        for (auto it = w->connections.begin(); it != w->connections.end();) {
          Connection* connection = *it++;
          if (connection->idle()) connection->CloseClient();
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
  http_acceptor_.reset();
  https_acceptor_.reset();
  for (auto& worker : workers_) {
    worker->pool.clear();
    worker->io.reset();  // destroys the remaining sessions, closing their sockets
  }
}

}  // namespace internal

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayOptions options,
                                                 std::vector<SiteConfig> sites,
                                                 const CertificateSource* certificates,
                                                 const ChallengeResponder* challenges,
                                                 Metrics* metrics) {
  if (certificates == nullptr || challenges == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "gateway needs a certificate source and responder");
  }
  auto impl = std::make_unique<internal::GatewayImpl>(std::move(options), certificates, challenges,
                                                      metrics);
  TRY(impl->Init(std::move(sites)));
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::Gateway(std::unique_ptr<internal::GatewayImpl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() = default;
void Gateway::Start() { impl_->Start(); }
void Gateway::Stop() { impl_->Stop(); }
Status Gateway::ReplaceSites(std::vector<SiteConfig> sites) {
  return impl_->ReplaceSites(std::move(sites));
}
uint16_t Gateway::HttpPort() const { return impl_->HttpPort(); }
uint16_t Gateway::HttpsPort() const { return impl_->HttpsPort(); }
uint16_t Gateway::AdminPort() const { return impl_->AdminPort(); }
std::string Gateway::HttpAddress() const { return impl_->HttpAddress(); }
std::string Gateway::HttpsAddress() const { return impl_->HttpsAddress(); }
std::string Gateway::AdminAddress() const { return impl_->AdminAddress(); }

}  // namespace autoseal::gateway
