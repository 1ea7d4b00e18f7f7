// Fuzzes the TSA's parsers of untrusted bytes: TimeStampReq (what the server reads from the
// network), and TimeStampResp / TSTInfo / the token verifier (what the client reads back).
// Invariants: no crash; a request that parses has a consistent imprint, and re-encoding a parsed
// request without policy or extensions reproduces a request that parses to the same fields.

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "tsa/client.h"
#include "tsa/messages.h"

using namespace autoseal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  if (auto req = tsa::ParseTimeStampReq(input)) {
    const tsa::MessageImprint& mi = req->message_imprint;
    CHECK(!mi.encoding.empty());
    if (mi.digest && *mi.digest != crypto::DigestAlgorithm::kNone) {
      Bytes again = tsa::EncodeTimeStampReq(*mi.digest, mi.hashed_message, std::nullopt, req->cert_req);
      auto reparsed = tsa::ParseTimeStampReq(again);
      CHECK(reparsed.has_value());
      CHECK(reparsed->message_imprint.hashed_message == mi.hashed_message);
      CHECK(reparsed->cert_req == req->cert_req);
    }
  }
  (void)tsa::ParseTimeStampResp(input);
  (void)tsa::ParseTstInfo(input);
  tsa::TokenReport report = tsa::VerifyToken(input, {});
  CHECK(!report.ok());  // no trust anchors: never valid
  return 0;
}
