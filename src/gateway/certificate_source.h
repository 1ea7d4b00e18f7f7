#pragma once

// The seam between the gateway's listeners (gateway/proxy, gateway/listener) and its certificate
// manager (gateway/certificate_manager): the listeners ask, on every handshake and every plain
// HTTP request, which certificate to present and whether an ACME challenge is being answered.
// No OpenSSL or Boost types here; the listener builds (and caches) its TLS contexts from these
// PEM texts, keyed by the identity of the shared_ptr, so a renewed certificate is a new object
// and connections already open keep the one they started with.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "crypto/key.h"

namespace autoseal::gateway {

// One certificate chain and its private key, immutable once made. Never logged.
struct CertifiedKey {
  std::string chain_pem;  // leaf first, then intermediates
  std::string key_pem;    // PKCS#8 PEM
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
  TimePoint not_after{};
};

// What a site presents: one certificate per key type it has (ECDSA and RSA; later SM2), the
// listener choosing per the client's signature_algorithms (ECDSA first when the client offers
// it).
struct SiteCertificates {
  std::string site;  // the site's configured name (for logs and metrics)
  std::vector<std::shared_ptr<const CertifiedKey>> keys;
};

// Where listeners get certificates. Implementations are thread-safe and fast (called on every
// TLS handshake from the I/O threads; no blocking I/O).
class CertificateSource {
 public:
  virtual ~CertificateSource() = default;
  // The certificates for a TLS server_name (already lower-cased, no trailing dot), matching a
  // site's names exactly or through a wildcard name; nullptr when no site has the name or the
  // site has no certificate yet (the handshake is then refused with an unrecognized_name alert).
  virtual std::shared_ptr<const SiteCertificates> Lookup(std::string_view server_name) const = 0;
};

// Answers ACME challenges on the gateway's own listeners (RFC 8555 §8.3 http-01 on the HTTP
// listener, RFC 8737 tls-alpn-01 on the HTTPS listener). Thread-safe and fast.
class ChallengeResponder {
 public:
  virtual ~ChallengeResponder() = default;
  // http-01: the key authorization to serve at /.well-known/acme-challenge/<token> for host,
  // or nullopt (the listener then answers 404).
  virtual std::optional<std::string> Http01(std::string_view host,
                                            std::string_view token) const = 0;
  // tls-alpn-01: the self-signed challenge certificate (RFC 8737 §3) to present to a client
  // that offers only ALPN "acme-tls/1" for server_name, or nullptr (handshake refused).
  virtual std::shared_ptr<const CertifiedKey> TlsAlpn01(std::string_view server_name) const = 0;
};

}  // namespace autoseal::gateway
