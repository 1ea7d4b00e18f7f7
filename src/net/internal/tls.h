#pragma once

// OpenSSL TLS contexts for net/'s server and client. Private to net/ (DESIGN.md §3): no Asio here,
// and OpenSSL types do not leave net/.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "net/client.h"
#include "net/server.h"

namespace autoseal::net::internal {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
// Owns one reference to an SSL_CTX.
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Empties this thread's OpenSSL error queue into one "; "-separated string ("" when empty).
std::string DrainOpenSslErrors();

// Builds a server context (TLS 1.2+, ALPN http/1.1) holding the chain and key from tls, loading
// files through core/file.h. kInvalidArgument when the PEM does not parse or the key does not
// match the leaf certificate, kIo/kNotFound when a file cannot be read.
Result<SslCtxPtr> BuildServerSslCtx(const TlsServerOptions& tls);

// Builds a client context (TLS 1.2+, peer verification on, ALPN http/1.1) trusting ca_file and
// ca_pem, or the system store when both are empty. Errors as for BuildServerSslCtx.
Result<SslCtxPtr> BuildClientSslCtx(const HttpClientOptions& options);

// Prepares a client connection to host (DNS name or IP literal, no brackets): SNI for names and
// verification of the certificate's name or IP address. kInternal if OpenSSL refuses.
Status ConfigureClientSsl(SSL* ssl, const std::string& host);

// A readable reason for a failed handshake on ssl: the certificate verification result when
// verification failed, else "".
std::string VerifyFailureReason(const SSL* ssl);

}  // namespace autoseal::net::internal
