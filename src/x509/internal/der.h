#pragma once

// Private to x509/: a small DER (X.690) writer for the certificates x509/ encodes itself, and
// the few reads the issuance fast path needs. Definite lengths only, single-byte tags.

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"

namespace autoseal::x509::internal::der {

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

// The length of a TLV (header included) holding content_length bytes.
size_t EncodedSize(size_t content_length);

// One DER element read from the front of input: tag, contents, and what follows it. nullopt when
// input does not start with a well-formed definite-length element (minimal length encoding).
struct Element {
  uint8_t tag = 0;
  ByteView contents;
  ByteView rest;
};
std::optional<Element> ReadElement(ByteView input);

// Classifies a SubjectPublicKeyInfo by its algorithm and parameters alone, as
// crypto::PublicKey::Type() would for the key it encodes: id-ecPublicKey on P-256, P-384 or the
// SM2 curve, rsaEncryption of 2048, 3072 or 4096 bits, Ed25519. nullopt for anything else or
// for malformed DER (the caller then asks OpenSSL).
std::optional<crypto::KeyType> ClassifySubjectPublicKeyInfo(ByteView spki);

}  // namespace autoseal::x509::internal::der
