#include "smime/internal/ber.h"

#include <string>

namespace autoseal::smime::ber {
namespace {

std::unexpected<Error> Malformed(std::string_view what, std::string_view why) {
  return Fail(ErrorCode::kParse, std::string(what) + ": " + std::string(why));
}

struct Header {
  uint8_t tag;
  bool indefinite;
  size_t header_length;
  size_t length;  // definite only
};

// Reads the identifier and length octets at data[pos..].
Result<Header> ReadHeader(ByteView data, size_t pos) {
  const size_t n = data.size();
  if (pos >= n) return Fail(ErrorCode::kParse, "BER: unexpected end of data");
  const uint8_t tag = data[pos];
  if ((tag & 0x1f) == 0x1f) return Fail(ErrorCode::kParse, "BER: multi-byte tags are not supported");
  size_t p = pos + 1;
  if (p >= n) return Fail(ErrorCode::kParse, "BER: truncated length");
  size_t len = data[p++];
  Header h{tag, false, 0, 0};
  if (len == 0x80) {
    // X.690 §8.1.3.6: only constructed encodings may use the indefinite form.
    if (!(tag & kConstructedBit)) return Fail(ErrorCode::kParse, "BER: indefinite length on a primitive");
    h.indefinite = true;
  } else if (len & 0x80) {
    const size_t count = len & 0x7f;
    if (count == 0x7f) return Fail(ErrorCode::kParse, "BER: reserved length octet");
    if (n - p < count) return Fail(ErrorCode::kParse, "BER: truncated length");
    len = 0;
    for (size_t i = 0; i < count; ++i) {
      if (len >> 48) return Fail(ErrorCode::kParse, "BER: length too large");
      len = (len << 8) | data[p++];
    }
    h.length = len;
  } else {
    h.length = len;
  }
  h.header_length = p - pos;
  if (!h.indefinite && n - p < h.length)
    return Fail(ErrorCode::kParse, "BER: element longer than its data (truncated?)");
  return h;
}

// Finds the end of the indefinite-length contents starting at pos: returns the offset of the
// end-of-contents octets. depth counts the nesting levels already entered.
Result<size_t> FindEndOfContents(ByteView data, size_t pos, int depth) {
  if (depth > kMaxDepth) return Fail(ErrorCode::kParse, "BER: nesting too deep");
  while (true) {
    if (data.size() - pos < 2) return Fail(ErrorCode::kParse, "BER: missing end-of-contents (truncated?)");
    if (data[pos] == 0 && data[pos + 1] == 0) return pos;
    Header h = TRY(ReadHeader(data, pos));
    if (h.tag == 0) return Fail(ErrorCode::kParse, "BER: malformed end-of-contents");
    size_t start = pos + h.header_length;
    if (h.indefinite) {
      size_t eoc = TRY(FindEndOfContents(data, start, depth + 1));
      pos = eoc + 2;
    } else {
      pos = start + h.length;
    }
  }
}

}  // namespace

std::optional<uint8_t> Reader::PeekTag() const {
  if (empty()) return std::nullopt;
  return data_[pos_];
}

Result<Element> Reader::Next() {
  Header h = TRY(ReadHeader(data_, pos_));
  if (h.tag == 0) return Fail(ErrorCode::kParse, "BER: unexpected end-of-contents");
  Element e;
  e.tag = h.tag;
  e.indefinite = h.indefinite;
  const size_t start = pos_ + h.header_length;
  size_t end;
  if (h.indefinite) {
    const size_t eoc = TRY(FindEndOfContents(data_, start, depth_ + 1));
    e.contents = data_.subspan(start, eoc - start);
    end = eoc + 2;
  } else {
    e.contents = data_.subspan(start, h.length);
    end = start + h.length;
  }
  e.encoding = data_.subspan(pos_, end - pos_);
  pos_ = end;
  return e;
}

Result<Element> Reader::Expect(uint8_t tag, std::string_view what) {
  if (empty()) return Malformed(what, "missing");
  if (data_[pos_] != tag) {
    // BER lets a string be primitive or constructed; callers name the form they accept.
    return Malformed(what, "unexpected tag");
  }
  return TRY_CONTEXT(Next(), what);
}

Result<std::optional<Element>> Reader::Optional(uint8_t tag) {
  if (empty() || data_[pos_] != tag) return std::optional<Element>();
  Element e = TRY(Next());
  return std::optional<Element>(e);
}

Status Reader::ExpectEnd(std::string_view what) const {
  if (!empty()) return Malformed(what, "unexpected trailing data");
  return Ok();
}

Result<Reader> Reader::Enter(const Element& e, std::string_view what) const {
  if (depth_ + 1 > kMaxDepth) return Malformed(what, "nesting too deep");
  return Reader(e.contents, depth_ + 1);
}

Result<Element> ParseFirst(ByteView input, std::string_view what, bool allow_trailing) {
  Reader r(input);
  Element e = TRY_CONTEXT(r.Next(), what);
  if (!allow_trailing) {
    // Trailing zero bytes are tolerated (some tools pad); anything else is an error.
    ByteView rest = input.subspan(e.encoding.size());
    for (uint8_t b : rest)
      if (b != 0) return Malformed(what, "unexpected trailing data");
  }
  return e;
}

namespace {

Status Collect(const Element& e, int depth, std::string_view what, std::vector<ByteView>& out) {
  if (!e.constructed()) {
    // An empty piece adds nothing but a 16-byte view (8 times its 2-byte encoding): skipped.
    if (e.contents.empty()) return Ok();
    if (out.size() >= kMaxSegments) return Malformed(what, "too many constructed string pieces");
    out.push_back(e.contents);
    return Ok();
  }
  if (depth > kMaxDepth) return Malformed(what, "nesting too deep");
  Reader r(e.contents, depth + 1);
  while (!r.empty()) {
    Element piece = TRY_CONTEXT(r.Next(), what);
    // X.690 §8.7.3.2: the pieces of a constructed OCTET STRING are OCTET STRINGs.
    if ((piece.tag & ~kConstructedBit) != 0x04) return Malformed(what, "constructed string piece is not an OCTET STRING");
    TRY(Collect(piece, depth + 1, what, out));
  }
  return Ok();
}

}  // namespace

Result<std::vector<ByteView>> OctetSegments(const Element& e, int depth, std::string_view what) {
  std::vector<ByteView> out;
  TRY(Collect(e, depth, what, out));
  return out;
}

Result<Bytes> OctetString(const Element& e, int depth, std::string_view what) {
  if (!e.constructed()) return Bytes(e.contents.begin(), e.contents.end());
  std::vector<ByteView> segments = TRY(OctetSegments(e, depth, what));
  size_t total = 0;
  for (ByteView s : segments) total += s.size();
  Bytes out;
  out.reserve(total);
  for (ByteView s : segments) out.insert(out.end(), s.begin(), s.end());
  return out;
}

}  // namespace autoseal::smime::ber
