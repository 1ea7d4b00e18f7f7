#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "x509/certificate.h"
#include "x509/profile.h"

namespace autoseal::x509 {

struct VerifyOptions {
  TimePoint at;                     // the verification time (always a parameter)
  std::optional<Profile> profile;   // also check the leaf against this issuance profile
};

// Every problem found, not just the first (STYLE.md: validation returns a report).
struct VerifyReport {
  std::vector<std::string> problems;
  std::vector<Certificate> path;  // leaf to trust anchor, when one was built
  bool ok() const { return problems.empty(); }
};

// Validates chain (leaf first, then any intermediates, in any order) to one of roots at the given
// time with RFC 5280 path validation (strict mode, SM2 signatures with the standard ID), then the
// leaf's profile when asked. Thread-safe.
VerifyReport VerifyChain(const std::vector<Certificate>& chain, const std::vector<Certificate>& roots,
                         const VerifyOptions& options);

// Checks a certificate against an issuance profile (extensions, key, names, validity limit),
// appending every deviation to problems.
void CheckProfile(const Certificate& cert, Profile profile, std::vector<std::string>* problems);

// Guesses the profile of a leaf from its extended key usages (nullopt for CAs and unknowns).
std::optional<Profile> DetectProfile(const Certificate& cert);

}  // namespace autoseal::x509
