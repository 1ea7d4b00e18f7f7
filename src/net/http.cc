#include "net/http.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace autoseal::net {
namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool IsIpv4Literal(const std::string& s) {
  in_addr addr;
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool IsIpv6Literal(const std::string& s) {
  in6_addr addr;
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// RFC 1123 §2.1 host names: dot-separated labels of letters, digits and hyphens, no label
// starting or ending with a hyphen. (Underscores are tolerated: some internal names use them.)
bool IsDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label_len = 0;
  char prev = '.';
  for (char c : s) {
    if (c == '.') {
      if (label_len == 0 || prev == '-') return false;
      label_len = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || (c == '-' && label_len > 0)) {
      if (++label_len > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return prev != '-';
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

void SetHeader(HttpHeaders& headers, std::string_view name, std::string value) {
  std::erase_if(headers, [&](const auto& field) { return EqualsIgnoreCase(field.first, name); });
  headers.emplace_back(std::string(name), std::move(value));
}

std::string_view HttpRequest::Path() const {
  std::string_view t = target;
  return t.substr(0, t.find_first_of("?#"));
}

std::string_view HttpRequest::Query() const {
  std::string_view t = target;
  t = t.substr(0, t.find('#'));
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

HttpResponse HttpResponse::Make(int status, std::string_view content_type, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", std::string(content_type));
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  return Make(status, "text/plain; charset=utf-8", std::move(body));
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view address) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "invalid address \"" + std::string(address) + "\": " + std::string(why));
  };
  std::string host;
  std::string_view port_text;
  if (address.starts_with('[')) {
    size_t close = address.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after IPv6 address");
    host = std::string(address.substr(1, close - 1));
    if (!IsIpv6Literal(host)) return bad("not an IPv6 address inside [...]");
    std::string_view rest = address.substr(close + 1);
    if (!rest.starts_with(':')) return bad("expected \":port\" after ']'");
    port_text = rest.substr(1);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad("expected host:port");
    host = std::string(address.substr(0, colon));
    if (host.find(':') != std::string::npos) {
      return bad("IPv6 addresses must be written in brackets, e.g. [::1]:443");
    }
    if (host.empty()) return bad("missing host (use 0.0.0.0 or [::] for all interfaces)");
    if (!IsIpv4Literal(host) && !IsDnsName(host))
      return bad("host is neither an IP nor a DNS name");
    port_text = address.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return bad("port must be a number 0..65535");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("port must be a number 0..65535");
  }
  return std::pair<std::string, uint16_t>(std::move(host), static_cast<uint16_t>(port));
}

std::string FormatHostPort(std::string_view host, uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  out.append(":").append(std::to_string(port));
  return out;
}

std::string_view HttpDateNow() {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm;
    gmtime_r(&now, &tm);
    std::snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    cached_second = now;
  }
  return cached;
}

}  // namespace autoseal::net
