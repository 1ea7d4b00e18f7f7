#pragma once

// RFC 3161 messages as plain values: TimeStampReq, TSTInfo, TimeStampResp, with strict DER
// parsers (safe on hostile input) and encoders. Thread-safe (pure functions).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/digest.h"

namespace autoseal::tsa {

// PKIStatus (RFC 3161 §2.4.2).
enum class PkiStatus {
  kGranted = 0,
  kGrantedWithMods = 1,
  kRejection = 2,
  kWaiting = 3,
  kRevocationWarning = 4,
  kRevocationNotification = 5,
};
std::string_view PkiStatusName(PkiStatus status);  // "granted", "rejection", ...

// PKIFailureInfo bit numbers (RFC 3161 §2.4.2).
enum class FailureInfo {
  kBadAlg = 0,
  kBadRequest = 2,
  kBadDataFormat = 5,
  kTimeNotAvailable = 14,
  kUnacceptedPolicy = 15,
  kUnacceptedExtension = 16,
  kAddInfoNotAvailable = 17,
  kSystemFailure = 25,
};
std::string_view FailureInfoName(FailureInfo info);  // "badAlg", "timeNotAvailable", ...
// Names of every bit set in a PKIFailureInfo bit mask (bit n = 1u << n), comma-separated.
std::string FailureInfoNames(uint32_t bits);

// MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
struct MessageImprint {
  Bytes algorithm_oid;                          // OID contents
  std::optional<crypto::DigestAlgorithm> digest;  // when the OID is one we know (SHA-1 included)
  bool parameters_ok = true;                    // parameters absent or NULL
  Bytes hashed_message;
  Bytes encoding;  // the whole SEQUENCE as received (DER), copied verbatim into TSTInfo
};

// TimeStampReq (RFC 3161 §2.4.1).
struct TimeStampReq {
  int64_t version = 1;
  MessageImprint message_imprint;
  std::optional<Bytes> req_policy;  // OID contents
  std::optional<Bytes> nonce;       // INTEGER contents (as received, DER-minimal)
  bool cert_req = false;
  bool has_extensions = false;
};

// Parses a DER TimeStampReq; kParse (the TSA answers badDataFormat) for anything malformed,
// including trailing bytes and BER.
Result<TimeStampReq> ParseTimeStampReq(ByteView der);

// Builds a DER TimeStampReq v1. nonce is a non-negative big-endian magnitude.
Bytes EncodeTimeStampReq(crypto::DigestAlgorithm digest, ByteView hashed_message,
                         std::optional<Bytes> nonce, bool cert_req,
                         std::optional<Bytes> req_policy = std::nullopt);

// Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
// micros [1] INTEGER (1..999) OPTIONAL }, as a total in microseconds.
struct TstInfo {
  int64_t version = 1;
  Bytes policy;  // OID contents
  std::string policy_text;  // dotted
  MessageImprint message_imprint;
  Bytes serial;  // INTEGER contents
  std::string serial_hex;
  std::string gen_time_text;  // as encoded, e.g. "20261128120000.25Z"
  TimePoint gen_time;
  std::optional<int64_t> accuracy_micros;
  bool ordering = false;
  std::optional<Bytes> nonce;  // INTEGER contents
  bool has_tsa_name = false;
  bool has_extensions = false;
};

// Parses a DER TSTInfo. kParse on malformed input.
Result<TstInfo> ParseTstInfo(ByteView der);

// Parses a GeneralizedTime "YYYYMMDDHHMMSS[.fff]Z" (RFC 3161 §2.4.2 form). kParse otherwise.
Result<TimePoint> ParseGeneralizedTime(std::string_view text);
// Formats t as GeneralizedTime in UTC with up to `digits` (0..6) fraction digits, trailing zeros
// dropped (and the '.' when nothing is left), as RFC 3161 §2.4.2 requires.
std::string FormatGeneralizedTime(TimePoint t, int digits);

// TimeStampResp (RFC 3161 §2.4.2) as parsed.
struct TimeStampResp {
  PkiStatus status = PkiStatus::kRejection;
  std::string status_string;  // the PKIFreeText strings joined by "; "
  uint32_t fail_info = 0;     // bit n = 1u << n
  std::optional<Bytes> token;  // the TimeStampToken (ContentInfo) DER
};

// Parses a DER TimeStampResp. kParse on malformed input.
Result<TimeStampResp> ParseTimeStampResp(ByteView der);

// A rejection: TimeStampResp { status rejection, statusString text, failInfo info }.
Bytes EncodeRejection(FailureInfo info, std::string_view text);

// Hex of INTEGER contents without a leading 0x00 sign octet.
std::string IntegerHex(ByteView contents);

}  // namespace autoseal::tsa
