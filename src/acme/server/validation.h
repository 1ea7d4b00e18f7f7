#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/problem.h"
#include "core/error.h"

namespace autoseal::acme::server {

// How the validation authority reaches the outside world.
struct ValidationOptions {
  // "host:port" of the DNS server to ask (tests point it at a local one); empty: the system
  // resolver configuration (/etc/resolv.conf).
  std::string dns_server;
  uint16_t http01_port = 80;      // RFC 8555 §8.3: port 80
  uint16_t tlsalpn01_port = 443;  // RFC 8737 §3: port 443
  std::chrono::milliseconds timeout{10000};  // per validation, every step included
  // The CA's issuer domain names for CAA (RFC 8659 §4.2), e.g. {"autoseal.example"}.
  std::vector<std::string> caa_identities;
};

// The validation authority: performs http-01, dns-01 and tls-alpn-01 challenges and CAA checks
// (RFC 8555 §8, RFC 8737, RFC 8659) for one identifier at a time. Thread-safe: the ACME server
// calls it from many worker threads at once; each call blocks for at most options.timeout.
// Every method returns std::nullopt when the check passes, else the Problem a client should see
// (types connection, dns, tls, incorrectResponse, unauthorized, caa) whose detail says what was
// seen ("the response body was 'abc…' (3 bytes)", "no TXT record at _acme-challenge.x", ...).
class Validator {
 public:
  virtual ~Validator() = default;

  static Result<std::unique_ptr<Validator>> Create(const ValidationOptions& options);

  // RFC 8555 §8.3: GET http://<identifier>:<http01_port>/.well-known/acme-challenge/<token>, the
  // body (trimmed of trailing whitespace) must equal key_authorization. Redirects are followed
  // (at most 10) only to http/https on ports 80/443 (or the configured ports) per §10.2.
  virtual std::optional<Problem> ValidateHttp01(const Identifier& identifier, std::string_view token,
                                                std::string_view key_authorization) = 0;

  // RFC 8555 §8.4: some TXT record at _acme-challenge.<domain> (wildcard label removed) equals
  // base64url(SHA-256(key_authorization)) = expected_digest.
  virtual std::optional<Problem> ValidateDns01(const Identifier& identifier,
                                               std::string_view expected_digest) = 0;

  // RFC 8737: TLS to <identifier>:<tlsalpn01_port> with SNI = identifier (or the reverse-DNS
  // name for IPs, RFC 8738 §6), ALPN exactly "acme-tls/1"; the self-signed certificate must have
  // a single SAN equal to the identifier and a critical id-pe-acmeIdentifier extension holding
  // SHA-256(key_authorization).
  virtual std::optional<Problem> ValidateTlsAlpn01(const Identifier& identifier,
                                                   std::string_view key_authorization) = 0;

  // RFC 8659: climb from the name to the root, take the first non-empty CAA RRset; issue (or
  // issuewild for wildcards, falling back to issue) must name one of caa_identities. No CAA
  // records: allowed. DNS failure other than NXDOMAIN/NODATA: refused (dns problem).
  virtual std::optional<Problem> CheckCaa(const Identifier& identifier, bool wildcard) = 0;
};

}  // namespace autoseal::acme::server
