// ACME server benchmark (issue 3, "Performance"): full issuances against any ACME directory.
//
// Each of C workers creates one account (newAccount, ES256), then loops: newOrder for a fresh
// name → fetch the authorization → serve the http-01 key authorization from an in-process
// responder → POST the challenge → poll the authorization until valid → finalize with a CSR →
// poll the order while it is processing → download the certificate chain. Every worker keeps one
// HTTPS keep-alive connection, as certbot (requests.Session) and lego (Go net/http) do, so the
// figures measure the ACME server rather than TLS handshakes.
//
// Reported per target:
//   issuances/s                  completed issuances over the wall time of the load phase
//   issuances per server CPU-s   completed issuances / (utime+stime of the server PID, read from
//                                /proc/<pid>/stat before and after the load phase; accounts are
//                                created before the first reading)
//   server time per issuance     the sum of the HTTP round trips of one issuance's requests, i.e.
//                                what the client waited on the server, excluding its own signing
//                                and the pauses between polls; p50 and p99
//
// Modes:
//   bench_acme [--autoseal PATH] [--issuances N=2000] [--concurrency C=4]
//       starts `autoseal ca serve` (fresh temp CA dir, durable SQLite) and Debian's Pebble
//       (PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0, with
//       pebble-challtestsrv as its DNS server resolving every name to 127.0.0.1) on free loopback
//       ports, runs the same load against both, prints both and the ratio.
//   bench_acme --directory URL --pid PID --http01-port P [--ca-bundle FILE] [--domain D]
//       one target: any ACME server whose http-01 validations reach 127.0.0.1:P for the names
//       <worker>-<n>.<run>.<D> (D default "bench.localhost").
//   --only autoseal|pebble       run one of the two started servers
//   --server-threads T           `--threads` for autoseal ca serve (default 0: one per core)
//
// Pebble 2.4.0 stalled (validations never finished) with 16 concurrent orders here; 4 is the
// default. A poll that waits more than 20 s counts as a failed issuance.

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "acme/client/solver.h"
#include "acme/jws.h"
#include "core/bytes.h"
#include "crypto/key.h"
#include "x509/csr.h"

using namespace autoseal;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clk = std::chrono::steady_clock;

