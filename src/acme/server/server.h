#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "acme/server/validation.h"
#include "ca/authority.h"
#include "core/clock.h"
#include "core/error.h"

namespace autoseal::acme::server {

// Token-bucket rate limits (0 disables a limit).
struct RateLimits {
  double orders_per_account_per_hour = 300;        // burst = one hour's worth
  double orders_per_domain_per_hour = 300;         // per registered domain (eTLD+1)
  double new_accounts_per_ip_per_hour = 100;
};

// Everything `autoseal ca serve` configures.
struct ServerOptions {
  std::string dir = "./var";                   // the CA's data directory; ACME state in <dir>/acme
  std::string listen_address = "127.0.0.1:8555";
  // The URL clients use to reach the server (JWS "url" values are compared against it).
  // Empty: https://<listen address>.
  std::string base_url;
  unsigned threads = 0;             // HTTP I/O threads (0: hardware concurrency)
  unsigned validation_workers = 16; // concurrent validations
  ValidationOptions validation;
  bool external_account_required = false;
  std::string terms_of_service_url;  // meta.termsOfService; when set, agreement is required
  std::string website_url;           // meta.website
  RateLimits rate_limits;
  // How the CA issues: CT logs (with logs set, every TLS server certificate embeds SCTs from
  // them or is not issued; docs/ct.md), the CRL URL. Its clock is replaced by `clock`.
  ca::CaOptions ca;
  const Clock* clock = &SystemClock::Instance();
};

// The ACME server (RFC 8555, RFC 8737, RFC 9773) in front of a CertificateAuthority, over HTTPS
// with a certificate the CA issues itself for the listen address. All state lives in the CA's
// database (SQLite, durable before any response); pending validations interrupted by a crash
// resume at the next start, and an order whose finalization was interrupted is 'ready' again,
// to be finalized anew (its 'processing' state is held in memory only). Thread-safe.
class AcmeServer {
 public:
  static Result<std::unique_ptr<AcmeServer>> Create(ServerOptions options);
  virtual ~AcmeServer() = default;

  // Starts listening and resuming pending work; returns at once.
  virtual Status Start() = 0;
  // Stops accepting, finishes in-flight requests and validations, joins all threads.
  virtual void Stop() = 0;
  virtual uint16_t Port() const = 0;
  virtual std::string DirectoryUrl() const = 0;

  // Creates an External Account Binding key (RFC 8555 §7.3.4) for the given kid; returns the
  // base64url HMAC key to hand to the account holder. kAlreadyExists if the kid exists.
  static Result<std::string> CreateEabKey(const std::string& dir, const std::string& kid);
};

}  // namespace autoseal::acme::server
