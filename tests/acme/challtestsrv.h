#pragma once

// pebble-challtestsrv (Debian package `pebble`) for the ACME tests: DNS server, http-01 /
// tls-alpn-01 responder and CAA records on free loopback ports, killed by PID at the end; and
// the small socket helpers the tests share.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace autoseal::acme::test_support {

// A port free for both TCP and UDP on 127.0.0.1 (challtestsrv serves DNS on both), never handed
// out twice by this process.
uint16_t FreePort();
bool CanConnect(uint16_t port);
// Sends one request on a fresh connection to 127.0.0.1:port and returns the whole response.
std::string RoundTrip(uint16_t port, const std::string& request);

// pebble-challtestsrv on free loopback ports, killed by PID at the end (and with the test
// binary if it crashes).
class ChallTestSrv {
 public:
  ChallTestSrv();
  ~ChallTestSrv();
  ChallTestSrv(const ChallTestSrv&) = delete;
  ChallTestSrv& operator=(const ChallTestSrv&) = delete;

  bool ready() const { return ready_; }
  std::string dns_server() const { return "127.0.0.1:" + std::to_string(dns_); }
  uint16_t http_port() const { return http_; }
  uint16_t https_port() const { return https_; }
  uint16_t tlsalpn_port() const { return tlsalpn_; }

  // POSTs a JSON body to the management API; true on HTTP 200.
  bool Post(const std::string& path, const std::string& json) const;

 private:
  uint16_t dns_, http_, https_, tlsalpn_, management_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace autoseal::acme::test_support
