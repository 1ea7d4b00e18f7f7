#pragma once

// Private to acme/server: the CAA decision of RFC 8659 §4, apart from the lookups.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/problem.h"
#include "acme/server/internal/dns_client.h"

namespace autoseal::acme::server::internal {

// Decides whether the CAA RRset found at owner (the first non-empty one climbing from the
// requested name) lets a CA known by one of identities issue for the name; wildcard selects
// issuewild (falling back to issue when no issuewild record is present). std::nullopt when
// allowed, else a caa Problem saying what the records allow. Pure; thread-safe.
std::optional<Problem> EvaluateCaa(const std::vector<CaaRecord>& records, std::string_view owner,
                                   bool wildcard, const std::vector<std::string>& identities);

}  // namespace autoseal::acme::server::internal
