#pragma once

// A minimal DER reader for the CT log's hot path: splitting certificates into the fields the log
// needs without OpenSSL's decoders (which cost ~150 µs per public key in OpenSSL 3.0). Private to
// ct/.

#include <cstdint>
#include <optional>

#include "core/bytes.h"
#include "core/clock.h"

namespace autoseal::ct::internal {

// DER tags used here (X.690 §8).
inline constexpr uint8_t kTagBoolean = 0x01;
inline constexpr uint8_t kTagInteger = 0x02;
inline constexpr uint8_t kTagBitString = 0x03;
inline constexpr uint8_t kTagOctetString = 0x04;
inline constexpr uint8_t kTagNull = 0x05;
inline constexpr uint8_t kTagOid = 0x06;
inline constexpr uint8_t kTagUtcTime = 0x17;
inline constexpr uint8_t kTagGeneralizedTime = 0x18;
inline constexpr uint8_t kTagSequence = 0x30;
inline constexpr uint8_t kTagSet = 0x31;

// One element: its tag, its whole encoding (header included) and its contents.
struct Tlv {
  uint8_t tag = 0;
  ByteView full;
  ByteView value;
};

// Reads consecutive DER elements from a buffer. Only single-byte tags and definite, minimal
// lengths are accepted; anything else makes Next() return false. Never reads out of bounds.
class DerReader {
 public:
  explicit DerReader(ByteView data) : rest_(data) {}
  [[nodiscard]] bool Next(Tlv* out);
  // Reads the next element and checks its tag.
  [[nodiscard]] bool Expect(uint8_t tag, Tlv* out);
  // Reads the next element only if it has the tag (for OPTIONAL / DEFAULT fields).
  [[nodiscard]] bool Optional(uint8_t tag, Tlv* out, bool* present);
  bool empty() const { return rest_.empty(); }
  uint8_t PeekTag() const { return rest_.empty() ? 0 : rest_[0]; }

 private:
  ByteView rest_;
};

// Appends a DER header for (tag, length) to out.
void AppendHeader(Bytes& out, uint8_t tag, size_t length);

// Parses UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ).
std::optional<TimePoint> ParseTime(const Tlv& t);

}  // namespace autoseal::ct::internal
