#pragma once

// DER (X.690) for the structures autoseal encodes and parses itself: certificates on the issuance
// fast path, RFC 3161 / RFC 5652 messages. The reader accepts DER only: single-byte tags,
// definite minimal lengths, nothing past the end of its input; it never reads out of bounds, so it
// is safe on hostile bytes. Free of OpenSSL.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"

namespace autoseal::der {


// Universal and context tags used here (class and constructed bits included).
inline constexpr uint8_t kBoolean = 0x01;
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kBitString = 0x03;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kNull = 0x05;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kUtf8String = 0x0c;
inline constexpr uint8_t kUtcTime = 0x17;
inline constexpr uint8_t kGeneralizedTime = 0x18;
inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kSet = 0x31;
inline constexpr uint8_t ContextPrimitive(int n) { return static_cast<uint8_t>(0x80 | n); }
inline constexpr uint8_t ContextConstructed(int n) { return static_cast<uint8_t>(0xa0 | n); }

// One element: its tag, its contents, and the whole TLV encoding (views into the input).
struct Element {
  uint8_t tag = 0;
  ByteView contents;
  ByteView encoding;
};

// Reads consecutive DER elements from a byte range. Not thread-safe; cheap to copy.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  bool empty() const { return pos_ >= data_.size(); }
  // The tag of the next element, or nullopt at the end.
  std::optional<uint8_t> PeekTag() const;
  // Reads the next element; kParse on malformed or truncated input.
  Result<Element> Next();
  // Reads the next element and checks its tag; kParse naming what was expected otherwise.
  Result<Element> Expect(uint8_t tag, std::string_view what);
  // Reads the next element only if it has this tag.
  Result<std::optional<Element>> Optional(uint8_t tag);
  // kParse if anything is left.
  Status ExpectEnd(std::string_view what) const;

 private:
  ByteView data_;
  size_t pos_ = 0;
};

// Parses exactly one element spanning all of data.
Result<Element> ParseSingle(ByteView data, uint8_t tag, std::string_view what);

// INTEGER contents checks: minimal encoding, and (for the positive variant) not negative.
Status CheckInteger(ByteView contents, std::string_view what);
Status CheckPositiveInteger(ByteView contents, std::string_view what);
// Small non-negative INTEGER (up to 2^62) from contents.
Result<int64_t> SmallInteger(ByteView contents, std::string_view what);

// The time in a UTCTime (YYMMDDHHMMSSZ, years 1950-2049 per RFC 5280 §4.1.2.5.1) or
// GeneralizedTime (YYYYMMDDHHMMSSZ) element: the forms Writer::Time writes and RFC 5280 allows.
// kParse naming `what` for any other tag, fractions, offsets or impossible dates.
Result<TimePoint> ParseTime(const Element& e, std::string_view what);

// Object identifiers: dotted text <-> DER contents (arcs up to 128 bits, enough for 2.25.UUID).
Result<Bytes> EncodeOid(std::string_view dotted);
std::string OidToString(ByteView contents);  // "" if malformed

// ---- Writing ----

// Appends tag and definite length.
void AppendHeader(Bytes& out, uint8_t tag, size_t length);
// Length of a TLV with contents of this size.
size_t EncodedSize(size_t content_length);
// Appends a complete TLV.
void AppendTlv(Bytes& out, uint8_t tag, ByteView contents);
Bytes Tlv(uint8_t tag, ByteView contents);
// A TLV whose contents are the concatenation of parts.
Bytes Wrap(uint8_t tag, std::initializer_list<ByteView> parts);
// DER INTEGER contents for a non-negative big-endian magnitude (leading zeros stripped, 0x00
// prepended when the top bit is set).
Bytes UnsignedIntegerContents(ByteView magnitude);
Bytes Integer(int64_t value);  // complete TLV, value >= 0
// X.690 §11.6 order of two encodings in a SET OF (the shorter padded with trailing zeros).
bool SetOfLess(ByteView a, ByteView b);
// Sorts DER encodings into SET OF order (X.690 §11.6) and concatenates them.
Bytes SortedSetContents(std::vector<Bytes> elements);


// Appends DER to a buffer. Constructed values are opened with Begin and closed with End, which
// writes the definite length in front of the contents once it is known. Not thread-safe.
class Writer {
 public:
  explicit Writer(size_t reserve = 0) { out_.reserve(reserve); }

  // Opens a constructed value; returns the handle End needs. Nest freely.
  size_t Begin(uint8_t tag);
  void End(size_t handle);

  void Tlv(uint8_t tag, ByteView contents);
  void Tlv(uint8_t tag, std::string_view contents) { Tlv(tag, AsBytes(contents)); }
  // Pre-encoded DER, copied as is.
  void Raw(ByteView der) { out_.insert(out_.end(), der.begin(), der.end()); }
  // OID from its DER contents (the bytes after 06 len), e.g. "\x55\x1d\x13" for 2.5.29.19.
  void Oid(std::string_view contents) { Tlv(kOid, contents); }
  // INTEGER from a non-negative big-endian magnitude: leading zeros dropped, 0x00 prepended
  // when the top bit is set (X.690 §8.3.2).
  void UnsignedInteger(ByteView magnitude);
  void Boolean(bool value);
  // A BIT STRING of named bits (X.690 §11.2.2: trailing zero bits removed). Bit n of the value
  // is bit n of the string, as RFC 5280 numbers KeyUsage bits.
  void NamedBits(uint32_t bits);
  // Time per RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ for 1950-2049, GeneralizedTime
  // YYYYMMDDHHMMSSZ otherwise (whole seconds). kInvalidArgument outside years 0-9999.
  Status Time(TimePoint t);

  const Bytes& bytes() const { return out_; }
  Bytes Take() { return std::move(out_); }

 private:
  Bytes out_;
};

// One DER element read from the front of input: tag, contents, and what follows it. nullopt when
// input does not start with a well-formed definite-length element (minimal length encoding).
struct FrontElement {
  uint8_t tag = 0;
  ByteView contents;
  ByteView rest;
};
std::optional<FrontElement> ReadElement(ByteView input);

}  // namespace autoseal::der
