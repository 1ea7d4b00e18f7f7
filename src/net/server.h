#pragma once

// The HTTP/1.1 server every autoseal service sits behind (TSA, ACME, CT, gateway admin).
// Implemented with Boost.Beast/Asio, which stay inside net/'s .cc files.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "net/http.h"

namespace autoseal::net {

namespace internal {
class ServerImpl;
}  // namespace internal

// TLS credentials for HttpServer: a PEM certificate chain (leaf first, then intermediates) and
// its PEM private key, each given inline or as a file path (the inline text wins when both are
// set). Never logged.
struct TlsServerOptions {
  std::string certificate_chain_pem;
  std::string private_key_pem;
  std::string certificate_chain_file;
  std::string private_key_file;
};

// How an HttpServer listens and what it tolerates. Defaults suit a public-facing service.
// Timeouts are enforced by a periodic sweep on each I/O thread, so they fire up to a quarter of
// the shortest timeout (at most 1 s) late.
struct HttpServerOptions {
  // "host:port" as accepted by ParseHostPort; port 0 picks a free port (see HttpServer::Port).
  std::string listen_address = "127.0.0.1:0";
  // I/O threads, each with its own event loop; connections are spread over them round-robin.
  // 0 means std::thread::hardware_concurrency().
  unsigned threads = 0;
  // Request line plus header fields; larger requests get 431 and the connection is closed.
  size_t max_header_bytes = 16 * 1024;
  // Request body (after de-chunking); larger requests get 413 and the connection is closed.
  size_t max_body_bytes = 1024 * 1024;
  // From a request's first byte until its header is complete (slowloris defence); also bounds
  // a new connection's TLS handshake and its wait for the first byte. On expiry the connection
  // is closed.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // From a request's first byte until its body is complete.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  // For writing one response (slow readers).
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // How long a keep-alive connection may sit idle between requests.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // How long Stop() lets in-flight requests finish before it closes their connections.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
  // Open connections beyond this are accepted and closed at once.
  size_t max_connections = 10000;
  // Requests served on one connection before the server asks the client to reconnect.
  size_t max_requests_per_connection = 100000;
  // Set to serve HTTPS (TLS 1.2 and 1.3 only) instead of plain HTTP.
  std::optional<TlsServerOptions> tls;
};

// An HTTP/1.1 server (keep-alive, pipelining, HEAD, Expect: 100-continue) that hands each
// complete request to one handler function. Malformed requests get 400 and oversized ones
// 413/431, closing only their connection; a handler exception becomes a 500. Public methods are
// thread-safe, except that Stop() and the destructor must not be called from the handler (that
// aborts via CHECK).
class HttpServer {
 public:
  // Called on an I/O thread for every request, concurrently from several threads: it must be
  // thread-safe, should not block for long (it holds up the other connections of its thread),
  // and should not throw (an exception becomes a 500 and is logged).
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Binds the listening socket (so Port() is known at once) and, with options.tls, builds the
  // TLS context; does not accept connections until Start(). kInvalidArgument for bad options or
  // TLS credentials, kIo for unreadable credential files, kNetwork when the address cannot be
  // bound; messages name the address or file.
  static Result<std::unique_ptr<HttpServer>> Create(HttpServerOptions options, Handler handler);

  // Stops the server (see Stop()).
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the I/O threads and begins accepting connections; returns at once. Calling it again,
  // or after Stop(), does nothing.
  void Start();

  // Gracefully stops: stops accepting, closes idle connections, lets in-flight requests finish
  // (their responses say "Connection: close") for up to shutdown_timeout, then closes whatever
  // remains and joins the I/O threads. Blocks until done; idempotent.
  void Stop();

  // The bound TCP port (useful with port 0).
  uint16_t Port() const;

  // The bound address as "ip:port", e.g. "127.0.0.1:40123" or "[::1]:443".
  std::string LocalAddress() const;

  // Replaces the TLS certificate chain and key for connections accepted from now on; existing
  // connections keep theirs. On failure the old credentials stay in use. kInvalidArgument when the
  // server was created without TLS or the credentials do not load.
  Status ReloadTls(const TlsServerOptions& tls);

 private:
  explicit HttpServer(std::unique_ptr<internal::ServerImpl> impl);
  std::unique_ptr<internal::ServerImpl> impl_;
};

}  // namespace autoseal::net