namespace {

struct Args {
  std::string autoseal = "autoseal";
  std::string directory;  // external mode
  int pid = 0;
  int http01_port = 0;
  std::string ca_bundle;
  std::string domain = "bench.localhost";
  std::string only;
  int issuances = 2000;
  int concurrency = 4;
  unsigned server_threads = 0;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "bench_acme: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r) Die(std::string(what) + ": " + r.error().message());
  return std::move(*r);
}

double CpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  if (close == std::string::npos) Die("cannot read /proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    in >> field;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("bind for a free port");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Starts argv with extra environment, output to log; returns the PID.
int Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& log) {
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    FILE* out = std::fopen(log.c_str(), "w");
    if (out) {
      ::dup2(fileno(out), 1);
      ::dup2(fileno(out), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  return pid;
}

void StopProcess(int pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

int Run(const std::string& cmd) { return std::system(cmd.c_str()); }

struct Url {
  std::string host, port, target;
};
Url ParseUrl(const std::string& url) {
  if (!url.starts_with("https://")) Die("only https:// URLs: " + url);
  std::string rest = url.substr(8);
  size_t slash = rest.find('/');
  std::string hp = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hp.rfind(':');
  u.host = colon == std::string::npos ? hp : hp.substr(0, colon);
  u.port = colon == std::string::npos ? "443" : hp.substr(colon + 1);
  return u;
}

struct Response {
  int status = 0;
  std::string body, location, nonce, retry_after;
};

// One keep-alive HTTPS connection; reconnects when the server closes it.
class Connection {
 public:
  Connection(ssl::context& ctx, Url origin) : ctx_(ctx), origin_(std::move(origin)) {}

  Response Send(http::verb method, const std::string& url, const std::string& body) {
    for (int attempt = 0;; ++attempt) {
      beast::error_code ec;
      if (!stream_) Connect();
      http::request<http::string_body> req{method, ParseUrl(url).target, 11};
      req.set(http::field::host, origin_.host + ":" + origin_.port);
      req.set(http::field::user_agent, "autoseal-bench_acme");
      if (method == http::verb::post) req.set(http::field::content_type, "application/jose+json");
      req.body() = body;
      req.prepare_payload();
      http::write(*stream_, req, ec);
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      if (method == http::verb::head) parser.skip(true);
      if (!ec) http::read(*stream_, buffer_, parser, ec);
      if (ec) {
        stream_.reset();
        buffer_.clear();
        if (attempt < 2) continue;
        Die("HTTP " + url + ": " + ec.message());
      }
      auto& res = parser.get();
      Response r;
      r.status = res.result_int();
      r.body = std::move(res.body());
      if (auto it = res.find(http::field::location); it != res.end()) r.location = std::string(it->value());
      if (auto it = res.find("Replay-Nonce"); it != res.end()) r.nonce = std::string(it->value());
      if (auto it = res.find(http::field::retry_after); it != res.end()) r.retry_after = std::string(it->value());
      if (!res.keep_alive()) {
        stream_.reset();
        buffer_.clear();
      }
      return r;
    }
  }

 private:
  void Connect() {
    stream_.emplace(io_, ctx_);
    asio::ip::tcp::resolver resolver(io_);
    auto eps = resolver.resolve(origin_.host, origin_.port);
    beast::get_lowest_layer(*stream_).connect(eps);
    beast::get_lowest_layer(*stream_).socket().set_option(asio::ip::tcp::no_delay(true));
    stream_->handshake(ssl::stream_base::client);
  }

  asio::io_context io_;
  ssl::context& ctx_;
  Url origin_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

json::object ParseObject(const std::string& text, const std::string& what) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) Die(what + ": not a JSON object: " + text.substr(0, 300));
  return v.get_object();
}

std::string Str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

struct Shared {
  std::string directory_url;
  json::object directory;
  ssl::context* ctx = nullptr;
  acme::client::Http01Solver* responder = nullptr;
  std::string domain;
  std::atomic<int> next{0};
  int total = 0;
  std::mutex mu;
  std::vector<double> server_ms, wall_ms;
  std::atomic<long> requests{0}, bad_nonces{0}, failures{0};
  // Accounts ready → the load starts together.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
};

class Worker {
 public:
  Worker(Shared& s, int index)
      : s_(s),
        index_(index),
        conn_(*s.ctx, ParseUrl(s.directory_url)),
        account_key_(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "account key")),
        cert_key_(Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256), "certificate key")) {}

