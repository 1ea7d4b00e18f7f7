#pragma once

// Helpers for net/ tests: raw client sockets (to send what HttpFetch never would), throwaway
// certificates, temporary directories. Plain POSIX and OpenSSL: no Asio in tests either.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace autoseal::net::testing {

// A connected TCP socket to 127.0.0.1:port with a receive timeout; closes on destruction.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port,
                         std::chrono::milliseconds receive_timeout = std::chrono::seconds(5));
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Sends all of data; false if the peer is gone.
  bool Send(std::string_view data);
  // Reads until `count` complete responses (with Content-Length or no body) have arrived, the
  // peer closes, or the receive timeout passes; returns everything read.
  std::string ReadResponses(int count);
  // Reads until the peer closes (true) or the timeout passes (false); appends to *data.
  bool ReadUntilClosed(std::string* data = nullptr);

 private:
  int fd_ = -1;
};

// Splits a buffer of concatenated HTTP responses into their status codes and bodies; stops at
// the first incomplete one. Each response needs Content-Length (or none for an empty body).
struct ParsedResponse {
  int status = 0;
  std::string head;
  std::string body;
};
std::vector<ParsedResponse> ParseResponses(std::string_view data);

// A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it).
uint16_t UnusedPort();

// A listening socket on 127.0.0.1 that never accepts or answers: clients connect (the kernel
// completes the handshake) and then wait forever.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A CA certificate and a leaf certificate it issued, as PEM, generated fresh with OpenSSL.
struct TestPki {
  std::string ca_cert_pem;
  std::string leaf_cert_pem;
  std::string leaf_key_pem;
};
// subject_alt_names in OpenSSL config syntax, e.g. "IP:127.0.0.1,DNS:localhost".
TestPki MakeTestPki(const std::string& subject_alt_names);

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes data to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, std::string_view data) const;

 private:
  std::string path_;
};

}  // namespace autoseal::net::testing
