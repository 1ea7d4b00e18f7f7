#include "challtestsrv.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace autoseal::acme::test_support {

uint16_t FreePort() {
  static std::set<uint16_t> issued;
  for (int attempt = 0; attempt < 100; ++attempt) {
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(tcp);
      continue;
    }
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    bool udp_ok = bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(udp);
    close(tcp);
    uint16_t port = ntohs(addr.sin_port);
    if (udp_ok && issued.insert(port).second) return port;
  }
  ADD_FAILURE() << "no free port";
  return 0;
}

bool CanConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string RoundTrip(uint16_t port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

ChallTestSrv::ChallTestSrv()
    : dns_(FreePort()),
      http_(FreePort()),
      https_(FreePort()),
      tlsalpn_(FreePort()),
      management_(FreePort()) {
  auto addr = [](uint16_t p) { return "127.0.0.1:" + std::to_string(p); };
  std::vector<std::string> args = {"pebble-challtestsrv",
                                   "-dns01",
                                   addr(dns_),
                                   "-http01",
                                   addr(http_),
                                   "-https01",
                                   addr(https_),
                                   "-tlsalpn01",
                                   addr(tlsalpn_),
                                   "-management",
                                   addr(management_),
                                   "-defaultIPv4",
                                   "127.0.0.1",
                                   "-defaultIPv6",
                                   ""};
  pid_ = fork();
  if (pid_ == 0) {
    // Dies with the test binary even if that crashes before the destructor runs.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 100 && !ready_; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    ready_ = CanConnect(management_) && CanConnect(dns_) && CanConnect(http_) &&
             CanConnect(https_) && CanConnect(tlsalpn_);
    if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
ChallTestSrv::~ChallTestSrv() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

bool ChallTestSrv::Post(const std::string& path, const std::string& json) const {
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " +
                        "application/json\r\nContent-Length: " + std::to_string(json.size()) +
                        "\r\nConnection: close\r\n\r\n" + json;
  return RoundTrip(management_, request).starts_with("HTTP/1.1 200");
}

}  // namespace autoseal::acme::test_support
