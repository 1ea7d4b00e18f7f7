#pragma once

// Pure pieces of the ACME client (no network): ARI certificate identifiers and renewal windows
// (RFC 9773), Retry-After and Link header parsing (RFC 9110 §10.2.3, RFC 8288), key
// authorizations (RFC 8555 §8.1) and preferred-chain selection. All functions are thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "net/http.h"
#include "x509/certificate.h"

namespace autoseal::acme::client {

// The ARI certificate identifier of cert (RFC 9773 §4.1): base64url of the keyIdentifier of its
// Authority Key Identifier extension, ".", base64url of the DER encoding of its serial number's
// content octets (with the leading zero byte a positive INTEGER needs when the high bit is set).
// kInvalidArgument when the certificate has no AKI keyIdentifier.
Result<std::string> RenewalCertId(const x509::Certificate& cert);

// A suggested renewal window (RFC 9773 §4.2): renew at a time in [start, end).
struct RenewalWindow {
  TimePoint start;
  TimePoint end;
};

// The renewalInfo answer: the window, an optional explanation URL, and when to ask again.
struct RenewalInfo {
  RenewalWindow window;
  std::string explanation_url;
  std::optional<TimePoint> retry_after;  // absolute, from the Retry-After header
};

// Parses a renewalInfo JSON body {"suggestedWindow":{"start":..,"end":..},"explanationURL":..}.
// kParse when the window is missing, unparsable, or end is not after start (RFC 9773 §4.2: "the
// client MUST treat the window as invalid").
Result<RenewalInfo> ParseRenewalInfo(std::string_view json);

// The window used when the CA offers no ARI: DESIGN.md §2, "else at 1/3 of the lifetime left" —
// from notAfter - lifetime/3 until notAfter.
RenewalWindow DefaultRenewalWindow(const x509::Certificate& cert);

// The moment to renew: start + fraction * (end - start), fraction clamped to [0, 1]. RFC 9773
// §4.2: "select a uniform random time within the suggested window"; callers pass a random fraction
// (tests a fixed one).
TimePoint RenewalTime(const RenewalWindow& window, double fraction);

// Whether to renew now: when the chosen time (see RenewalTime) has come, when the window lies
// entirely in the past, or when the certificate has expired.
bool ShouldRenewNow(const x509::Certificate& cert, const std::optional<RenewalWindow>& ari_window,
                    TimePoint now, double fraction);

// A uniformly random fraction in [0, 1) from OpenSSL's DRBG (0.5 if it fails).
double RandomFraction();

// Parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date (IMF-fixdate,
// plus the obsolete RFC 850 and asctime forms). Returns the absolute time relative to now;
// kParse otherwise. Negative or past values yield now.
Result<TimePoint> ParseRetryAfter(std::string_view value, TimePoint now);

// The target URLs of every Link header field (RFC 8288; several fields or comma-separated values)
// whose rel parameter contains rel (e.g. "alternate", "up"), resolved against base_url when
// relative. Malformed link values are skipped.
std::vector<std::string> LinkTargets(const net::HttpHeaders& headers, std::string_view rel,
                                     std::string_view base_url);

// Resolves reference (absolute or relative) against base (an absolute URL). The reference when it
// is absolute or base is unusable.
std::string ResolveUrl(std::string_view base, std::string_view reference);

// The key authorization for a challenge token (RFC 8555 §8.1): token "." thumbprint.
std::string KeyAuthorization(std::string_view token, std::string_view account_thumbprint);
// The dns-01 TXT record value (RFC 8555 §8.4): base64url(SHA-256(key authorization)).
std::string Dns01TxtValue(std::string_view key_authorization);
// The dns-01 record name for an identifier, with a trailing dot: "_acme-challenge.<domain>."
// (a wildcard's "*." removed, RFC 8555 §8.4).
std::string Dns01RecordName(std::string_view domain);

// Picks a certificate chain: the first whose topmost certificate was issued by a CA with common
// name preferred_issuer_cn (its root, which chains usually omit), else the first containing any
// certificate issued by or named preferred_issuer_cn, else chains[0]. Returns the index; 0 when
// preferred_issuer_cn is empty or chains is empty.
size_t SelectPreferredChain(const std::vector<std::vector<x509::Certificate>>& chains,
                            std::string_view preferred_issuer_cn);

// A revocation reason (RFC 5280 §5.3.1) by name ("keyCompromise", "superseded", ...; case
// ignored, '-' and '_' ignored) or number. kInvalidArgument otherwise.
Result<int> ParseRevocationReason(std::string_view text);

}  // namespace autoseal::acme::client
