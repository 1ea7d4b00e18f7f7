#include "gateway/internal/http_head.h"

#include <cstring>
#include <initializer_list>

namespace autoseal::gateway::internal {
namespace {

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
// "_" / "`" / "|" / "~" / DIGIT / ALPHA.
constexpr std::array<bool, 256> MakeTokenTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kToken = MakeTokenTable();

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kToken[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, with SP and HTAB between them. CR, LF, NUL and
// the other controls are never allowed.
constexpr std::array<bool, 256> MakeFieldValueTable() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c < 256; ++c) t[c] = c != 0x7f;
  t[' '] = true;
  t['\t'] = true;
  return t;
}
constexpr std::array<bool, 256> kFieldValue = MakeFieldValueTable();
bool IsFieldValueChar(unsigned char c) { return kFieldValue[c]; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// One CRLF-terminated line starting at pos within data[0, limit): its end (the CR) or npos when
// no CRLF is there yet. A CR not followed by LF, or a bare LF, makes *bad true.
size_t LineEnd(std::string_view data, size_t pos, size_t limit, bool* bad) {
  const void* lf = std::memchr(data.data() + pos, '\n', limit - pos);
  if (lf == nullptr) return std::string_view::npos;
  size_t end = static_cast<const char*>(lf) - data.data();
  if (end == pos || data[end - 1] != '\r') {
    *bad = true;
    return std::string_view::npos;
  }
  return end - 1;
}

// No complete head within limit: more may come unless the limit is what cut it short.
HeadParse NoEndYet(std::string_view data, size_t limit) {
  return limit < data.size() ? HeadParse::kUnsupported : HeadParse::kIncomplete;
}

bool ParseVersion(std::string_view s, unsigned& version) {
  if (s == "HTTP/1.1") {
    version = 11;
  } else if (s == "HTTP/1.0") {
    version = 10;
  } else {
    return false;
  }
  return true;
}

// The start line (without its CRLF) in *line: kComplete, or why there is none.
HeadParse StartLine(std::string_view data, size_t limit, std::string_view& line) {
  bool bad = false;
  size_t end = LineEnd(data, 0, limit, &bad);
  if (bad) return HeadParse::kUnsupported;
  if (end == std::string_view::npos) return NoEndYet(data, limit);
  line = data.substr(0, end);
  return HeadParse::kComplete;
}

// The field lines after the start line, from pos; fills fields and *size.
HeadParse ParseFields(std::string_view data, size_t pos, size_t limit, HeadFields& fields,
                      size_t* size) {
  fields.count = 0;
  for (;;) {
    bool bad = false;
    size_t end = LineEnd(data, pos, limit, &bad);
    if (bad) return HeadParse::kUnsupported;
    if (end == std::string_view::npos) {
      return NoEndYet(data, limit);
    }
    std::string_view line = data.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty()) {
      *size = pos;
      return HeadParse::kComplete;
    }
    // RFC 9112 §5.2: obs-fold (a line starting with SP or HTAB) is left to the general parser,
    // as is whitespace between the name and the colon (§5.1: rejected with 400).
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return HeadParse::kUnsupported;
    std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return HeadParse::kUnsupported;
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      if (!IsFieldValueChar(static_cast<unsigned char>(c))) return HeadParse::kUnsupported;
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (fields.count == kMaxHeadFields) return HeadParse::kUnsupported;
    fields.fields[fields.count++] = HeadField{name, value};
  }
}

}  // namespace

size_t HeadFields::Count(std::string_view name) const {
  size_t n = 0;
  for (const HeadField& f : *this) n += EqualsNoCase(f.name, name) ? 1 : 0;
  return n;
}

const HeadField* HeadFields::Find(std::string_view name) const {
  for (const HeadField& f : *this) {
    if (EqualsNoCase(f.name, name)) return &f;
  }
  return nullptr;
}

HeadParse ParseRequestHead(std::string_view data, size_t max_bytes, RequestHead& out) {
  size_t limit = std::min(data.size(), max_bytes);
  std::string_view line;
  if (HeadParse start = StartLine(data, limit, line); start != HeadParse::kComplete) return start;
  const size_t end = line.size();
  // RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single spaces.
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HeadParse::kUnsupported;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HeadParse::kUnsupported;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!IsToken(out.method) || out.target.empty()) return HeadParse::kUnsupported;
  for (char c : out.target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return HeadParse::kUnsupported;
  }
  if (!ParseVersion(line.substr(sp2 + 1), out.version)) return HeadParse::kUnsupported;
  return ParseFields(data, end + 2, limit, out.fields, &out.size);
}

HeadParse ParseResponseHead(std::string_view data, size_t max_bytes, ResponseHead& out) {
  size_t limit = std::min(data.size(), max_bytes);
  std::string_view line;
  if (HeadParse start = StartLine(data, limit, line); start != HeadParse::kComplete) return start;
  const size_t end = line.size();
  // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
  if (line.size() < 13 || line[8] != ' ' || line[12] != ' ') return HeadParse::kUnsupported;
  if (!ParseVersion(line.substr(0, 8), out.version)) return HeadParse::kUnsupported;
  out.status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return HeadParse::kUnsupported;
    out.status = out.status * 10 + static_cast<unsigned>(line[i] - '0');
  }
  if (out.status < 100) return HeadParse::kUnsupported;
  out.reason = line.substr(13);
  for (char c : out.reason) {
    if (!IsFieldValueChar(static_cast<unsigned char>(c))) return HeadParse::kUnsupported;
  }
  return ParseFields(data, end + 2, limit, out.fields, &out.size);
}

bool ListHasOnly(std::string_view value, std::initializer_list<std::string_view> allowed,
                 bool* has_close) {
  *has_close = false;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) {
      bool known = false;
      for (std::string_view a : allowed) known = known || EqualsNoCase(item, a);
      if (!known) return false;
      if (EqualsNoCase(item, "close")) *has_close = true;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return true;
}

bool ParseContentLength(std::string_view value, size_t& length) {
  if (value.empty() || value.size() > 15) return false;
  length = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    length = length * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

}  // namespace autoseal::gateway::internal
