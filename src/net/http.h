#pragma once

// Plain HTTP message types shared by the server (net/server.h) and the client (net/client.h).
// Deliberately free of Boost.Beast/Asio: this header is included by every service.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace autoseal::net {

// Header fields in wire order; names compare case-insensitively (RFC 9110 §5.1).
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// True if a and b are equal ignoring ASCII case. Thread-safe (pure).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Returns the value of the first field called name (any case), or nullopt; the view points
// into headers and lives as long as that entry. Thread-safe for concurrent readers.
std::optional<std::string_view> FindHeader(const HttpHeaders& headers, std::string_view name);

// Replaces every field called name (any case) by one field name: value. Not thread-safe.
void SetHeader(HttpHeaders& headers, std::string_view name, std::string value);

// An HTTP/1.x request. On the server, target is the request-target as received (origin form:
// path plus query) and remote_address is the peer as "ip:port" ("[v6]:port"); for HttpFetch,
// target is an absolute "http://" or "https://" URL and remote_address is ignored. A value type:
// copy freely; not synchronised.
struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string version = "HTTP/1.1";
  HttpHeaders headers;
  std::string body;
  std::string remote_address;

  // Returns the first header called name (any case) or nullopt; the view lives as long as the
  // header entry.
  std::optional<std::string_view> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
  // Replaces any header called name (any case) by name: value.
  void SetHeader(std::string_view name, std::string value) {
    net::SetHeader(headers, name, std::move(value));
  }
  // Returns the target without its query ("?...") or fragment; a view into target.
  std::string_view Path() const;
  // Returns the query after '?' (without it, and without any fragment), or "" if none.
  std::string_view Query() const;
};

// An HTTP/1.x response. The server computes Content-Length, Connection and Date itself (a
// handler's Content-Length / Transfer-Encoding fields are ignored); the client returns the
// fields as received. A value type: copy freely; not synchronised.
struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  // Builds a response with the given status, Content-Type and body.
  static HttpResponse Make(int status, std::string_view content_type, std::string body);
  // Builds a "text/plain; charset=utf-8" response, e.g. Text(404, "not found\n").
  static HttpResponse Text(int status, std::string body);

  // Returns the first header called name (any case) or nullopt; the view lives as long as the
  // header entry.
  std::optional<std::string_view> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
  // Replaces any header called name (any case) by name: value.
  void SetHeader(std::string_view name, std::string value) {
    net::SetHeader(headers, name, std::move(value));
  }
  // Sets the Content-Type header.
  void SetContentType(std::string value) { SetHeader("Content-Type", std::move(value)); }
};

// The standard reason phrase for an HTTP status code ("Not Found"), or "" for unknown codes.
std::string_view ReasonPhrase(int status);

// Splits a listen or connect address "host:port" into its parts: "127.0.0.1:8555",
// "[::1]:443" (brackets removed from the returned host), "localhost:80". The port is required
// and must be 0..65535; an IPv6 literal must be bracketed; the host must be an IP literal or a
// DNS name. kInvalidArgument naming the input otherwise. Thread-safe (pure).
Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view address);

// Formats host and port back into "host:port", bracketing IPv6 literals ("[::1]:443").
std::string FormatHostPort(std::string_view host, uint16_t port);

// The current time as an IMF-fixdate for the Date header (RFC 9110 §5.6.7), recomputed at most
// once a second per thread. The view stays valid on the calling thread until its next call.
std::string_view HttpDateNow();

}  // namespace autoseal::net
