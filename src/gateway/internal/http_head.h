#pragma once

// A strict, bounded HTTP/1.1 message-head parser for the proxy's fast path, private to gateway/.
// It reads a request or response head in place (views into the caller's bytes, no allocation)
// and accepts only what RFC 9112 calls well-formed, with none of the leniencies a general parser
// must weigh: no obs-fold, no bare LF, no whitespace before a field's colon, no leading empty
// lines, at most kMaxHeadFields fields. Anything else is kUnsupported, and the caller hands the
// same bytes to the general (Beast) parser, which accepts, repairs or refuses them with the
// proper status: this parser never answers a client itself. Pure and thread-safe.

#include <array>
#include <cstddef>
#include <string_view>

namespace autoseal::gateway::internal {

inline constexpr size_t kMaxHeadFields = 64;

struct HeadField {
  std::string_view name;   // a token (RFC 9110 §5.1), as sent
  std::string_view value;  // without leading and trailing whitespace (RFC 9112 §5)
};

struct HeadFields {
  std::array<HeadField, kMaxHeadFields> fields;
  size_t count = 0;

  const HeadField* begin() const { return fields.data(); }
  const HeadField* end() const { return fields.data() + count; }
  // How many fields have this name (any case), and the first of them (nullptr for none).
  size_t Count(std::string_view name) const;
  const HeadField* Find(std::string_view name) const;
};

struct RequestHead {
  std::string_view method;  // a token
  std::string_view target;  // visible characters, at least one
  unsigned version = 0;     // 10 or 11
  size_t size = 0;          // bytes up to and including the empty line
  HeadFields fields;
};

struct ResponseHead {
  unsigned version = 0;  // 10 or 11
  unsigned status = 0;   // 100..999
  std::string_view reason;
  size_t size = 0;  // bytes up to and including the empty line
  HeadFields fields;
};

enum class HeadParse {
  kComplete,     // out is filled in
  kIncomplete,   // well-formed so far, the empty line not yet within data (and data < max_bytes)
  kUnsupported,  // not strictly well-formed, too large or too many fields: use the general parser
};

// RFC 9112 §3: request-line CRLF *( field-line CRLF ) CRLF within the first max_bytes of data.
HeadParse ParseRequestHead(std::string_view data, size_t max_bytes, RequestHead& out);

// RFC 9112 §4: status-line CRLF *( field-line CRLF ) CRLF within the first max_bytes of data.
HeadParse ParseResponseHead(std::string_view data, size_t max_bytes, ResponseHead& out);

// Whether a comma-separated list value (RFC 9110 §5.6.1) holds only tokens from allowed (lower
// case), compared without case; empty elements are skipped. Sets *has_close when "close" is one
// of them.
bool ListHasOnly(std::string_view value, std::initializer_list<std::string_view> allowed,
                 bool* has_close);

// RFC 9110 §8.6: Content-Length = 1*DIGIT. False for anything else (a list, a sign, spaces
// inside, more than 15 digits).
bool ParseContentLength(std::string_view value, size_t& length);

}  // namespace autoseal::gateway::internal
