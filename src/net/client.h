#pragma once

// A small synchronous HTTP/1.1 client for service-to-service calls (ACME, CT submission,
// TSA requests, OCSP/CRL fetches). Implemented with Boost.Beast/Asio/URL inside net/'s .cc files.

#include <chrono>
#include <cstddef>
#include <string>

#include "core/error.h"
#include "net/http.h"  // also declares ParseHostPort

namespace autoseal::net {

// Limits and trust for HttpFetch.
struct HttpClientOptions {
  // Whole exchange: DNS, connect, TLS handshake, request and response. DNS resolution of a
  // name (not of an IP literal) cannot be interrupted and may overrun it.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Response bodies larger than this fail the fetch.
  size_t max_response_body_bytes = 10 * 1024 * 1024;
  // Response status line plus header fields larger than this fail the fetch.
  size_t max_response_header_bytes = 64 * 1024;
  // For https: trust anchors as a PEM bundle file and/or inline PEM text. When both are empty
  // the system trust store is used.
  std::string ca_file;
  std::string ca_pem;
  // Sent when the request has no User-Agent header.
  std::string user_agent = "autoseal";
};

// Sends one request to the absolute http:// or https:// URL in request.target and returns the
// response of any status (redirects are not followed; 1xx interim responses are skipped). Adds
// Host, Content-Length (when there is a body or the method is POST/PUT/PATCH), User-Agent and
// "Connection: close"; one connection per call. For https the server certificate must chain to
// the configured trust anchors and match the URL's host (DNS name or IP address; TLS 1.2+).
// Fails with kTimeout when options.timeout passes, kNetwork for DNS, connection, TLS
// (including verification) and protocol failures and oversized responses, kInvalidArgument for a
// malformed URL, method or header field (CR/LF in a value) or unparsable CA PEM, kNotFound/kIo
// when ca_file cannot be read; each message names the method and URL. Thread-safe: each call
// uses its own connection and I/O context.
Result<HttpResponse> HttpFetch(const HttpRequest& request, const HttpClientOptions& options = {});

}  // namespace autoseal::net
