#include "acme/problem.h"

#include <boost/json.hpp>

namespace autoseal::acme {

std::string_view ProblemTypeName(ProblemType type) {
  switch (type) {
    case ProblemType::kAccountDoesNotExist: return "accountDoesNotExist";
    case ProblemType::kAlreadyRevoked: return "alreadyRevoked";
    case ProblemType::kBadCsr: return "badCSR";
    case ProblemType::kBadNonce: return "badNonce";
    case ProblemType::kBadPublicKey: return "badPublicKey";
    case ProblemType::kBadRevocationReason: return "badRevocationReason";
    case ProblemType::kBadSignatureAlgorithm: return "badSignatureAlgorithm";
    case ProblemType::kCaa: return "caa";
    case ProblemType::kCompound: return "compound";
    case ProblemType::kConnection: return "connection";
    case ProblemType::kDns: return "dns";
    case ProblemType::kExternalAccountRequired: return "externalAccountRequired";
    case ProblemType::kIncorrectResponse: return "incorrectResponse";
    case ProblemType::kInvalidContact: return "invalidContact";
    case ProblemType::kMalformed: return "malformed";
    case ProblemType::kOrderNotReady: return "orderNotReady";
    case ProblemType::kRateLimited: return "rateLimited";
    case ProblemType::kRejectedIdentifier: return "rejectedIdentifier";
    case ProblemType::kServerInternal: return "serverInternal";
    case ProblemType::kTls: return "tls";
    case ProblemType::kUnauthorized: return "unauthorized";
    case ProblemType::kUnsupportedContact: return "unsupportedContact";
    case ProblemType::kUnsupportedIdentifier: return "unsupportedIdentifier";
    case ProblemType::kUserActionRequired: return "userActionRequired";
    case ProblemType::kAlreadyReplaced: return "alreadyReplaced";
    case ProblemType::kInvalidProfile: return "invalidProfile";
  }
  return "serverInternal";
}

int DefaultStatus(ProblemType type) {
  switch (type) {
    case ProblemType::kUnauthorized: return 403;
    case ProblemType::kAccountDoesNotExist: return 400;
    case ProblemType::kOrderNotReady: return 403;
    case ProblemType::kRateLimited: return 429;
    case ProblemType::kServerInternal: return 500;
    case ProblemType::kAlreadyReplaced: return 409;
    default: return 400;
  }
}

namespace {
boost::json::object ToObject(const Problem& p) {
  boost::json::object o;
  o["type"] = "urn:ietf:params:acme:error:" + std::string(ProblemTypeName(p.type));
  o["detail"] = p.detail;
  o["status"] = p.HttpStatus();
  if (p.identifier) o["identifier"] = {{"type", p.identifier->type}, {"value", p.identifier->value}};
  if (!p.subproblems.empty()) {
    boost::json::array subs;
    for (const auto& s : p.subproblems) {
      auto so = ToObject(s);
      so.erase("status");
      subs.push_back(std::move(so));
    }
    o["subproblems"] = std::move(subs);
  }
  return o;
}
}  // namespace

std::string Problem::ToJson() const { return boost::json::serialize(ToObject(*this)); }

Problem ProblemFromError(const Error& error, ProblemType policy_type) {
  switch (error.code()) {
    case ErrorCode::kParse:
    case ErrorCode::kInvalidArgument: return MakeProblem(ProblemType::kMalformed, error.message());
    case ErrorCode::kPolicy:
    case ErrorCode::kUnsupported: return MakeProblem(policy_type, error.message());
    case ErrorCode::kCrypto: return MakeProblem(policy_type, error.message());
    case ErrorCode::kNotFound: {
      Problem p = MakeProblem(ProblemType::kMalformed, error.message());
      p.status = 404;
      return p;
    }
    default:
      // Internal details (paths, SQL, OpenSSL internals) stay in the log.
      return MakeProblem(ProblemType::kServerInternal, "the server could not complete the request; try again later");
  }
}

}  // namespace autoseal::acme
