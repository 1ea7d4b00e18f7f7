#pragma once

// The CT log as a service: the RFC 6962 §4 HTTP API, the static-ct-api read path (the files
// under the log's static/ directory, also served here), /log.json (the log's key and ID), and
// /health. Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "ct/chain.h"
#include "ct/log.h"
#include "net/http.h"
#include "x509/certificate.h"

namespace autoseal::ct {

namespace internal {
class HttpFront;
}

struct ServiceOptions {
  std::string dir = "./var";  // the log lives in <dir>/ct/<ecdsa|sm2>/
  std::string listen = "127.0.0.1:6962";
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
  // Accepted roots. Empty: the local CA's roots under <dir>/ca/*/root.pem.
  std::vector<x509::Certificate> roots;
  ChainPolicy chain_policy;
  std::chrono::milliseconds period{300};
  size_t max_pool = 50000;
  unsigned threads = 0;
  size_t max_body_bytes = 512 * 1024;
  std::string origin;  // checkpoint origin; default: the listen address
  const Clock* clock = &SystemClock::Instance();
};

// "ecdsa" → P-256, "sm2" → SM2; kInvalidArgument otherwise.
Result<crypto::KeyType> ParseLogKeyType(std::string_view name);
// The log's directory under a data directory: <dir>/ct/ecdsa or <dir>/ct/sm2.
std::string LogDirectory(const std::string& dir, crypto::KeyType key_type);
// Reads the local CA's roots from <dir>/ca/{ecc,rsa,sm2}/root.pem (those present). kNotFound if none.
Result<std::vector<x509::Certificate>> LocalCaRoots(const std::string& dir);

class CtService {
 public:
  static Result<std::unique_ptr<CtService>> Create(ServiceOptions options);
  ~CtService();
  void Start();
  void Stop();
  uint16_t Port() const;
  std::string LocalAddress() const;
  Log& log() { return *log_; }
  const ChainValidator& validator() const { return *validator_; }

  // The request handler; respond is called exactly once, possibly later from another thread.
  // Public for tests.
  void Handle(const net::HttpRequest& request, std::function<void(net::HttpResponse)> respond);

 private:
  CtService() = default;
  void AddChain(const net::HttpRequest& request, bool precert, std::function<void(net::HttpResponse)> respond);
  net::HttpResponse HandleGet(const net::HttpRequest& request);
  net::HttpResponse ServeStatic(std::string_view path);

  ServiceOptions options_;
  std::unique_ptr<ChainValidator> validator_;
  std::unique_ptr<Log> log_;
  std::unique_ptr<internal::HttpFront> front_;
  std::string roots_json_;
};

// An RFC 6962 error response: status with {"success":false,"error":message}.
net::HttpResponse JsonError(int status, std::string_view message);

}  // namespace autoseal::ct
