#pragma once

// Test support for the gateway's listener, TLS and proxy tests: self-signed certificates, a
// static certificate source and challenge responder, a blocking origin server with a few
// behaviours, and a blocking HTTP client over TCP or TLS (OpenSSL). Everything on 127.0.0.1
// with kernel-chosen ports; every socket read has a timeout so a broken gateway fails a test
// instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/certificate_source.h"

namespace autoseal::gateway::testing {

// A self-signed certificate for names (the first is also the CN), ECDSA P-256 or RSA 2048.
inline std::shared_ptr<const CertifiedKey> MakeCertifiedKey(crypto::KeyType type,
                                                            const std::vector<std::string>& names) {
  EVP_PKEY* key = type == crypto::KeyType::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial_bytes[8];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  auto out = std::make_shared<CertifiedKey>();
  out->chain_pem.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  len = BIO_get_mem_data(bio, &data);
  out->key_pem.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  out->key_type = type;
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// SHA-256 fingerprint (hex) of the first certificate in a PEM text or of an X509.
inline std::string Fingerprint(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(x, EVP_sha256(), md, &n);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}
inline std::string Fingerprint(const CertifiedKey& key) {
  BIO* bio = BIO_new_mem_buf(key.chain_pem.data(), static_cast<int>(key.chain_pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  std::string fp = Fingerprint(x);
  X509_free(x);
  BIO_free(bio);
  return fp;
}

// Sites by exact server name; replaceable at any time (a renewal).
class StaticCertificateSource final : public CertificateSource {
 public:
  void Set(const std::string& server_name, std::string site,
           std::vector<std::shared_ptr<const CertifiedKey>> keys) {
    auto certs = std::make_shared<SiteCertificates>();
    certs->site = std::move(site);
    certs->keys = std::move(keys);
    std::lock_guard<std::mutex> lock(mu_);
    sites_[server_name] = std::move(certs);
  }
  std::shared_ptr<const SiteCertificates> Lookup(std::string_view server_name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sites_.find(std::string(server_name));
    return it == sites_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SiteCertificates>> sites_;
};

class StaticChallenges final : public ChallengeResponder {
 public:
  std::map<std::string, std::string> http01;                        // token -> key authorization
  std::map<std::string, std::shared_ptr<const CertifiedKey>> alpn;  // name -> certificate
  std::optional<std::string> Http01(std::string_view, std::string_view token) const override {
    auto it = http01.find(std::string(token));
    if (it == http01.end()) return std::nullopt;
    return it->second;
  }
  std::shared_ptr<const CertifiedKey> TlsAlpn01(std::string_view name) const override {
    auto it = alpn.find(std::string(name));
    return it == alpn.end() ? nullptr : it->second;
  }
};

inline void SetTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

inline int Listen(uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd, 128);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

inline int ConnectTcp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetTimeouts(fd, 30);
  return fd;
}

// A port nothing listens on (bound, then closed).
inline uint16_t ClosedPort() {
  uint16_t port = 0;
  int fd = Listen(port);
  close(fd);
  return port;
}

// A parsed HTTP response.
struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool ok = false;  // a complete response was read
  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    }
    return std::nullopt;
  }
};

// A blocking HTTP/1.1 client connection over TCP or TLS.
class Client {
 public:
  ~Client() { Close(); }

