#pragma once

// A bounded BER (X.690) reader for CMS input: definite lengths in any form (non-minimal too),
// indefinite lengths ended by end-of-contents octets, constructed strings, as `openssl cms
// -stream`, gpgsm and other S/MIME producers write them. Elements are views into the input;
// nothing is copied. Nesting is limited to kMaxDepth levels, so hostile input cannot exhaust the
// stack; every read is bounds-checked. Private to smime/.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::smime::ber {

inline constexpr int kMaxDepth = 48;
// The most non-empty pieces a constructed OCTET STRING may have (OctetSegments): writers use
// pieces of 1000 bytes (X.690 §11.4 CER) or more, so 2^20 pieces is 1 GB of content, while the
// views of tiny hostile pieces would otherwise take 5 times the input.
inline constexpr size_t kMaxSegments = size_t{1} << 20;
inline constexpr uint8_t kConstructedBit = 0x20;

struct Element {
  uint8_t tag = 0;          // identifier octet (single-byte tags only)
  bool indefinite = false;  // length was 0x80 (contents end with 00 00, excluded below)
  ByteView contents;        // the contents octets (for indefinite: up to the end-of-contents)
  ByteView encoding;        // the whole element (header, contents, end-of-contents)
  bool constructed() const { return (tag & kConstructedBit) != 0; }
};

// Reads consecutive elements from a range. depth is the nesting level of the range (the reader
// of an element's contents is one deeper: use Element Reader::Enter). Cheap to copy.
class Reader {
 public:
  explicit Reader(ByteView data, int depth = 0) : data_(data), depth_(depth) {}

  bool empty() const { return pos_ >= data_.size(); }
  std::optional<uint8_t> PeekTag() const;
  // kParse on malformed or truncated input, naming what went wrong.
  Result<Element> Next();
  Result<Element> Expect(uint8_t tag, std::string_view what);
  // The next element only if it has this tag.
  Result<std::optional<Element>> Optional(uint8_t tag);
  Status ExpectEnd(std::string_view what) const;
  // A reader over e's contents, one level deeper; kParse beyond kMaxDepth.
  Result<Reader> Enter(const Element& e, std::string_view what) const;
  int depth() const { return depth_; }

 private:
  ByteView data_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// Parses the single element that input starts with (trailing bytes are allowed and ignored when
// allow_trailing, as after a DER blob padded by a transport).
Result<Element> ParseFirst(ByteView input, std::string_view what, bool allow_trailing = false);

// The segments of an OCTET STRING (or an [n] IMPLICIT OCTET STRING): one view for the primitive
// form, the primitive pieces in order for the constructed form (nested constructed pieces too).
Result<std::vector<ByteView>> OctetSegments(const Element& e, int depth, std::string_view what);
// The same, concatenated.
Result<Bytes> OctetString(const Element& e, int depth, std::string_view what);

}  // namespace autoseal::smime::ber
