#pragma once

// The HTTPS listener's TLS policy, private to gateway/: one accepting SSL_CTX whose ClientHello
// callback picks, per connection, the site (SNI through CertificateSource), the certificate
// (ECDSA or RSA per the client's signature_algorithms) or the RFC 8737 challenge certificate
// (ALPN "acme-tls/1"), and switches the connection to a per-certificate SSL_CTX built once and
// cached by the CertifiedKey's identity. Session-ticket keys are shared by every context and
// rotated. No Asio here.

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "gateway/certificate_source.h"

namespace autoseal::gateway::internal {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
// Owns one reference to an SSL_CTX.
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// What the ClientHello callback decided for one connection; the session owns it and attaches
// it to its SSL with TlsServer::Attach before the handshake.
struct HandshakeChoice {
  std::string server_name;      // SNI as sent (lower-cased), or "" without SNI
  std::string site;             // SiteCertificates::site of the chosen site ("" for a challenge)
  bool acme_challenge = false;  // ALPN acme-tls/1: close after the handshake (RFC 8737 §3)
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
};

// Which certificate of a site suits a client, per its signature_algorithms extension (RFC 8446
// §4.2.3; TLS 1.2: RFC 5246 §7.4.1.4.1): the first ECDSA key whose scheme the client offers,
// else the first RSA key the client can verify, else the first key. sigalgs is the extension's
// body without its length prefix (pairs of bytes); empty means the client sent none (TLS 1.2
// then implies RSA/SHA-1, RFC 5246 §7.4.1.4.1). nullptr only when keys is empty. Pure.
std::shared_ptr<const CertifiedKey> ChooseCertificate(
    const std::vector<std::shared_ptr<const CertifiedKey>>& keys, std::string_view sigalgs);

// Session-ticket keys (RFC 5077 §4) on a fixed schedule, kept apart from OpenSSL so the
// schedule can be tested with any clock. A key encrypts for one interval and decrypts for one
// more; Update is called before every use, so after an idle spell the keys are as old as the
// schedule allows, never older. Retired keys are wiped with OPENSSL_cleanse. Not thread-safe.
class TicketKeyRing {
 public:
  struct Key {
    unsigned char name[16];
    unsigned char aes_key[32];
    unsigned char hmac_key[32];
  };
  TicketKeyRing() = default;
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // Brings the keys up to date at now: the first call makes a key; once interval has passed
  // since the current key's scheduled start it becomes the previous key (or is dropped too when
  // a second interval has passed) and a new one starts. kInternal if RAND_bytes fails.
  Status Update(std::chrono::steady_clock::time_point now,
                std::chrono::steady_clock::duration interval);
  const Key& current() const { return current_; }
  // The previous key, or nullptr when there is none (or it has expired).
  const Key* previous() const { return have_previous_ ? &previous_ : nullptr; }

 private:
  Key current_{};
  Key previous_{};
  bool have_current_ = false;
  bool have_previous_ = false;
  std::chrono::steady_clock::time_point started_at_{};
};

// The accepting context and its callbacks. Thread-safe: handshakes on every I/O thread call in.
class TlsServer {
 public:
  struct Options {
    bool session_tickets = true;
    std::chrono::seconds ticket_key_rotation{3600};
  };

  // Builds the accepting context (TLS 1.2 and 1.3, ECDHE with AEAD ciphers only, ALPN
  // http/1.1, tickets per options). kInternal if OpenSSL refuses.
  static Result<std::unique_ptr<TlsServer>> Create(const CertificateSource* certificates,
                                                   const ChallengeResponder* challenges,
                                                   Options options);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // The accepting context; borrowed (new SSL objects take their own reference).
  SSL_CTX* context() const { return base_.get(); }

  // Associates choice with ssl; must be called before the handshake starts. choice must outlive
  // the handshake.
  static void Attach(SSL* ssl, HandshakeChoice* choice);

  // The server name used when a client sends no SNI ("" refuses such clients). Thread-safe.
  void SetDefaultServerName(std::string name);

  // Builds (or finds in the cache) the context presenting key; alpn_acme selects acme-tls/1
  // instead of http/1.1. kInvalidArgument when the PEM texts do not load or do not match.
  Result<SSL_CTX*> ContextFor(const std::shared_ptr<const CertifiedKey>& key, bool alpn_acme);

  // Number of cached certificate contexts (tests).
  size_t CachedContexts() const;

 private:
  struct CacheEntry {
    std::weak_ptr<const CertifiedKey> key;
    SslCtxPtr ctx;
    bool acme = false;  // the context negotiates acme-tls/1, not http/1.1
  };

  TlsServer(const CertificateSource* certificates, const ChallengeResponder* challenges,
            Options options);
  Status Init();
  Status CommonSetup(SSL_CTX* ctx) const;
  static int ClientHelloCallback(SSL* ssl, int* alert, void* arg);
  int OnClientHello(SSL* ssl, int* alert);
  static int TicketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                               EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);
  int OnTicketKey(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int encrypt);
  Status RotateTicketKeysIfDue();

  const CertificateSource* certificates_;
  const ChallengeResponder* challenges_;
  const Options options_;
  SslCtxPtr base_;

  mutable std::mutex mu_;  // guards everything below
  std::string default_server_name_;
  std::unordered_map<const void*, CacheEntry> cache_;
  size_t prune_at_ = 64;
  TicketKeyRing ticket_keys_;
};

}  // namespace autoseal::gateway::internal
