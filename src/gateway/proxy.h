#pragma once

// The gateway's network half: an HTTPS listener that terminates TLS 1.2/1.3 with the certificate
// a CertificateSource gives for the client's SNI and signature algorithms, an HTTP listener that
// answers ACME http-01 challenges and redirects everything else to HTTPS, and a streaming
// HTTP/1.1 reverse proxy to each site's origin (keep-alive both ways, bodies relayed in bounded
// memory, WebSocket upgrades passed through). Boost and OpenSSL stay inside the .cc files.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gateway/certificate_source.h"
#include "gateway/metrics.h"

namespace autoseal::gateway {

// RFC 6797 Strict-Transport-Security for one site's HTTPS responses.
struct HstsPolicy {
  bool enabled = true;
  std::chrono::seconds max_age{365 * 24 * 3600};
  bool include_subdomains = false;
  bool preload = false;
};

// One proxied site. A value type.
struct SiteConfig {
  // The site's name, as CertificateSource::Lookup reports it in SiteCertificates::site; used in
  // logs and metric labels.
  std::string name;
  // Host names the site answers to, lower-case: "example.com", or "*.example.com" (one label,
  // left-most only, as RFC 6125 §6.4.3 allows for certificates).
  std::vector<std::string> server_names;
  // Where requests go: "http://host:port" with an optional base path ("http://10.0.0.5:8080/app")
  // that is prefixed to every request target. The host is resolved when the site is installed.
  std::string origin;
  HstsPolicy hsts;
  // Send the client's Host to the origin (the default, so the origin sees its own name); when
  // false the origin's host:port is sent instead.
  bool preserve_host = true;
};

// How the gateway listens and what it tolerates; defaults suit a public-facing server. Timeouts
// are enforced by a periodic sweep per I/O thread and may fire up to a quarter of a second late.
struct GatewayOptions {
  // "host:port" (net::ParseHostPort); port 0 picks a free port (see Gateway::HttpsPort()).
  // An empty address disables that listener.
  std::string http_address = "0.0.0.0:80";
  std::string https_address = "0.0.0.0:443";
  // /metrics (Prometheus text) and /healthz; empty = no admin listener.
  std::string admin_address;
  // The port written into HTTP→HTTPS redirects; 0 means the HTTPS listener's bound port (and
  // 443 is left out of the URL).
  uint16_t redirect_https_port = 0;
  // When false the HTTP listener proxies like the HTTPS one instead of redirecting (ACME
  // challenge paths are answered either way); for use behind another TLS terminator.
  bool redirect_http = true;
  // The site (by SiteConfig::name) that serves clients that send no SNI; empty refuses them
  // with an unrecognized_name alert.
  std::string default_site;
  // I/O threads, each with its own event loop and origin connection pool; 0 means
  // std::thread::hardware_concurrency().
  unsigned threads = 0;

  // TLS handshake, counted from accept.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // From a request's first byte until its header is complete (slowloris defence).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // A keep-alive client connection waiting for its next request; also an upgraded (WebSocket)
  // connection with no traffic either way.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Each read of a request body from the client and each write to the client.
  std::chrono::milliseconds client_io_timeout{std::chrono::seconds(60)};
  // Connecting to the origin; on expiry the client gets 504.
  std::chrono::milliseconds origin_connect_timeout{std::chrono::seconds(5)};
  // Waiting for the origin's response header, and each read of its body or write of the request
  // to it; on expiry before the response header the client gets 504.
  std::chrono::milliseconds origin_read_timeout{std::chrono::seconds(60)};
  // A pooled keep-alive origin connection unused this long is closed.
  std::chrono::milliseconds origin_idle_timeout{std::chrono::seconds(30)};
  // How long Stop() lets in-flight requests finish.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};

  // Request line plus header fields; larger requests get 431 and the connection is closed.
  size_t max_header_bytes = 16 * 1024;
  // Open client connections (both listeners); beyond this new connections are closed at once.
  size_t max_connections = 20000;
  // Idle keep-alive connections kept per origin on each I/O thread.
  size_t max_idle_origin_connections = 64;

  // TLS session resumption with stateless tickets (RFC 8446 §4.6.1, RFC 5077); the ticket keys
  // are random, in memory only, shared by all certificates, and rotated at this interval (tickets
  // made with the previous key are still accepted for one more interval).
  bool session_tickets = true;
  std::chrono::seconds ticket_key_rotation{std::chrono::hours(1)};

  // One JSON line per request on stderr (core/log.h, level info, message "access").
  bool access_log = true;
};

namespace internal {
class GatewayImpl;
}  // namespace internal

// The listeners and the proxy. Create binds every listener (so the ports are known at once);
// Start runs the I/O threads; Stop drains. Public methods are thread-safe. The certificate
// source, challenge responder and metrics registry are borrowed and must outlive the Gateway.
class Gateway {
 public:
  // Validates options and sites (addresses, origin URLs, names; a default_site that is not among
  // the sites) and binds the listeners. kInvalidArgument naming the bad option or site,
  // kNetwork when an address cannot be bound or an origin host does not resolve. certificates
  // and challenges must not be null; metrics may be null (no metrics, no /metrics).
  static Result<std::unique_ptr<Gateway>> Create(GatewayOptions options,
                                                 std::vector<SiteConfig> sites,
                                                 const CertificateSource* certificates,
                                                 const ChallengeResponder* challenges,
                                                 Metrics* metrics);
  // Stops (see Stop()).
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts the I/O threads and accepting; returns at once. Sets SIGPIPE to be ignored for the
  // process (TLS records are written with write(2)). Idempotent; no effect after Stop().
  void Start();

  // Graceful stop (SIGTERM): stops accepting, closes idle connections, lets in-flight requests
  // and upgraded connections run for up to shutdown_timeout (responses then carry
  // "Connection: close"), then closes the rest and joins the threads. Blocks; idempotent.
  void Stop();

  // Installs a new site list (SIGHUP): requests that start from now on use it; requests in
  // flight finish with the old one. On error (as for Create) the old list stays in force.
  Status ReplaceSites(std::vector<SiteConfig> sites);

  // Bound ports (0 when that listener is disabled) and addresses as "ip:port" ("" if disabled).
  uint16_t HttpPort() const;
  uint16_t HttpsPort() const;
  uint16_t AdminPort() const;
  std::string HttpAddress() const;
  std::string HttpsAddress() const;
  std::string AdminAddress() const;

 private:
  explicit Gateway(std::unique_ptr<internal::GatewayImpl> impl);
  std::unique_ptr<internal::GatewayImpl> impl_;
};

}  // namespace autoseal::gateway
