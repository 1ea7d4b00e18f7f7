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
    if (input.size() > max_head_bytes) return Error(head, 431, "request head too large");
    // A client that ends lines with a bare LF would otherwise wait for a CRLF CRLF that never
    // comes until the read timeout; tell it now (RFC 9112 §2.2 allows a server to reject them).
    for (size_t lf = input.find('\n', pos); lf != std::string_view::npos;
         lf = input.find('\n', lf + 1))
      if (lf == 0 || input[lf - 1] != '\r') return Error(head, 400, "bare LF in the request head");
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
  int hosts = 0, expects = 0;
  bool have_length = false, have_te = false, conn_close = false, conn_keep_alive = false;
  std::string_view expect;
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
      // RFC 9110 §5.3: repeated field lines form one list; an option in any of them counts.
      conn_close = conn_close || ListHas(value, "close");
      conn_keep_alive = conn_keep_alive || ListHas(value, "keep-alive");
    } else if (EqualsIgnoreCase(name, "Expect")) {
      ++expects;
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
  head->keep_alive = !conn_close && (head->minor_version == 1 || conn_keep_alive);
  if (expects > 0 && head->minor_version == 1) {
    // RFC 9110 §10.1.1: an unknown expectation may be answered with 417.
    if (expects > 1 || !EqualsIgnoreCase(expect, "100-continue"))
      return Error(head, 417, "unsupported expectation");
    head->expect_continue = true;
  }
  head->status = RequestHead::Status::kComplete;
}

long DecodeChunkedBody(std::string_view input, size_t max_body_bytes, std::string* body,
                       ChunkedProgress* progress) {
  // A chunk-size line (with any extensions) or a trailer field line longer than this is refused:
  // nothing legitimate needs more, and without a bound a client could make the server buffer
  // unlimited wire bytes for a small body.
  constexpr size_t kMaxLine = 1024;
  constexpr size_t kMaxTrailerSection = 8192;
  size_t pos = progress->wire;
  while (!progress->in_trailer) {
    // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    size_t eol = input.find("\r\n", pos);
    if (eol == std::string_view::npos) return input.size() - pos > kMaxLine ? -400 : 0;
    if (eol - pos > kMaxLine) return -400;
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
      if (size_end == 15) return -400;  // beyond any body limit
      size = size * 16 + static_cast<uint64_t>(digit);
      ++size_end;
    }
    if (size_end == 0) return -400;
    // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ).
    // After the size only whitespace followed by ';' may come; "2 garbage" is refused, since
    // such leniency is where chunk-framing smuggling behind another parser starts.
    std::string_view ext = line.substr(size_end);
    while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
    if (ext.size() != line.size() - size_end && ext.empty()) return -400;
    if (!ext.empty() && ext.front() != ';') return -400;
    for (unsigned char c : ext)
      if (!IsFieldChar(c)) return -400;
    if (size == 0) {
      pos = eol + 2;
      progress->in_trailer = true;
      progress->wire = pos;
      progress->trailer_start = pos;
      break;
    }
    if (body->size() + size > max_body_bytes) return -413;
    size_t data = eol + 2;
    if (input.size() - data < size + 2) return 0;  // resume at this chunk's size line
    if (input.substr(data + size, 2) != "\r\n") return -400;
    body->append(input.substr(data, size));
    pos = data + size + 2;
    progress->wire = pos;
  }
  // trailer-section = *( field-line CRLF ) CRLF
  for (;;) {
    size_t eol = input.find("\r\n", pos);
    if (eol == std::string_view::npos)
      return input.size() - progress->trailer_start > kMaxTrailerSection ? -400 : 0;
    std::string_view line = input.substr(pos, eol - pos);
    pos = eol + 2;
    if (pos - progress->trailer_start > kMaxTrailerSection) return -400;
    progress->wire = pos;
    if (line.empty()) return static_cast<long>(pos);
    for (unsigned char c : line)
      if (!IsFieldChar(c)) return -400;
  }
}

}  // namespace autoseal::net

namespace autoseal::net {

bool SerializeResponse(const HttpResponse& response, bool keep_alive, bool head, std::string* out,
                       int minor_version) {
  bool valid = response.status >= 200 && response.status <= 999;
  for (const auto& [name, value] : response.headers) {
    for (unsigned char c : name) valid = valid && IsTchar(c);
    valid = valid && !name.empty() &&
            value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
  }
  if (!valid) {
    SerializeResponse(HttpResponse::Text(500, "Internal Server Error\n"), false, head, out,
                      minor_version);
    return false;
  }
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
  // RFC 9112 §9.3: an HTTP/1.0 client closes unless told the connection persists.
  out->append(!keep_alive          ? "\r\nConnection: close\r\n\r\n"
              : minor_version == 0 ? "\r\nConnection: keep-alive\r\n\r\n"
                                   : "\r\n\r\n");
  if (!head) out->append(response.body);
  return keep_alive;
}

}  // namespace autoseal::net
