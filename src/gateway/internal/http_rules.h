#pragma once

// The proxy's HTTP rules as pure functions (no I/O), private to gateway/: host names, origin
// URLs, hop-by-hop fields, forwarding fields, HSTS and redirects. All thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "gateway/proxy.h"

namespace autoseal::gateway::internal {

// A Host field value (RFC 9110 §7.2: uri-host [":" port]) reduced to the lower-case host without
// port or trailing dot; IPv6 literals keep their brackets. nullopt when it is empty or holds
// anything but a reg-name of letters, digits, '-', '.', '_' or a bracketed IPv6 literal, or a
// non-numeric port.
std::optional<std::string> NormalizeHost(std::string_view host_field);

// Does server_name match pattern? Patterns are exact names or "*.rest", where '*' stands for
// exactly one left-most label (RFC 6125 §6.4.3). Both lower-case.
bool ServerNameMatches(std::string_view pattern, std::string_view server_name);

// A site's origin URL "http://host[:port][/base]" split up; base has no trailing '/' ("" for
// none). kInvalidArgument naming the URL for other schemes, userinfo, query or fragment.
struct OriginUrl {
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string base_path;
  std::string authority;  // host[:port] as written, for Host when preserve_host is off
};
Result<OriginUrl> ParseOriginUrl(std::string_view url);

// Checks a site list: names unique and non-empty, server names valid (lower-case, wildcard only
// left-most), origins parse, no server name claimed twice. kInvalidArgument naming the site.
Status ValidateSites(const std::vector<SiteConfig>& sites);

// The field names the Connection header lists (RFC 9110 §7.6.1), lower-cased; appended to out.
void AppendConnectionOptions(std::string_view connection_value, std::vector<std::string>& out);

// True for the fields a proxy never forwards as received (RFC 9110 §7.6.1, RFC 9112 §6.1):
// Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding (re-framed by the proxy) and
// Upgrade (re-added by the proxy for an upgrade it passes on). name in any case.
bool IsHopByHop(std::string_view name);

// RFC 7239 §4 node for an IP address: IPv4 as is, IPv6 as "\"[v6]\"" (quoted, bracketed).
std::string ForwardedNode(std::string_view ip);

// RFC 7239 §4 value-quoting for a host: a token stays bare, anything else is quoted.
std::string ForwardedValue(std::string_view value);

// The Strict-Transport-Security value for policy (RFC 6797 §6.1), e.g.
// "max-age=31536000; includeSubDomains".
std::string HstsValue(const HstsPolicy& policy);

// RFC 9112 §3.2.2: an absolute-form request-target "http[s]://authority[/path][?query]" split
// into its authority (which replaces Host) and the origin-form the origin gets ("/" when the
// path is empty). nullopt for another scheme, an empty authority, userinfo (RFC 9110 §4.2.4)
// or a fragment.
struct AbsoluteTarget {
  std::string authority;
  std::string origin_form;
};
std::optional<AbsoluteTarget> ParseAbsoluteTarget(std::string_view target);

// The HTTPS URL an HTTP request is redirected to: "https://" host [":" port] target; port 443
// (or 0) is left out. host as NormalizeHost returned it.
std::string RedirectLocation(std::string_view host, uint16_t https_port, std::string_view target);

// The token of an ACME http-01 challenge path (RFC 8555 §8.3
// "/.well-known/acme-challenge/<token>", token in base64url), or nullopt for other paths.
std::optional<std::string_view> AcmeChallengeToken(std::string_view target);

}  // namespace autoseal::gateway::internal
