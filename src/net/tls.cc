#include "net/internal/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "core/file.h"

namespace autoseal::net::internal {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// Mozilla "intermediate" TLS 1.2 suites (forward secret AEADs); TLS 1.3 uses OpenSSL's defaults.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::unexpected<Error> TlsFail(ErrorCode code, std::string what) {
  std::string details = DrainOpenSslErrors();
  if (!details.empty()) what += ": " + details;
  return Fail(code, std::move(what));
}

// Never prompt on a terminal for an encrypted key: refuse instead.
int NoPassword(char*, int, int, void*) { return -1; }

Result<BioPtr> MemBio(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return TlsFail(ErrorCode::kInternal, "BIO_new_mem_buf failed");
  return bio;
}

Result<std::string> InlineOrFile(const std::string& inline_text, const std::string& path,
                                 std::string_view what) {
  if (!inline_text.empty()) return inline_text;
  if (path.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "TLS " + std::string(what) + " missing");
  }
  return TRY_CONTEXT(ReadFile(path), "reading TLS " + std::string(what));
}

// Reads every certificate in a PEM text, in order. kInvalidArgument if there is none or one
// does not parse.
Result<std::vector<X509Ptr>> ReadCertificates(std::string_view pem, std::string_view what) {
  BioPtr bio = TRY(MemBio(pem));
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  // Reading stops with PEM_R_NO_START_LINE at the end of the text; anything else is an error.
  unsigned long err = ERR_peek_last_error();
  if (err != 0 &&
      !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return TlsFail(ErrorCode::kInvalidArgument, "cannot parse " + std::string(what));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "no PEM certificate in " + std::string(what));
  }
  return certs;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // RFC 7301 §3.2 would allow a fatal alert; carry on without.
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Status CommonSetup(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return TlsFail(ErrorCode::kInternal, "cannot set minimum TLS version");
  }
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return TlsFail(ErrorCode::kInternal, "cannot set TLS 1.2 ciphers");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  return Ok();
}

}  // namespace

std::string DrainOpenSslErrors() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Result<SslCtxPtr> BuildServerSslCtx(const TlsServerOptions& tls) {
  ERR_clear_error();
  std::string chain_pem =
      TRY(InlineOrFile(tls.certificate_chain_pem, tls.certificate_chain_file, "certificate chain"));
  std::string key_pem = TRY(InlineOrFile(tls.private_key_pem, tls.private_key_file, "private key"));

  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return TlsFail(ErrorCode::kInternal, "SSL_CTX_new failed");
  TRY(CommonSetup(ctx.get()));
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);

  std::vector<X509Ptr> chain = TRY(ReadCertificates(chain_pem, "TLS certificate chain"));
  if (SSL_CTX_use_certificate(ctx.get(), chain[0].get()) != 1) {
    return TlsFail(ErrorCode::kInvalidArgument, "TLS certificate rejected");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), chain[i].get()) != 1) {
      return TlsFail(ErrorCode::kInvalidArgument, "TLS chain certificate rejected");
    }
  }

  BioPtr key_bio = TRY(MemBio(key_pem));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr));
  if (!key) {
    return TlsFail(ErrorCode::kInvalidArgument, "cannot parse TLS private key (PEM, unencrypted)");
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return TlsFail(ErrorCode::kInvalidArgument, "TLS private key does not match the certificate");
  }

  static constexpr unsigned char kSessionContext[] = "autoseal-net";
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_alpn_select_cb(ctx.get(), SelectAlpn, nullptr);
  return ctx;
}

Result<SslCtxPtr> BuildClientSslCtx(const HttpClientOptions& options) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return TlsFail(ErrorCode::kInternal, "SSL_CTX_new failed");
  TRY(CommonSetup(ctx.get()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp11, sizeof(kAlpnHttp11)) != 0) {
    return TlsFail(ErrorCode::kInternal, "cannot set ALPN");
  }

  if (options.ca_file.empty() && options.ca_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return TlsFail(ErrorCode::kInternal, "cannot load the system trust store");
    }
    return ctx;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());  // borrowed
  auto add_all = [&](std::string_view pem, std::string_view what) -> Status {
    std::vector<X509Ptr> certs = TRY(ReadCertificates(pem, what));
    for (const X509Ptr& cert : certs) {
      if (X509_STORE_add_cert(store, cert.get()) != 1) {
        return TlsFail(ErrorCode::kInvalidArgument,
                       "cannot add CA certificate from " + std::string(what));
      }
    }
    return Ok();
  };
  if (!options.ca_file.empty()) {
    std::string pem = TRY_CONTEXT(ReadFile(options.ca_file), "reading CA bundle");
    TRY(add_all(pem, "CA bundle " + options.ca_file));
  }
  if (!options.ca_pem.empty()) TRY(add_all(options.ca_pem, "CA PEM"));
  return ctx;
}

Status ConfigureClientSsl(SSL* ssl, const std::string& host) {
  in6_addr addr6;
  in_addr addr4;
  bool is_ip = inet_pton(AF_INET, host.c_str(), &addr4) == 1 ||
               inet_pton(AF_INET6, host.c_str(), &addr6) == 1;
  if (is_ip) {
    // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in "HostName"."
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
      return TlsFail(ErrorCode::kInternal, "cannot set the IP address to verify");
    }
    return Ok();
  }
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return TlsFail(ErrorCode::kInternal, "cannot set SNI");
  }
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, host.c_str()) != 1) {
    return TlsFail(ErrorCode::kInternal, "cannot set the host name to verify");
  }
  return Ok();
}

std::string VerifyFailureReason(const SSL* ssl) {
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return "";
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
}

}  // namespace autoseal::net::internal