  bool ConnectPlain(uint16_t port) {
    fd_ = ConnectTcp(port);
    return fd_ >= 0;
  }
  // Connects with SNI server_name ("" for none); sigalgs as for SSL_set1_sigalgs_list; alpn a
  // single protocol name. Returns false with the OpenSSL reason in error().
  bool ConnectTls(uint16_t port, const std::string& server_name, const std::string& sigalgs = "",
                  const std::string& alpn = "", SSL_SESSION* session = nullptr) {
    fd_ = ConnectTcp(port);
    if (fd_ < 0) return false;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    ssl_ = SSL_new(ctx_);
    if (!server_name.empty()) SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    if (!sigalgs.empty()) SSL_set1_sigalgs_list(ssl_, sigalgs.c_str());
    if (!alpn.empty()) {
      std::string wire(1, static_cast<char>(alpn.size()));
      wire += alpn;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
    if (session) SSL_set_session(ssl_, session);
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
      error_ = buf;
      return false;
    }
    return true;
  }
  const std::string& error() const { return error_; }
  SSL* ssl() const { return ssl_; }
  std::string PeerFingerprint() const {
    X509* x = SSL_get1_peer_certificate(ssl_);
    if (!x) return "";
    std::string fp = Fingerprint(x);
    X509_free(x);
    return fp;
  }
  std::string PeerKeyType() const {
    X509* x = SSL_get1_peer_certificate(ssl_);
    if (!x) return "";
    int id = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
    X509_free(x);
    return id == EVP_PKEY_EC ? "EC" : id == EVP_PKEY_RSA ? "RSA" : "other";
  }
  std::string Alpn() const {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  bool Write(std::string_view data) {
    while (!data.empty()) {
      long n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                    : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads what is available (blocking for at least one byte); "" at EOF or error.
  std::string ReadSome(size_t max = 65536) {
    std::string buf(max, '\0');
    errno = 0;
    long n =
        ssl_ ? SSL_read(ssl_, buf.data(), static_cast<int>(max)) : ::recv(fd_, buf.data(), max, 0);
    timed_out_ = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (n <= 0) return "";
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  // Reads one response. With discard_body the body is counted (body_bytes) but not kept.
  Response ReadResponse(bool head = false, bool discard_body = false) {
    Response r;
    size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      std::string more = ReadSome();
      if (more.empty()) return r;
      pending_ += more;
    }
    std::string header = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    size_t line_end = header.find("\r\n");
    std::string status_line = header.substr(0, line_end);
    if (status_line.size() < 12) return r;
    r.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? header.size() : line_end + 2;
    while (pos < header.size()) {
      size_t next = header.find("\r\n", pos);
      if (next == std::string::npos) next = header.size();
      std::string line = header.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), value);
      }
      pos = next + 2;
    }
    body_bytes = 0;
    auto take = [&](size_t n) -> bool {
      while (pending_.size() < n) {
        std::string more = ReadSome();
        if (more.empty()) return false;
        pending_ += more;
        if (discard_body && pending_.size() > (1 << 20) && n > pending_.size()) {
          // count and drop to keep memory flat
          body_bytes += pending_.size();
          n -= pending_.size();
          pending_.clear();
        }
      }
      if (!discard_body) r.body.append(pending_, 0, n);
      body_bytes += n;
      pending_.erase(0, n);
      return true;
    };
    if (head || r.status == 204 || r.status == 304 || r.status / 100 == 1) {
      r.ok = true;
      return r;
    }
    auto te = r.Header("Transfer-Encoding");
    auto cl = r.Header("Content-Length");
    if (te && te->find("chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = pending_.find("\r\n")) == std::string::npos) {
          std::string more = ReadSome();
          if (more.empty()) return r;
          pending_ += more;
        }
        size_t size = std::stoul(pending_.substr(0, eol), nullptr, 16);
        pending_.erase(0, eol + 2);
        if (size == 0) {
          // trailer section ends with an empty line
          while (pending_.find("\r\n") == std::string::npos) {
            std::string more = ReadSome();
            if (more.empty()) return r;
            pending_ += more;
          }
          pending_.erase(0, pending_.find("\r\n") + 2);
          break;
        }
        if (!take(size)) return r;
        if (!take(2)) return r;
        if (!discard_body) r.body.resize(r.body.size() - 2);
        body_bytes -= 2;
        ++chunks;
      }
    } else if (cl) {
      if (!take(std::stoull(*cl))) return r;
    } else {
      for (;;) {
        std::string more = ReadSome();
        if (more.empty()) break;
        body_bytes += more.size();
        if (!discard_body) r.body += more;
      }
      if (!discard_body) r.body = pending_ + r.body;
      pending_.clear();
    }
    r.ok = true;
    return r;
  }
  // True when the peer closed the connection (reads EOF or a reset; not a read timeout).
  bool PeerClosed() { return pending_.empty() && ReadSome().empty() && !timed_out_; }

