#pragma once

// Challenge solvers: how the ACME client proves control of an identifier (RFC 8555 §8). The
// client calls Present before telling the server a challenge is ready and CleanUp afterwards,
// whatever the outcome. Built-in: http-01 (own HTTP server), tls-alpn-01 (RFC 8737, own TLS
// listener), dns-01 through an external hook program (like lego's exec provider).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "acme/problem.h"
#include "core/error.h"

namespace autoseal::net {
class HttpServer;
}

namespace autoseal::acme::client {

// What a solver needs to answer one challenge.
struct ChallengeInfo {
  std::string type;  // "http-01", "tls-alpn-01", "dns-01"
  Identifier identifier;  // the authorization's identifier (a wildcard's "*." already removed)
  bool wildcard = false;
  std::string token;
  std::string key_authorization;  // token "." account key thumbprint (RFC 8555 §8.1)
};

// Answers challenges of one type. Implementations must be thread-safe: one solver may serve
// several orders at once, each Present matched by one CleanUp with the same info.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;
  // The challenge type solved ("http-01", ...).
  virtual std::string_view Type() const = 0;
  // Makes the response available and returns once it is (for DNS, once the hook says so).
  virtual Status Present(const ChallengeInfo& challenge) = 0;
  // Removes what Present made available. Errors are reported but do not fail an order.
  virtual Status CleanUp(const ChallengeInfo& challenge) = 0;
};

// http-01 (RFC 8555 §8.3): serves the key authorization at
// http://<address>/.well-known/acme-challenge/<token> as text, 404 for anything else.
class Http01Solver final : public ChallengeSolver {
 public:
  // Binds and starts the server on listen_address ("host:port"). kNetwork if it cannot bind.
  static Result<std::unique_ptr<Http01Solver>> Create(const std::string& listen_address);
  ~Http01Solver() override;

  std::string_view Type() const override { return "http-01"; }
  Status Present(const ChallengeInfo& challenge) override;
  Status CleanUp(const ChallengeInfo& challenge) override;
  // The bound address (useful with port 0).
  std::string LocalAddress() const;

 private:
  Http01Solver() = default;
  struct Tokens {
    std::mutex mutex;
    std::map<std::string, std::string> by_token;  // token → key authorization
  };
  std::shared_ptr<Tokens> tokens_ = std::make_shared<Tokens>();
  std::unique_ptr<net::HttpServer> server_;
};

namespace internal {
class TlsAlpnListener;
}

// tls-alpn-01 (RFC 8737): a TLS listener that accepts only the "acme-tls/1" ALPN protocol and
// presents, for the SNI name asked, a self-signed certificate holding that identifier as its only
// subjectAltName and the critical id-pe-acmeIdentifier extension with SHA-256 of the key
// authorization. Connections without a presented name or without acme-tls/1 are refused.
class TlsAlpn01Solver final : public ChallengeSolver {
 public:
  // Binds and starts listening on listen_address ("host:port"). kNetwork if it cannot bind.
  static Result<std::unique_ptr<TlsAlpn01Solver>> Create(const std::string& listen_address);
  ~TlsAlpn01Solver() override;

  std::string_view Type() const override { return "tls-alpn-01"; }
  Status Present(const ChallengeInfo& challenge) override;
  Status CleanUp(const ChallengeInfo& challenge) override;
  std::string LocalAddress() const;

 private:
  TlsAlpn01Solver() = default;
  std::unique_ptr<internal::TlsAlpnListener> listener_;
};

// The RFC 8737 §3 challenge certificate for one tls-alpn-01 challenge, for servers that answer
// the challenge on their own TLS listener (the gateway): the name a validator sends as SNI (the
// DNS name, or the RFC 8738 §6 reverse name of an IP address), a self-signed certificate holding
// the identifier as its only subjectAltName and the critical id-pe-acmeIdentifier extension, and
// its fresh ECDSA P-256 key (PKCS#8 PEM; never logged).
struct TlsAlpn01Certificate {
  std::string server_name;
  std::string certificate_pem;
  std::string key_pem;
};

// Builds the challenge certificate for identifier and key_authorization (what TlsAlpn01Solver
// presents). kInvalidArgument for an unusable IP identifier, kCrypto when OpenSSL fails.
// Thread-safe.
Result<TlsAlpn01Certificate> MakeTlsAlpn01Certificate(const Identifier& identifier,
                                                      std::string_view key_authorization);

// dns-01 (RFC 8555 §8.4) through a hook program, called as
//   <program> present <fqdn> <value>    and    <program> cleanup <fqdn> <value>
// with fqdn "_acme-challenge.<domain>." and value the TXT record content (lego's exec provider
// convention). A non-zero exit, or running longer than timeout (then killed), is an error that
// carries the hook's stderr tail. After a successful present, waits propagation_delay.
class Dns01ExecSolver final : public ChallengeSolver {
 public:
  explicit Dns01ExecSolver(std::string program,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60),
                           std::chrono::milliseconds propagation_delay = std::chrono::seconds(0))
      : program_(std::move(program)), timeout_(timeout), propagation_delay_(propagation_delay) {}

  std::string_view Type() const override { return "dns-01"; }
  Status Present(const ChallengeInfo& challenge) override;
  Status CleanUp(const ChallengeInfo& challenge) override;

 private:
  Status Run(std::string_view action, const ChallengeInfo& challenge) const;
  std::string program_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds propagation_delay_;
};

}  // namespace autoseal::acme::client
