#pragma once

// The TSA as a service: its identity (key and certificate) under a data directory, the responder
// behind an HTTP server (RFC 3161 §3.4), and a health endpoint.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "net/http.h"
#include "net/server.h"
#include "store/database.h"
#include "tsa/clock_status.h"
#include "tsa/responder.h"
#include "tsa/serial.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace autoseal::tsa {

// Issues a TSA certificate for a CSR (profile time-stamping) and returns the chain, leaf first.
// The CLI wires this to the local CA (ca::CertificateAuthority::Issue).
using CertificateIssuer =
    std::function<Result<std::vector<x509::Certificate>>(const x509::CertificateRequest&)>;

struct ServiceOptions {
  std::string dir = "./var";  // the TSA keeps its files in <dir>/tsa
  std::string listen = "127.0.0.1:3161";
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
  // A given identity (both set), used instead of the one in the data directory.
  std::string cert_file;  // PEM: TSA certificate, then intermediates
  std::string key_file;
  // When the data directory has no certificate for key_type yet, this issues one at first start.
  CertificateIssuer issuer;
  std::string policy_oid = std::string(kDefaultPolicyOid);
  int64_t accuracy_micros = 1000000;
  int precision_digits = 3;
  bool require_synced_clock = false;
  unsigned threads = 0;  // HTTP I/O threads; 0 = one per core
  size_t max_body_bytes = 16 * 1024;
  const Clock* clock = &SystemClock::Instance();
  const ClockStatusSource* clock_status = nullptr;  // nullptr: the kernel's (ntp_adjtime)
};

// The TSA's key and certificate chain.
struct Identity {
  crypto::PrivateKey key;
  std::vector<x509::Certificate> chain;  // leaf first
  std::string key_path, chain_path;      // where they were loaded from
  bool created = false;                  // issued at this start
};

// "ecdsa" → P-256, "rsa" → RSA-3072 (CA/B CSBR §6.1.5.2 minimum for TSA keys), "sm2".
Result<crypto::KeyType> ParseTsaKeyType(std::string_view name);

// Loads the identity from cert_file/key_file, else from <dir>/tsa/<family>/{tsa.key,tsa-chain.pem};
// when the latter has no certificate yet, creates the key (0600, written once, reused if an
// earlier start was interrupted), has options.issuer certify it, and stores the chain. kNotFound
// explaining --ca-dir / --cert when there is neither a certificate nor an issuer.
Result<Identity> LoadOrCreateIdentity(const ServiceOptions& options);

// A running TSA: responder + HTTP server. Thread-safe.
class TsaService {
 public:
  // Opens <dir>/tsa/tsa.db, reserves a serial epoch, loads or creates the identity, builds the
  // responder and binds the listening socket (not yet serving).
  static Result<std::unique_ptr<TsaService>> Create(ServiceOptions options);
  ~TsaService();

  void Start();
  void Stop();
  uint16_t Port() const { return server_->Port(); }
  std::string LocalAddress() const { return server_->LocalAddress(); }
  const Identity& identity() const { return *identity_; }
  int64_t serial_epoch() const { return serials_->epoch(); }

  // The HTTP handler: POST application/timestamp-query → application/timestamp-reply;
  // GET /health → JSON. Public for tests.
  net::HttpResponse Handle(const net::HttpRequest& request) const;

 private:
  TsaService() = default;
  net::HttpResponse Health() const;

  ServiceOptions options_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<EpochSerialSource> serials_;
  std::unique_ptr<ClockStatusSource> own_clock_status_;
  const ClockStatusSource* clock_status_ = nullptr;
  std::optional<Identity> identity_;
  std::unique_ptr<Responder> responder_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace autoseal::tsa
