#pragma once

// A strict HTTP/1.1 request parser over bytes already in memory (RFC 9112), for servers that
// manage their own sockets and buffers: it allocates nothing but the header list it fills (whose
// capacity a caller keeps across requests), and every view it returns points into the input.
// Thread-safe (pure functions; a RequestHead belongs to one caller).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace autoseal::net {

// What ParseRequestHead found. status: kComplete (head_bytes is the length of the request line
// and fields with the final CRLF CRLF), kIncomplete (read more and call again with the longer
// input), or kError (answer http_status and close: 400 malformed, 431 head larger than the limit,
// 501 unknown transfer coding, 505 unsupported HTTP version, 417 unknown expectation; problem
// says why, for logs).
struct RequestHead {
  enum class Status { kIncomplete, kComplete, kError };
  Status status = Status::kIncomplete;
  int http_status = 0;
  std::string_view problem;

  std::string_view method;
  std::string_view target;
  int minor_version = 1;                                              // HTTP/1.0 or HTTP/1.1
  std::vector<std::pair<std::string_view, std::string_view>> fields;  // values without OWS
  size_t head_bytes = 0;
  // The body's framing (RFC 9112 §6.3): chunked, else content_length (0 when absent).
  bool chunked = false;
  uint64_t content_length = 0;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  bool expect_continue = false;  // "Expect: 100-continue" on HTTP/1.1
};

// Parses the request head at the start of input into head (reusing head->fields' capacity).
// Strict: CRLF line ends only, no whitespace before a field's colon, no obs-fold, no control
// characters in values, exactly one Host on HTTP/1.1, Content-Length digits only (repeats must
// agree), no Content-Length beside Transfer-Encoding, "chunked" as the only transfer coding.
// Up to two empty lines before the request line are skipped (RFC 9112 §2.2). A head longer than
// max_head_bytes is kError/431.
void ParseRequestHead(std::string_view input, size_t max_head_bytes, RequestHead* head);

// Where DecodeChunkedBody left off in one body; a fresh value for every request.
struct ChunkedProgress {
  size_t wire = 0;  // bytes of input consumed by complete chunks (and trailer lines)
  bool in_trailer = false;
  size_t trailer_start = 0;
};

// Decodes a chunked body (RFC 9112 §7.1) incrementally. input is the body's wire bytes received
// so far, from its first byte (the same start on every call, longer each time); complete chunks
// are appended to *body once, and *progress remembers where to resume, so each wire byte is
// examined about once however the body is split across reads. Returns the bytes consumed
// (through the trailer section's final CRLF) when complete, 0 when more input is needed, -400
// for a malformed body (including a chunk-size line over 1 KiB or a trailer section over 8 KiB),
// or -413 when the decoded body would exceed max_body_bytes. Chunk extensions and trailer fields
// are skipped.
long DecodeChunkedBody(std::string_view input, size_t max_body_bytes, std::string* body,
                       ChunkedProgress* progress);

}  // namespace autoseal::net

namespace autoseal::net {

struct HttpResponse;

// Appends the HTTP/1.1 wire form of response to *out: status line, the handler's fields (minus
// Content-Length, Transfer-Encoding and Connection, which are the server's), Date unless given,
// Content-Length, "Connection: close" when !keep_alive, then the body unless head (RFC 9110
// §9.3.2: HEAD gets GET's fields); to an HTTP/1.0 request (minor_version 0) that stays open,
// "Connection: keep-alive". A response whose status is outside 200..999 or whose fields carry
// forbidden characters (response splitting) becomes a plain 500 with "Connection: close".
// Returns whether the connection stays open: keep_alive, or false after such a downgrade.
bool SerializeResponse(const HttpResponse& response, bool keep_alive, bool head, std::string* out,
                       int minor_version = 1);

}  // namespace autoseal::net