  void Run() {
    thumbprint_ = Must(acme::JwkThumbprint(account_key_.Public()), "thumbprint");
    Response r = Post(Str(s_.directory, "newAccount"), R"({"termsOfServiceAgreed":true})", /*jwk=*/true);
    if (r.status != 201 && r.status != 200) Die("newAccount: HTTP " + std::to_string(r.status) + " " + r.body);
    kid_ = r.location;
    s_.ready++;
    while (!s_.go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (;;) {
      int n = s_.next++;
      if (n >= s_.total) break;
      Issue(n);
    }
  }

 private:
  Response Post(const std::string& url, const std::string& payload, bool jwk = false) {
    for (int attempt = 0;; ++attempt) {
      if (nonce_.empty()) {
        auto t0 = Clk::now();
        Response nr = conn_.Send(http::verb::head, Str(s_.directory, "newNonce"), "");
        server_s_ += std::chrono::duration<double>(Clk::now() - t0).count();
        s_.requests++;
        nonce_ = nr.nonce;
      }
      std::string body = Must(acme::SignJws(account_key_, url, nonce_, jwk ? "" : kid_, payload), "sign");
      nonce_.clear();
      auto t0 = Clk::now();
      Response r = conn_.Send(http::verb::post, url, body);
      server_s_ += std::chrono::duration<double>(Clk::now() - t0).count();
      s_.requests++;
      nonce_ = r.nonce;
      if (r.status == 400 && r.body.find("badNonce") != std::string::npos && attempt < 10) {
        s_.bad_nonces++;
        continue;
      }
      return r;
    }
  }

  // Polls url (POST-as-GET) while its status is one of the waiting ones.
  json::object Poll(const std::string& url, json::object obj, std::initializer_list<const char*> waiting) {
    auto pause = std::chrono::milliseconds(2);
    const auto deadline = Clk::now() + std::chrono::seconds(20);
    while (Clk::now() < deadline) {
      std::string status = Str(obj, "status");
      if (std::none_of(waiting.begin(), waiting.end(), [&](const char* w) { return status == w; })) return obj;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
      Response r = Post(url, "");
      if (r.status != 200) Die("poll " + url + ": HTTP " + std::to_string(r.status) + " " + r.body);
      obj = ParseObject(r.body, "poll");
    }
    return obj;  // still waiting after 20 s: the caller counts a failed issuance
  }

  void Issue(int n) {
    server_s_ = 0;
    auto start = Clk::now();
    std::string name = "w" + std::to_string(index_) + "-" + std::to_string(n) + "." + s_.domain;
    Response r = Post(Str(s_.directory, "newOrder"),
                      R"({"identifiers":[{"type":"dns","value":")" + name + R"("}]})");
    if (r.status != 201) return Fail("newOrder", r);
    std::string order_url = r.location;
    auto order = ParseObject(r.body, "order");
    std::string authz_url(order["authorizations"].as_array().at(0).as_string());
    std::string finalize_url = Str(order, "finalize");

    r = Post(authz_url, "");
    if (r.status != 200) return Fail("authz", r);
    auto authz = ParseObject(r.body, "authz");
    std::string chall_url, token;
    for (const auto& c : authz["challenges"].as_array()) {
      const auto& co = c.as_object();
      if (Str(co, "type") == "http-01") {
        chall_url = Str(co, "url");
        token = Str(co, "token");
      }
    }
    if (chall_url.empty()) return Fail("no http-01 challenge", r);
    acme::client::ChallengeInfo info{.type = "http-01",
                                     .identifier = {"dns", name},
                                     .token = token,
                                     .key_authorization = token + "." + thumbprint_};
    (void)s_.responder->Present(info);
    r = Post(chall_url, "{}");
    if (r.status != 200) return Fail("challenge", r);
    authz = Poll(authz_url, authz, {"pending"});
    (void)s_.responder->CleanUp(info);
    if (Str(authz, "status") != "valid") return Fail("authorization " + Str(authz, "status"), {0, json::serialize(authz)});

    auto csr = Must(x509::CreateCertificateRequest(cert_key_, {.dns_names = {name}}), "csr");
    r = Post(finalize_url, R"({"csr":")" + Base64UrlEncode(csr.Der()) + R"("})");
    if (r.status != 200) return Fail("finalize", r);
    order = Poll(order_url, ParseObject(r.body, "finalize"), {"processing", "ready"});
    if (Str(order, "status") != "valid") return Fail("order " + Str(order, "status"), {0, json::serialize(order)});
    r = Post(Str(order, "certificate"), "");
    if (r.status != 200 || !r.body.starts_with("-----BEGIN CERTIFICATE-----")) return Fail("download", r);
    double wall = std::chrono::duration<double, std::milli>(Clk::now() - start).count();
    std::lock_guard lock(s_.mu);
    s_.server_ms.push_back(server_s_ * 1000);
    s_.wall_ms.push_back(wall);
  }

  void Fail(const std::string& what, const Response& r) {
    if (s_.failures++ < 5)
      std::fprintf(stderr, "  issuance failed at %s: HTTP %d %s\n", what.c_str(), r.status, r.body.substr(0, 400).c_str());
  }

  Shared& s_;
  int index_;
  Connection conn_;
  crypto::PrivateKey account_key_, cert_key_;
  std::string thumbprint_, kid_, nonce_;
  double server_s_ = 0;
};

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

struct Figures {
  std::string name;
  int done = 0;
  double per_s = 0, per_cpu_s = 0, cpu_s = 0, wall_s = 0, p50 = 0, p99 = 0, wall_p50 = 0;
  double requests_per_issuance = 0;
  long failures = 0, bad_nonces = 0;
};

Figures Load(const std::string& name, const std::string& directory_url, int pid, const std::string& ca_bundle,
             acme::client::Http01Solver& responder, const std::string& domain, const Args& a) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  if (ca_bundle.empty()) ctx.set_default_verify_paths();
  else ctx.load_verify_file(ca_bundle);
  Shared s;
  s.directory_url = directory_url;
  s.ctx = &ctx;
  s.responder = &responder;
  s.domain = std::to_string(::getpid()) + "." + domain;
  s.total = a.issuances;
  {
    Connection c(ctx, ParseUrl(directory_url));
    Response r = c.Send(http::verb::get, directory_url, "");
    if (r.status != 200) Die(name + ": directory: HTTP " + std::to_string(r.status));
    s.directory = ParseObject(r.body, "directory");
  }
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < a.concurrency; ++i) workers.push_back(std::make_unique<Worker>(s, i));
  for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });
  while (s.ready < a.concurrency) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s.requests = 0;
  double cpu0 = CpuSeconds(pid);
  auto t0 = Clk::now();
  s.go = true;
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clk::now() - t0).count();
  double cpu = CpuSeconds(pid) - cpu0;
  Figures f;
  f.name = name;
  f.done = static_cast<int>(s.server_ms.size());
  f.wall_s = wall;
  f.cpu_s = cpu;
  f.per_s = f.done / wall;
  f.per_cpu_s = cpu > 0 ? f.done / cpu : 0;
  f.p50 = Pct(s.server_ms, 0.5);
  f.p99 = Pct(s.server_ms, 0.99);
  f.wall_p50 = Pct(s.wall_ms, 0.5);
  f.failures = s.failures;
  f.bad_nonces = s.bad_nonces;
  f.requests_per_issuance = f.done > 0 ? static_cast<double>(s.requests) / f.done : 0;
  return f;
}

