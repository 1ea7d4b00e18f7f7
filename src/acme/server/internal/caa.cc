#include "acme/server/internal/caa.h"

#include <algorithm>
#include <cctype>

namespace autoseal::acme::server::internal {
namespace {

constexpr uint8_t kCriticalFlag = 0x80;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimWsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 8659 §4.2: issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]].
// Parameters do not change whom the record names.
std::string IssuerDomainName(std::string_view value) {
  std::string_view name = value.substr(0, value.find(';'));
  std::string out = Lower(TrimWsp(name));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

std::optional<Problem> EvaluateCaa(const std::vector<CaaRecord>& records, std::string_view owner,
                                   bool wildcard, const std::vector<std::string>& identities) {
  std::vector<const CaaRecord*> issue;
  std::vector<const CaaRecord*> issuewild;
  for (const CaaRecord& r : records) {
    // RFC 8659 §4.1: "Matching of tags is case insensitive."
    std::string tag = Lower(r.tag);
    if (tag == "issue") {
      issue.push_back(&r);
    } else if (tag == "issuewild") {
      issuewild.push_back(&r);
    } else if (tag != "iodef" && (r.flags & kCriticalFlag) != 0) {
      // RFC 8659 §4.1: "If the Issuer Critical Flag is set, a CA MUST NOT issue certificates
      // for any FQDN if the Relevant RRset for that FQDN contains a CAA critical Property for an
      // unknown or unsupported Property Tag".
      return MakeProblem(ProblemType::kCaa, "CAA records for " + std::string(owner) +
                                                " contain the critical property \"" + r.tag +
                                                "\", which this CA does not support");
    }
  }
  // RFC 8659 §4.3: issuewild, when present, takes precedence over issue for wildcard names.
  bool use_wild = wildcard && !issuewild.empty();
  const std::vector<const CaaRecord*>& relevant = use_wild ? issuewild : issue;
  // RFC 8659 §4.2: "If the property set does not contain any issue Property Tags, issuance is
  // allowed."
  if (relevant.empty()) return std::nullopt;

  std::vector<std::string> allowed;
  for (const CaaRecord* r : relevant) {
    std::string name = IssuerDomainName(r->value);
    for (const std::string& identity : identities) {
      std::string ours = Lower(identity);
      if (!ours.empty() && ours.back() == '.') ours.pop_back();
      if (!name.empty() && name == ours) return std::nullopt;
    }
    if (!name.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      allowed.push_back(name);
    }
  }
  std::string what = use_wild ? "CAA issuewild records for " : "CAA records for ";
  if (allowed.empty()) {
    return MakeProblem(ProblemType::kCaa, what + std::string(owner) + " forbid issuance by any CA");
  }
  return MakeProblem(ProblemType::kCaa,
                     what + std::string(owner) + " allow only " + JoinNames(allowed));
}

}  // namespace autoseal::acme::server::internal
