#include "net/request_parser.h"

#include <cstring>

#include "net/http.h"

namespace autoseal::net {
namespace {

// RFC 9110 §5.6.2 tchar.
constexpr bool IsTchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// RFC 9110 §5.5 field-vchar / obs-text, plus SP and HTAB inside a value.
constexpr bool IsFieldChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

// RFC 9112 §3.2 request-target: visible ASCII only (no whitespace, controls or non-ASCII).
constexpr bool IsTargetChar(unsigned char c) { return c > 0x20 && c < 0x7f; }

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

void Error(RequestHead* head, int status, std::string_view problem) {
  head->status = RequestHead::Status::kError;
  head->http_status = status;
  head->problem = problem;
}

// Whether a comma-separated list of tokens (Connection) holds token, ignoring case.
bool ListHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (EqualsIgnoreCase(TrimOws(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool ParseDecimal(std::string_view digits, uint64_t* out) {
  if (digits.empty() || digits.size() > 18) return false;  // 10^18 bytes is beyond any limit
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

}  // namespace

void ParseRequestHead(std::string_view input, size_t max_head_bytes, RequestHead* head) {
  head->status = RequestHead::Status::kIncomplete;
  head->http_status = 0;
  head->problem = {};
  head->fields.clear();
  head->chunked = false;
  head->content_length = 0;
  head->expect_continue = false;
  // RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore
  // at least one empty line (CRLF) received prior to the request-line".
  size_t pos = 0;
  for (int i = 0; i < 2 && input.substr(pos, 2) == "\r\n"; ++i) pos += 2;
  size_t end = input.find("\r\n\r\n", pos);
  if (end == std::string_view::npos) {
    if (input.size() > max_head_bytes) Error(head, 431, "request head too large");
    return;
  }
  if (end + 4 > max_head_bytes) return Error(head, 431, "request head too large");
  head->head_bytes = end + 4;
  std::string_view block = input.substr(pos, end + 2 - pos);  // each line keeps its CRLF

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
  size_t eol = block.find("\r\n");
  std::string_view line = block.substr(0, eol);
  block.remove_prefix(eol + 2);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Error(head, 400, "malformed request line");
  head->method = line.substr(0, sp1);
  head->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (head->method.empty() || head->target.empty())
    return Error(head, 400, "malformed request line");
  for (unsigned char c : head->method)
    if (!IsTchar(c)) return Error(head, 400, "malformed method");
  for (unsigned char c : head->target)
    if (!IsTargetChar(c)) return Error(head, 400, "malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return Error(head, 400, "malformed HTTP version");
  if (version[5] != '1') return Error(head, 505, "HTTP version not supported");
  head->minor_version = version[7] == '0' ? 0 : 1;

  // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5)
  int hosts = 0;
  bool have_length = false, have_te = false;
  std::string_view connection, expect;
  while (!block.empty()) {
    eol = block.find("\r\n");
    line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.empty() || line.front() == ' ' || line.front() == '\t')
      return Error(head, 400, "obsolete line folding");  // RFC 9112 §5.2
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Error(head, 400, "malformed header field");
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!IsTchar(c)) return Error(head, 400, "malformed header field name");  // includes "name :"
    std::string_view value = TrimOws(line.substr(colon + 1));
    for (unsigned char c : value)
      if (!IsFieldChar(c)) return Error(head, 400, "control character in a header field");
    head->fields.emplace_back(name, value);
    if (EqualsIgnoreCase(name, "Host")) {
      ++hosts;
    } else if (EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t n = 0;
      if (!ParseDecimal(value, &n)) return Error(head, 400, "malformed Content-Length");
      // RFC 9112 §6.3: differing lengths make the framing ambiguous (request smuggling).
      if (have_length && n != head->content_length)
        return Error(head, 400, "conflicting Content-Length");
      have_length = true;
      head->content_length = n;
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (have_te) return Error(head, 501, "more than one Transfer-Encoding");
      have_te = true;
      // RFC 9112 §6.1: a server that does not understand a transfer coding SHOULD answer 501.
      if (!EqualsIgnoreCase(value, "chunked"))
        return Error(head, 501, "unsupported transfer coding");
    } else if (EqualsIgnoreCase(name, "Connection")) {
      connection = value;
    } else if (EqualsIgnoreCase(name, "Expect")) {
      expect = value;
    }
  }
  // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  // request message that lacks a Host header field and to any request message that contains more
  // than one Host header field line".
  if (hosts > 1 || (hosts == 0 && head->minor_version == 1))
    return Error(head, 400, "missing or repeated Host");
  if (have_te) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing; with Content-Length it
    // is a smuggling attempt. Refuse both instead of guessing.
    if (head->minor_version == 0)
      return Error(head, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (have_length) return Error(head, 400, "both Content-Length and Transfer-Encoding");
    head->chunked = true;
  }
  head->keep_alive =
      head->minor_version == 1 ? !ListHas(connection, "close") : ListHas(connection, "keep-alive");
  if (!expect.empty() && head->minor_version == 1) {
    // RFC 9110 §10.1.1: an unknown expectation may be answered with 417.
    if (!EqualsIgnoreCase(expect, "100-continue"))
      return Error(head, 417, "unsupported expectation");
    head->expect_continue = true;
  }
  head->status = RequestHead::Status::kComplete;
}

long DecodeChunkedBody(std::string_view input, size_t max_body_bytes, std::string* body) {
  const size_t original = body->size();
  auto fail = [&](long code) {
    body->resize(original);
    return code;
  };
  size_t pos = 0;
  for (;;) {
    // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    size_t eol = input.find("\r\n", pos);
    if (eol == std::string_view::npos) return input.size() - pos > 1024 ? fail(-400) : fail(0);
    std::string_view line = input.substr(pos, eol - pos);
    size_t size_end = 0;
    uint64_t size = 0;
    while (size_end < line.size()) {
      char c = line[size_end];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (digit < 0) break;
      if (size_end == 15) return fail(-400);  // beyond any body limit
      size = size * 16 + static_cast<uint64_t>(digit);
      ++size_end;
    }
    if (size_end == 0) return fail(-400);
    std::string_view ext = line.substr(size_end);
    if (!ext.empty() && ext.front() != ';' && ext.front() != ' ' && ext.front() != '\t')
      return fail(-400);
    for (unsigned char c : ext)
      if (!IsFieldChar(c)) return fail(-400);
    pos = eol + 2;
    if (size == 0) break;
    if (body->size() - original + size > max_body_bytes) return fail(-413);
    if (input.size() - pos < size + 2) return fail(0);
    if (input.substr(pos + size, 2) != "\r\n") return fail(-400);
    body->append(input.substr(pos, size));
    pos += size + 2;
  }
  // trailer-section = *( field-line CRLF ) CRLF
  for (;;) {
    size_t eol = input.find("\r\n", pos);
    if (eol == std::string_view::npos) return input.size() - pos > 8192 ? fail(-400) : fail(0);
    std::string_view line = input.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) return static_cast<long>(pos);
    for (unsigned char c : line)
      if (!IsFieldChar(c)) return fail(-400);
  }
}

}  // namespace autoseal::net

namespace autoseal::net {

void SerializeResponse(const HttpResponse& response, bool keep_alive, bool head, std::string* out) {
  bool valid = response.status >= 200 && response.status <= 999;
  for (const auto& [name, value] : response.headers) {
    for (unsigned char c : name) valid = valid && IsTchar(c);
    valid = valid && !name.empty() &&
            value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
  }
  if (!valid)
    return SerializeResponse(HttpResponse::Text(500, "Internal Server Error\n"), false, head, out);
  char number[24];
  auto append_number = [&](uint64_t n) {
    char* end = number + sizeof number;
    char* p = end;
    do {
      *--p = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    out->append(p, static_cast<size_t>(end - p));
  };
  out->append("HTTP/1.1 ");
  append_number(static_cast<uint64_t>(response.status));
  out->push_back(' ');
  out->append(ReasonPhrase(response.status));
  out->append("\r\n");
  bool has_date = false;
  for (const auto& [name, value] : response.headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Connection"))
      continue;
    has_date = has_date || EqualsIgnoreCase(name, "Date");
    out->append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_date) out->append("Date: ").append(HttpDateNow()).append("\r\n");
  out->append("Content-Length: ");
  append_number(response.body.size());
  out->append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  if (!head) out->append(response.body);
}

}  // namespace autoseal::net