void Print(const Figures& f, const Args& a) {
  std::printf("%-9s %d issuances (%ld failed, %ld badNonce retries), %d concurrent orders, %.1f requests/issuance\n",
              f.name.c_str(), f.done, f.failures, f.bad_nonces, a.concurrency, f.requests_per_issuance);
  std::printf("          %.1f issuances/s over %.2f s wall; server CPU %.2f s → %.0f issuances per server CPU-second\n",
              f.per_s, f.wall_s, f.cpu_s, f.per_cpu_s);
  std::printf("          server time per issuance: p50 %.1f ms, p99 %.1f ms (wall per issuance p50 %.1f ms)\n", f.p50,
              f.p99, f.wall_p50);
  std::fflush(stdout);
}

void WaitForDirectory(const std::string& url, const std::string& ca, int pid) {
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) Die("server exited while starting: " + url);
    if (Run("curl -fsS -o /dev/null --cacert " + ca + " " + url + " 2>/dev/null") == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Die("server did not come up: " + url);
}

Figures RunAutoseal(const Args& a, const std::string& tmp, acme::client::Http01Solver& responder, int http_port) {
  std::string dir = tmp + "/autoseal";
  if (Run(a.autoseal + " ca init --dir " + dir + " > " + tmp + "/autoseal-init.log 2>&1") != 0)
    Die("autoseal ca init failed (see " + tmp + "/autoseal-init.log)");
  int port = FreePort();
  std::string listen = "127.0.0.1:" + std::to_string(port);
  int pid = Spawn({a.autoseal, "ca", "serve", "--dir", dir, "--listen", listen, "--http01-port", std::to_string(http_port),
                   "--threads", std::to_string(a.server_threads), "--orders-per-account-per-hour", "0",
                   "--orders-per-domain-per-hour", "0", "--accounts-per-ip-per-hour", "0"},
                  {}, tmp + "/autoseal-serve.log");
  std::string ca = tmp + "/autoseal-roots.pem";
  Run(a.autoseal + " ca roots --dir " + dir + " > " + ca);
  std::string url = "https://" + listen + "/directory";
  WaitForDirectory(url, ca, pid);
  std::printf("autoseal: %s (pid %d, data %s)\n", url.c_str(), pid, dir.c_str());
  Figures f = Load("autoseal", url, pid, ca, responder, a.domain, a);
  StopProcess(pid);
  return f;
}

