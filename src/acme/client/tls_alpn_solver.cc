// tls-alpn-01 (RFC 8737) responder. OpenSSL and POSIX sockets stay inside this file.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include "acme/client/solver.h"
#include "core/bytes.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "crypto/ossl.h"
#include "net/http.h"
#include "x509/certificate.h"
#include "x509/names.h"

namespace autoseal::acme::client {

namespace internal {

namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// RFC 8737 §3: "acme-tls/1" as the one ALPN protocol; RFC 8737 §6.1 the id-pe-acmeIdentifier OID.
constexpr unsigned char kAcmeTls1[] = "acme-tls/1";
constexpr size_t kAcmeTls1Len = sizeof kAcmeTls1 - 1;
constexpr const char* kAcmeIdentifierOid = "1.3.6.1.5.5.7.1.31";
constexpr int kMaxConnections = 32;

// The SNI name a validator sends for an identifier: the DNS name, or for an IP address the
// reverse-mapping name (RFC 8738 §6).
Result<std::string> SniName(const Identifier& id) {
  if (id.type != "ip") {
    std::string n = id.value;
    for (char& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return n;
  }
  Bytes ip = TRY(x509::ParseIpAddress(id.value));
  std::string out;
  if (ip.size() == 4) {
    for (int i = 3; i >= 0; --i) out += std::to_string(ip[static_cast<size_t>(i)]) + ".";
    return out + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[ip[static_cast<size_t>(i)] & 0xf];
    out += '.';
    out += kHex[ip[static_cast<size_t>(i)] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

struct Credential {
  crypto::PrivateKey key;
  crypto::X509Ptr cert;
};

// A self-signed certificate for the identifier with the acmeIdentifier extension (RFC 8737 §3).
Result<Credential> MakeCertificate(const Identifier& id, std::string_view key_authorization) {
  auto key = TRY(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  crypto::X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), 2) != 1) return Fail(crypto::OpenSslError("X509_new"));
  auto serial = TRY(crypto::RandomBytes(16));
  serial[0] &= 0x7f;
  crypto::BignumPtr bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())))
    return Fail(crypto::OpenSslError("serial"));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 7 * 86400);
  X509_NAME* name = X509_get_subject_name(x.get());
  const std::string cn = "ACME tls-alpn-01 challenge";
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  if (X509_set_issuer_name(x.get(), name) != 1 || X509_set_pubkey(x.get(), key.evp()) != 1)
    return Fail(crypto::OpenSslError("certificate fields"));

  // subjectAltName: exactly the one identifier (RFC 8737 §3: "MUST contain a subjectAltName
  // extension containing dNSName entries corresponding to the domain name being validated").
  crypto::GeneralNamesPtr sans(GENERAL_NAMES_new());
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (!sans || !gn) return Fail(crypto::OpenSslError("GENERAL_NAMES_new"));
  if (id.type == "ip") {
    Bytes ip = TRY(x509::ParseIpAddress(id.value));
    ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, ip.data(), static_cast<int>(ip.size()));
    GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
  } else {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, id.value.data(), static_cast<int>(id.value.size()));
    GENERAL_NAME_set0_value(gn, GEN_DNS, s);
  }
  sk_GENERAL_NAME_push(sans.get(), gn);
  if (X509_add1_ext_i2d(x.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) != 1)
    return Fail(crypto::OpenSslError("subjectAltName"));

  // RFC 8737 §3: "The acmeIdentifier extension MUST be critical" and holds
  // "Authorization ::= OCTET STRING (SIZE (32))", the SHA-256 digest of the key authorization.
  Bytes digest = crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(key_authorization));
  Bytes inner = {0x04, static_cast<uint8_t>(digest.size())};
  inner.insert(inner.end(), digest.begin(), digest.end());
  ASN1_OBJECT* oid = OBJ_txt2obj(kAcmeIdentifierOid, 1);
  crypto::Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
  if (!oid || !value || ASN1_OCTET_STRING_set(value.get(), inner.data(), static_cast<int>(inner.size())) != 1) {
    ASN1_OBJECT_free(oid);
    return Fail(crypto::OpenSslError("acmeIdentifier"));
  }
  crypto::X509ExtensionPtr ext(X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value.get()));
  ASN1_OBJECT_free(oid);
  if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1) return Fail(crypto::OpenSslError("acmeIdentifier"));
  if (X509_sign(x.get(), key.evp(), EVP_sha256()) <= 0) return Fail(crypto::OpenSslError("X509_sign"));
  return Credential{std::move(key), std::move(x)};
}

}  // namespace

class TlsAlpnListener {
 public:
  ~TlsAlpnListener() { Stop(); }