  void Close() {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (ctx_) {
      SSL_CTX_free(ctx_);
      ctx_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  int fd() const { return fd_; }

  uint64_t body_bytes = 0;
  int chunks = 0;

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  std::string pending_;
  bool timed_out_ = false;
};

// Waits (up to 30 s) until condition holds; returns whether it did. For effects that follow a
// response on another thread (metrics recorded after the last byte was written).
template <class F>
bool Eventually(F condition) {
  for (int i = 0; i < 3000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

// Peak resident memory of this process so far, in bytes (VmHWM).
inline uint64_t PeakRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A blocking origin server, one thread per connection, keep-alive. Routes:
//   /echo-headers       200, body = the request header section as received
//   /upload             reads the body (Content-Length or chunked), 200 "received N"
//   /download?n=N       200 with N bytes (Content-Length), written in 64 KiB blocks
//   /plain              200 "plain body" framed by Content-Length alone, with a Keep-Alive and
//                       a Strict-Transport-Security field of its own
//   /chunked            200, Transfer-Encoding: chunked, body "hello, chunked world"
//   /close-delimited    HTTP/1.0-style body ending at the close
//   /slow               answers after 5 s
//   /sleep?ms=N         answers "slept" after N ms
//   /stall-body?ms=N    200 with 64 KiB of 'x', a pause of N ms, then "later"
//   /close-on-post      closes the connection without an answer for POST, else 200
//   /reply-then-close   200 (claiming keep-alive), then closes the connection
//   /extra-now          200 "ok" chunked, and in the same write a whole response nobody asked
//                       for (200 "unasked")
//   /extra-later        200 "ok", then after 50 ms a response nobody asked for (200 "unasked")
//   /ws-silent          101 for "Upgrade: websocket", then neither reads nor writes
//   /ws                 101 for "Upgrade: websocket", then echoes bytes
//   anything else       200 "origin ok <path>"
class Origin {
 public:
  Origin() {
    fd_ = Listen(port_);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~Origin() { Stop(); }
  void Stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  uint64_t last_upload_bytes() const { return last_upload_.load(); }
  // Responses sent that no request asked for (/extra-now, /extra-later).
  int unasked_sent() const { return unasked_sent_.load(); }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = ::accept(fd_, nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      SetTimeouts(fd, 30);
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  static bool SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Fill(int fd, std::string& pending) {
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    pending.append(buf, static_cast<size_t>(n));
    return true;
  }
  void Serve(int fd) {
    std::string pending;
    for (;;) {
      size_t end;
      while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill(fd, pending)) return Done(fd);
      }
      std::string header = pending.substr(0, end + 4);
      pending.erase(0, end + 4);
      std::string lower = header;
      for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      size_t sp1 = header.find(' ');
      size_t sp2 = header.find(' ', sp1 + 1);
      std::string target = header.substr(sp1 + 1, sp2 - sp1 - 1);
      ++requests_;
      uint64_t received = 0;
      // Request body.
      if (size_t p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
        uint64_t n = std::stoull(lower.substr(p + 17));
        while (n > 0) {
          if (pending.empty() && !Fill(fd, pending)) return Done(fd);
          uint64_t take = std::min<uint64_t>(n, pending.size());
          pending.erase(0, take);
          n -= take;
          received += take;
        }
      } else if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        for (;;) {
          size_t eol;
          while ((eol = pending.find("\r\n")) == std::string::npos) {
            if (!Fill(fd, pending)) return Done(fd);
          }
          uint64_t size = std::stoull(pending.substr(0, eol), nullptr, 16);
          pending.erase(0, eol + 2);
          if (size == 0) {
            while (pending.find("\r\n") == std::string::npos) {
              if (!Fill(fd, pending)) return Done(fd);
            }
            pending.erase(0, pending.find("\r\n") + 2);
            break;
          }
          uint64_t n = size + 2;
          while (n > 0) {
            if (pending.empty() && !Fill(fd, pending)) return Done(fd);
            uint64_t take = std::min<uint64_t>(n, pending.size());
            pending.erase(0, take);
            n -= take;
          }
          received += size;
        }
      }
      last_upload_ = received;
      if (target == "/echo-headers") {
        if (!Reply(fd, header)) return Done(fd);
      } else if (target == "/upload") {
        if (!Reply(fd, "received " + std::to_string(received))) return Done(fd);
      } else if (target.rfind("/download?n=", 0) == 0) {
        uint64_t n = std::stoull(target.substr(12));
        std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
        if (!SendAll(fd, head)) return Done(fd);
        std::string block(65536, 'x');
        while (n > 0) {
          size_t take = static_cast<size_t>(std::min<uint64_t>(n, block.size()));
          if (!SendAll(fd, std::string_view(block.data(), take))) return Done(fd);
          n -= take;
        }
      } else if (target == "/plain") {
        if (!SendAll(fd,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\n"
                     "Strict-Transport-Security: max-age=1\r\nContent-Length: 10\r\n\r\n"
                     "plain body")) {
          return Done(fd);
        }
      } else if (target == "/chunked") {
        if (!SendAll(fd,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "7\r\nhello, \r\n7\r\nchunked\r\n6\r\n world\r\n0\r\n\r\n")) {
          return Done(fd);
        }
      } else if (target == "/close-delimited") {
        SendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
        return Done(fd);
      } else if (target == "/slow") {
        for (int i = 0; i < 50 && !stopped_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!Reply(fd, "slow")) return Done(fd);
      } else if (target.rfind("/sleep?ms=", 0) == 0) {
        auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(std::stoull(target.substr(10)));
        while (!stopped_ && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!Reply(fd, "slept")) return Done(fd);
      } else if (target.rfind("/stall-body?ms=", 0) == 0) {
        auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(std::stoull(target.substr(15)));
        if (!SendAll(
                fd, "HTTP/1.1 200 OK\r\nContent-Length: 65541\r\n\r\n" + std::string(65536, 'x'))) {
          return Done(fd);
        }
        while (!stopped_ && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!SendAll(fd, "later")) return Done(fd);
      } else if (target == "/close-on-post") {
        if (header.starts_with("POST ")) return Done(fd);
        if (!Reply(fd, "not a post")) return Done(fd);
      } else if (target == "/reply-then-close") {
        Reply(fd, "closing");
        return Done(fd);
      } else if (target == "/extra-now") {
        if (!SendAll(fd,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" +
                         std::string(kUnasked))) {
          return Done(fd);
        }
        ++unasked_sent_;
      } else if (target == "/extra-later") {
        if (!Reply(fd, "ok")) return Done(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!SendAll(fd, kUnasked)) return Done(fd);
        ++unasked_sent_;
      } else if (target == "/ws-silent") {
        SendAll(fd,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\n\r\n");
        while (!stopped_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return Done(fd);
      } else if (target == "/ws" && lower.find("\r\nupgrade: websocket") != std::string::npos) {
        if (!SendAll(fd,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n")) {
          return Done(fd);
        }
        if (!pending.empty() && !SendAll(fd, pending)) return Done(fd);
        char buf[65536];
        for (;;) {
          ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
          if (n <= 0) return Done(fd);
          if (!SendAll(fd, std::string_view(buf, static_cast<size_t>(n)))) return Done(fd);
        }
      } else {
        if (!Reply(fd, "origin ok " + target)) return Done(fd);
      }
    }
  }
  static constexpr std::string_view kUnasked =
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nunasked";
  static bool Reply(int fd, const std::string& body) {
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nKeep-Alive: timeout=5\r\n"
        "Connection: keep-alive, X-Origin-Hop\r\nX-Origin-Hop: secret\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    return SendAll(fd, out);
  }
  void Done(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(open_, fd);
    ::close(fd);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<uint64_t> last_upload_{0};
  std::atomic<int> unasked_sent_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> open_;
  std::vector<std::thread> threads_;
};

}  // namespace autoseal::gateway::testing
