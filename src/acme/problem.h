#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace autoseal::acme {

// RFC 8555 §6.7 error types (urn:ietf:params:acme:error:<name>), plus the ARI and profile ones.
enum class ProblemType {
  kAccountDoesNotExist,
  kAlreadyRevoked,
  kBadCsr,
  kBadNonce,
  kBadPublicKey,
  kBadRevocationReason,
  kBadSignatureAlgorithm,
  kCaa,
  kCompound,
  kConnection,
  kDns,
  kExternalAccountRequired,
  kIncorrectResponse,
  kInvalidContact,
  kMalformed,
  kOrderNotReady,
  kRateLimited,
  kRejectedIdentifier,
  kServerInternal,
  kTls,
  kUnauthorized,
  kUnsupportedContact,
  kUnsupportedIdentifier,
  kUserActionRequired,
  kAlreadyReplaced,  // RFC 9773 §5
  kInvalidProfile,
};

// "badNonce", "malformed", ...; the URN is "urn:ietf:params:acme:error:" + this.
std::string_view ProblemTypeName(ProblemType type);
// The HTTP status RFC 8555 and Boulder use for the type (400, 401, 403, 404, 429, 500).
int DefaultStatus(ProblemType type);

// An identifier (RFC 8555 §9.7.7): type "dns" or "ip", and its value.
struct Identifier {
  std::string type;
  std::string value;
  bool operator==(const Identifier&) const = default;
  auto operator<=>(const Identifier&) const = default;
};

// An RFC 7807 problem document as ACME uses it (RFC 8555 §6.7), with subproblems (§6.7.1).
struct Problem {
  ProblemType type = ProblemType::kServerInternal;
  std::string detail;
  int status = 0;  // 0: DefaultStatus(type)
  std::optional<Identifier> identifier;  // for subproblems
  std::vector<Problem> subproblems;
  std::optional<int> retry_after_seconds;  // rateLimited, badNonce retries

  int HttpStatus() const { return status != 0 ? status : DefaultStatus(type); }
  // The JSON document (application/problem+json).
  std::string ToJson() const;
};

inline Problem MakeProblem(ProblemType type, std::string detail) {
  Problem p;
  p.type = type;
  p.detail = std::move(detail);
  return p;
}

// A failure that is either an internal Error or a client-facing Problem.
template <typename T>
using AcmeResult = std::expected<T, Problem>;

// Maps an internal error to the problem a client sees: kParse/kInvalidArgument → malformed,
// kPolicy → rejectedIdentifier or badCSR per context, others → serverInternal with a generic
// detail (never internal text such as paths or SQL).
Problem ProblemFromError(const Error& error, ProblemType policy_type = ProblemType::kMalformed);

}  // namespace autoseal::acme
