#pragma once

// The gateway's configuration: a TOML file (docs/gateway.md has a commented example) for many
// sites, and command-line flags for the one-site case that merge over it. Problems are reported
// with the file and line they come from; a bad [[site]] is reported and skipped so the other
// sites are still served, while a bad global setting fails the whole file.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "gateway/certificate_manager.h"
#include "gateway/proxy.h"

namespace autoseal::gateway {

// One ACME CA the gateway orders from.
struct AcmeCaConfig {
  std::string directory;     // RFC 8555 directory URL (https)
  std::string ca_bundle;     // PEM file trusted for its HTTPS ("" = system store)
  std::string email;         // account contact
  std::string eab_kid;       // External Account Binding (RFC 8555 §7.3.4), both or neither
  std::string eab_hmac_key;  // base64url
};

// Everything `autoseal gateway` runs with. A value type.
struct GatewayConfig {
  std::string dir = "./var/gateway";  // certificates, ACME accounts, locks
  GatewayOptions listen;              // listeners, timeouts, limits (proxy.h)
  std::vector<AcmeCaConfig> cas;      // [0] primary, [1] fallback (optional)
  std::vector<std::string> challenges = {"http-01", "tls-alpn-01"};
  std::optional<Duration> lifetime;  // ask the CA for notAfter = now + lifetime
  std::string profile;               // ACME profile name, optional
  std::optional<Duration> renew_before;
  Duration retry_initial = std::chrono::minutes(1);
  Duration retry_max = std::chrono::hours(6);
  int fallback_after_failures = 3;
  Duration check_interval = std::chrono::minutes(10);
  HstsPolicy hsts;  // default for sites that say nothing
  std::vector<SiteConfig> sites;
};

// A parsed configuration and what was wrong with the parts that were skipped (one message per
// problem, naming the file:line and the site).
struct LoadedConfig {
  GatewayConfig config;
  std::vector<std::string> problems;
};

// Parses TOML text; source names it in messages. kInvalidArgument (naming file:line and the key)
// for a syntax error or a bad global setting; a bad site is skipped and listed in problems.
Result<LoadedConfig> ParseConfig(std::string_view text, std::string_view source);
// Reads (at most 1 MiB) and parses a file.
Result<LoadedConfig> LoadConfigFile(const std::string& path);

// The command-line flags of `autoseal gateway` (empty = not given).
struct ConfigFlags {
  std::vector<std::string> sites;  // "NAME=ORIGIN_URL"
  std::string acme, acme_ca_bundle, http, https, admin, dir, email;
};

// Merges flags over config: each flag replaces its setting; --acme replaces the primary CA's
// directory; each --site adds (or replaces by name) a site NAME serving the DNS name NAME. A bad
// --site is kInvalidArgument naming it (flags are the user's own typing: fail, don't skip).
Status MergeFlags(LoadedConfig& loaded, const ConfigFlags& flags);

// Checks what only makes sense whole (at least one CA; no DNS name claimed by two sites: the
// later site is skipped with a problem). Call after MergeFlags.
Status Finish(LoadedConfig& loaded);

// The sites as the certificate manager sees them.
std::vector<ManagedSite> ManagedSites(const GatewayConfig& config);

// The certificate manager's options for config: one AcmeIssuer per configured CA (accounts under
// config.dir), the renewal policy, clock and observer as given. kInvalidArgument for an EAB key
// that is not base64url.
Result<CertificateManagerOptions> ManagerOptionsFor(const GatewayConfig& config,
                                                    CertificateObserver* observer,
                                                    const Clock* clock = &SystemClock::Instance());

// Validates a site name (1-63 of [a-z0-9.-], starting with a letter or digit).
Status ValidateSiteName(std::string_view name);
// Validates an origin URL: http://host[:port][/base-path], no user info, query or fragment.
Status ValidateOrigin(std::string_view url);

// Parses a duration such as "90s", "10m", "2h", "1d", "1h30m" (units s, m, h, d, whole numbers).
// kInvalidArgument naming the text otherwise.
Result<Duration> ParseDuration(std::string_view text);

}  // namespace autoseal::gateway
