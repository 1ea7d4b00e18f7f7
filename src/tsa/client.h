#pragma once

// The RFC 3161 client: obtain a time-stamp token from a TSA over HTTP, and verify a token
// (imprint, CMS signature with ECDSA, RSA or SM2, ESS signing-certificate binding, the TSA
// certificate's critical timeStamping EKU and its chain at genTime). Used by `autoseal ts` and by
// the S/MIME engine to postmark signatures (RFC 3161 Appendix A). Thread-safe (no shared state).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "tsa/messages.h"
#include "x509/certificate.h"

namespace autoseal::tsa {

inline constexpr std::string_view kTimestampQueryType = "application/timestamp-query";
inline constexpr std::string_view kTimestampReplyType = "application/timestamp-reply";

struct RequestOptions {
  crypto::DigestAlgorithm digest = crypto::DigestAlgorithm::kSha256;
  bool cert_req = true;                   // ask for the TSA certificate chain in the token
  std::optional<std::string> policy_oid;  // reqPolicy
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  std::string ca_file;  // for https:// TSAs; system trust when empty
};

// A granted time-stamp: the whole TimeStampResp, the token inside it, and its TSTInfo.
struct TimestampResult {
  Bytes response;
  Bytes token;
  TstInfo tst_info;
};

// Hashes data with options.digest and asks the TSA at url (http:// or https://) for a token.
// Checks the reply's status, and that the token's imprint and nonce are the ones sent (not the
// signature: use VerifyToken for that). kNetwork/kTimeout for transport failures, kPolicy with the
// TSA's statusString and failInfo names for a rejection, kParse for malformed replies.
Result<TimestampResult> RequestTimestamp(std::string_view url, ByteView data,
                                         const RequestOptions& options = {});
// As above for a digest computed by the caller (e.g. of a CMS SignerInfo signature value).
Result<TimestampResult> RequestTimestampForDigest(std::string_view url, ByteView digest,
                                                  const RequestOptions& options = {});

// Checks a TimeStampResp's status and returns the token in it. kPolicy for a rejection (message
// names the failInfo), kParse for malformed input.
Result<TimestampResult> ParseGrantedResponse(ByteView response_der);

struct VerifyTokenOptions {
  std::vector<x509::Certificate> roots;      // trust anchors
  std::vector<x509::Certificate> untrusted;  // extra certificates (TSA cert, intermediates)
  std::optional<Bytes> data;     // the time-stamped data, hashed with the token's imprint algorithm
  std::optional<Bytes> digest;   // or its digest
  std::optional<Bytes> nonce;    // expected nonce (big-endian magnitude)
};

// Every problem found (STYLE.md: a report, not a bool), plus what could be read.
struct TokenReport {
  std::vector<std::string> problems;
  std::optional<TstInfo> tst_info;
  std::optional<x509::Certificate> signer;
  std::vector<x509::Certificate> path;   // TSA certificate to trust anchor, when built
  std::string signature_algorithm;        // e.g. "ECDSA P-256 with SHA-256", "SM2 with SM3"
  bool ok() const { return problems.empty(); }
};

// Verifies a TimeStampToken or a whole TimeStampResp (detected by its structure).
TokenReport VerifyToken(ByteView token_or_response, const VerifyTokenOptions& options);

}  // namespace autoseal::tsa