Figures RunPebble(const Args& a, const std::string& tmp, acme::client::Http01Solver& responder, int http_port) {
  std::string d = tmp + "/pebble";
  std::filesystem::create_directories(d);
  std::string ossl =
      "cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj '/CN=bench minica' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem "
      "-out srv.csr -subj '/CN=localhost' && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' "
      "> ext.cnf && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 "
      "-extfile ext.cnf";
  if (Run("(" + ossl + ") > " + d + "/openssl.log 2>&1") != 0) Die("openssl for Pebble's TLS certificate failed");
  int port = FreePort(), mgmt = FreePort(), dns = FreePort(), dns_mgmt = FreePort(), tls_port = FreePort();
  {
    std::ofstream cfg(d + "/pebble-config.json");
    cfg << "{\"pebble\":{\"listenAddress\":\"127.0.0.1:" << port << "\",\"managementListenAddress\":\"127.0.0.1:" << mgmt
        << "\",\"certificate\":\"" << d << "/cert.pem\",\"privateKey\":\"" << d << "/key.pem\",\"httpPort\":" << http_port
        << ",\"tlsPort\":" << tls_port << ",\"ocspResponderURL\":\"\",\"externalAccountBindingRequired\":false}}\n";
  }
  int dns_pid = Spawn({"pebble-challtestsrv", "-dns01", "127.0.0.1:" + std::to_string(dns), "-http01", "", "-https01", "",
                       "-tlsalpn01", "", "-management", "127.0.0.1:" + std::to_string(dns_mgmt), "-defaultIPv4", "127.0.0.1",
                       "-defaultIPv6", ""},
                      {}, d + "/challtestsrv.log");
  int pid = Spawn({"pebble", "-config", d + "/pebble-config.json", "-dnsserver", "127.0.0.1:" + std::to_string(dns)},
                  {"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}, d + "/pebble.log");
  std::string url = "https://127.0.0.1:" + std::to_string(port) + "/dir";
  WaitForDirectory(url, d + "/ca.pem", pid);
  std::printf("pebble:   %s (pid %d, DNS pebble-challtestsrv pid %d)\n", url.c_str(), pid, dns_pid);
  double dns_cpu0 = CpuSeconds(dns_pid);
  Figures f = Load("pebble", url, pid, d + "/ca.pem", responder, a.domain, a);
  std::printf("          (pebble-challtestsrv, its DNS server, used %.2f CPU-s besides)\n", CpuSeconds(dns_pid) - dns_cpu0);
  StopProcess(pid);
  StopProcess(dns_pid);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + k);
      return argv[++i];
    };
    if (k == "--autoseal") a.autoseal = v();
    else if (k == "--directory") a.directory = v();
    else if (k == "--pid") a.pid = std::stoi(v());
    else if (k == "--http01-port") a.http01_port = std::stoi(v());
    else if (k == "--ca-bundle") a.ca_bundle = v();
    else if (k == "--domain") a.domain = v();
    else if (k == "--only") a.only = v();
    else if (k == "--issuances") a.issuances = std::stoi(v());
    else if (k == "--concurrency") a.concurrency = std::stoi(v());
    else if (k == "--server-threads") a.server_threads = static_cast<unsigned>(std::stoi(v()));
    else Die("unknown argument " + k + " (see the comment at the top of bench/acme_bench.cc)");
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (!a.directory.empty()) {
    if (a.pid <= 0 || a.http01_port <= 0) Die("--directory needs --pid and --http01-port");
    auto responder = Must(acme::client::Http01Solver::Create("127.0.0.1:" + std::to_string(a.http01_port)), "responder");
    Print(Load("server", a.directory, a.pid, a.ca_bundle, *responder, a.domain, a), a);
    return 0;
  }
  auto responder = Must(acme::client::Http01Solver::Create("127.0.0.1:0"), "responder");
  std::string addr = responder->LocalAddress();
  int http_port = std::stoi(addr.substr(addr.rfind(':') + 1));
  std::string tmp = std::filesystem::temp_directory_path() / ("bench_acme." + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  std::printf("bench_acme: %d issuances per server, %d concurrent orders, http-01 responder %s, temp %s\n", a.issuances,
              a.concurrency, addr.c_str(), tmp.c_str());
  std::optional<Figures> ours, pebble;
  if (a.only.empty() || a.only == "autoseal") {
    ours = RunAutoseal(a, tmp, *responder, http_port);
    Print(*ours, a);
  }
  if (a.only.empty() || a.only == "pebble") {
    pebble = RunPebble(a, tmp, *responder, http_port);
    Print(*pebble, a);
  }
  if (ours && pebble && pebble->per_cpu_s > 0 && pebble->per_s > 0)
    std::printf("autoseal / pebble: %.1fx issuances per server CPU-second, %.1fx issuances/s\n",
                ours->per_cpu_s / pebble->per_cpu_s, ours->per_s / pebble->per_s);
  std::filesystem::remove_all(tmp);
  return 0;
}