  static Result<std::unique_ptr<TlsAlpnListener>> Create(const std::string& address) {
    auto [host, port] = TRY(net::ParseHostPort(address));
    std::unique_ptr<TlsAlpnListener> l(new TlsAlpnListener());
    l->ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!l->ctx_) return Fail(crypto::OpenSslError("SSL_CTX_new"));
    SSL_CTX_set_min_proto_version(l->ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_tlsext_servername_callback(l->ctx_.get(), &TlsAlpnListener::OnServerName);
    SSL_CTX_set_tlsext_servername_arg(l->ctx_.get(), l.get());
    SSL_CTX_set_alpn_select_cb(l->ctx_.get(), &TlsAlpnListener::OnAlpn, nullptr);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port_text = std::to_string(port);
    if (getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res) != 0 || !res)
      return Fail(ErrorCode::kNetwork, "tls-alpn-01 solver: cannot resolve " + address);
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 && listen(fd, 64) == 0;
    freeaddrinfo(res);
    if (!ok) {
      std::string why = std::strerror(errno);
      if (fd >= 0) close(fd);
      return Fail(ErrorCode::kNetwork, "tls-alpn-01 solver: cannot listen on " + address + ": " + why);
    }
    l->fd_ = fd;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    char buf[INET6_ADDRSTRLEN] = {};
    uint16_t bound = 0;
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      bound = ntohs(a->sin_port);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      bound = ntohs(a->sin6_port);
    }
    l->local_address_ = net::FormatHostPort(buf, bound);
    l->thread_ = std::thread([p = l.get()] { p->AcceptLoop(); });
    return l;
  }

  void Add(const std::string& sni, Credential cred) {
    std::lock_guard lock(mutex_);
    creds_.insert_or_assign(sni, std::make_shared<Credential>(std::move(cred)));
  }
  void Remove(const std::string& sni) {
    std::lock_guard lock(mutex_);
    creds_.erase(sni);
  }
  const std::string& local_address() const { return local_address_; }

  void Stop() {
    if (stop_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(conn_mutex_);
    for (auto& c : conns_) {
      shutdown(c.fd, SHUT_RDWR);
      if (c.thread.joinable()) c.thread.join();
      close(c.fd);
    }
    conns_.clear();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  struct Connection {
    int fd;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  TlsAlpnListener() = default;

  static int OnServerName(SSL* ssl, int* alert, void* arg) {
    auto* self = static_cast<TlsAlpnListener*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::shared_ptr<Credential> cred;
    if (name) {
      std::string n(name);
      for (char& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::lock_guard lock(self->mutex_);
      auto it = self->creds_.find(n);
      if (it != self->creds_.end()) cred = it->second;
    }
    if (!cred) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (SSL_use_certificate(ssl, cred->cert.get()) != 1 || SSL_use_PrivateKey(ssl, cred->key.evp()) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
  }

  static int OnAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen, void*) {
    // RFC 8737 §3: only acme-tls/1 is offered by a validator; anything else is refused.
    for (unsigned i = 0; i < inlen;) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == kAcmeTls1Len && std::memcmp(in + i + 1, kAcmeTls1, len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }

  void Serve(int fd) {
    // A validator may close before our last write; block SIGPIPE in this thread (a synchronous,
    // thread-directed signal) so the write fails with EPIPE instead of killing the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SslPtr ssl(SSL_new(ctx_.get()));
    if (ssl && SSL_set_fd(ssl.get(), fd) == 1) {
      if (SSL_accept(ssl.get()) == 1) {
        // The validator only looks at the handshake; it closes the connection afterwards.
        char buf[256];
        while (SSL_read(ssl.get(), buf, sizeof buf) > 0) {
        }
        SSL_shutdown(ssl.get());
      } else {
        crypto::ClearOpenSslErrors();
      }
    }
    ERR_clear_error();
  }

  void Reap(bool all) {
    std::lock_guard lock(conn_mutex_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || it->done->load()) {
        if (it->thread.joinable()) it->thread.join();
        close(it->fd);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void AcceptLoop() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, 100);
      Reap(false);
      if (r <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(conn_mutex_);
      if (conns_.size() >= kMaxConnections) {
        close(c);
        continue;
      }
      auto done = std::make_shared<std::atomic<bool>>(false);
      conns_.push_back(Connection{c, std::thread([this, c, done] {
                                    Serve(c);
                                    done->store(true);
                                  }),
                                  done});
    }
  }

  SslCtxPtr ctx_;
  int fd_ = -1;
  std::string local_address_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;  // guards creds_
  std::map<std::string, std::shared_ptr<Credential>> creds_;
  std::mutex conn_mutex_;  // guards conns_
  std::list<Connection> conns_;
};

}  // namespace internal

Result<std::unique_ptr<TlsAlpn01Solver>> TlsAlpn01Solver::Create(const std::string& listen_address) {
  std::unique_ptr<TlsAlpn01Solver> s(new TlsAlpn01Solver());
  s->listener_ = TRY(internal::TlsAlpnListener::Create(listen_address));
  return s;
}

TlsAlpn01Solver::~TlsAlpn01Solver() = default;

Status TlsAlpn01Solver::Present(const ChallengeInfo& c) {
  std::string sni = TRY(internal::SniName(c.identifier));
  auto cred = TRY_CONTEXT(internal::MakeCertificate(c.identifier, c.key_authorization),
                          "tls-alpn-01 certificate for " + c.identifier.value);
  listener_->Add(sni, std::move(cred));
  return Ok();
}

Status TlsAlpn01Solver::CleanUp(const ChallengeInfo& c) {
  std::string sni = TRY(internal::SniName(c.identifier));
  listener_->Remove(sni);
  return Ok();
}

std::string TlsAlpn01Solver::LocalAddress() const { return listener_->local_address(); }

Result<TlsAlpn01Certificate> MakeTlsAlpn01Certificate(const Identifier& identifier,
                                                      std::string_view key_authorization) {
  TlsAlpn01Certificate out;
  out.server_name = TRY(internal::SniName(identifier));
  auto cred = TRY_CONTEXT(internal::MakeCertificate(identifier, key_authorization),
                          "tls-alpn-01 certificate for " + identifier.value);
  auto cert = TRY(x509::Certificate::FromX509(cred.cert.get()));
  out.certificate_pem = cert.Pem();
  out.key_pem = TRY(cred.key.PrivateKeyPem());
  return out;
}

}  // namespace autoseal::acme::client
