#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace autoseal::net::testing {
namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

uint16_t BoundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("getsockname failed");
  }
  return ntohs(addr.sin_port);
}

[[noreturn]] void Die(const char* what) { throw std::runtime_error(what); }

}  // namespace

RawConnection::RawConnection(uint16_t port, std::chrono::milliseconds receive_timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in addr = Loopback(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  timeval tv{};
  tv.tv_sec = receive_timeout.count() / 1000;
  tv.tv_usec = (receive_timeout.count() % 1000) * 1000;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string RawConnection::ReadResponses(int count) {
  std::string data;
  char buf[16384];
  while (static_cast<int>(ParseResponses(data).size()) < count) {
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

bool RawConnection::ReadUntilClosed(std::string* data) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;  // EAGAIN: the receive timeout passed
    if (data != nullptr) data->append(buf, static_cast<size_t>(n));
  }
}

std::vector<ParsedResponse> ParseResponses(std::string_view data) {
  std::vector<ParsedResponse> out;
  while (true) {
    size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) break;
    ParsedResponse response;
    response.head = std::string(data.substr(0, head_end + 4));
    if (response.head.size() < 12 || !response.head.starts_with("HTTP/1.")) break;
    response.status = std::atoi(response.head.c_str() + 9);
    size_t length = 0;
    std::string lower = response.head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t cl = lower.find("\r\ncontent-length:");
    if (cl != std::string::npos) length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    if (response.status / 100 == 1) length = 0;
    if (data.size() < head_end + 4 + length) break;
    response.body = std::string(data.substr(head_end + 4, length));
    data.remove_prefix(head_end + 4 + length);
    out.push_back(std::move(response));
  }
  return out;
}

uint16_t UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Die("bind failed");
  }
  uint16_t port = BoundPort(fd);
  ::close(fd);
  return port;
}

SilentListener::SilentListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd_, 16) != 0) {
    Die("listen failed");
  }
  port_ = BoundPort(fd_);
}

SilentListener::~SilentListener() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

struct Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) Die("X509_add_ext failed");
}

Owned<X509> MakeCert(const char* common_name, EVP_PKEY* key, X509* issuer, long serial) {
  Owned<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer != nullptr ? issuer : cert.get()));
  return cert;
}

}  // namespace

TestPki MakeTestPki(const std::string& subject_alt_names) {
  Owned<EVP_PKEY> ca_key(EVP_EC_gen("P-256"));
  Owned<EVP_PKEY> leaf_key(EVP_EC_gen("P-256"));
  if (!ca_key || !leaf_key) Die("EVP_EC_gen failed");

  Owned<X509> ca = MakeCert("autoseal net test CA", ca_key.get(), nullptr, 1);
  AddExtension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) == 0) Die("signing CA failed");

  Owned<X509> leaf = MakeCert("autoseal net test server", leaf_key.get(), ca.get(), 2);
  AddExtension(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  AddExtension(leaf.get(), ca.get(), NID_subject_alt_name, subject_alt_names.c_str());
  AddExtension(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid");
  if (X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) == 0) Die("signing leaf failed");

  TestPki pki;
  Owned<BIO> ca_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(ca_bio.get(), ca.get());
  pki.ca_cert_pem = BioText(ca_bio.get());
  Owned<BIO> leaf_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(leaf_bio.get(), leaf.get());
  pki.leaf_cert_pem = BioText(leaf_bio.get());
  Owned<BIO> key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(key_bio.get(), leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  pki.leaf_key_pem = BioText(key_bio.get());
  return pki;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "autoseal-net-test-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::WriteFile(const std::string& name, std::string_view data) const {
  std::string path = path_ + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) Die("writing a test file failed");
  return path;
}

}  // namespace autoseal::net::testing
