// CT log benchmark (issue 4): concurrent add-chain submitters against an in-process
// `autoseal ct serve` (ct::CtService: async HTTP front, DER-level chain checks, batched durable
// sequencing into SQLite with synchronous=FULL, static-ct-api files), all on this machine.
//
//   add-chain   C keep-alive connections post distinct ECDSA chains (leaf + intermediate);
//               closed loop (--rate 0: as fast as the log answers) or paced (--rate R/s).
//               Prints sustained SCTs/s, latency percentiles, storage per entry.
//   parts       the per-entry work measured alone on one core: chain check with the cached
//               issuer key, SCT signature, and OpenSSL's d2i_X509 of the leaf (what a log that
//               parses each submission with OpenSSL would pay) for comparison.
//   proof       get-proof-by-hash at --proof-entries synthetic entries: a log database of that
//               size is written, the log opened (startup time printed), then random lookups.
//
// Peers (not runnable here: no Go toolchain): TesseraCT reports ~10,000 writes/s on NVMe with
// up to 7 cores (docs/performance.md of transparency-dev/tesseract); Sunlight sequences every
// 1 s and Tuscolo served all of Let's Encrypt with 1.04 s p99 add-chain.
//
//   usage: bench_ct [--seconds S=10] [--connections C=2000] [--rate R=0] [--period-ms 300]
//                   [--entries N=120000] [--server-threads 2] [--key-type ecdsa|sm2]
//                   [--proof-entries M=0] [--no-add-chain]

#include <openssl/x509.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "crypto/key.h"
#include "crypto/signature.h"
#include "ct/chain.h"
#include "ct/log.h"
#include "ct/service.h"
#include "store/sqlite.h"
#include "x509/csr.h"
#include "x509/issue.h"

using namespace autoseal;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clk = std::chrono::steady_clock;

namespace {

struct Args {
  int seconds = 10;
  int connections = 2000;
  double rate = 0;
  int period_ms = 300;
  size_t entries = 120000;
  unsigned server_threads = 2;
  std::string key_type = "ecdsa";
  uint64_t proof_entries = 0;
  bool add_chain = true;
};

struct Pki {
  crypto::PrivateKey root_key, int_key;
  x509::Certificate root, intermediate;
};

Pki MakePki() {
  TimePoint now = SystemClock::Instance().Now();
  auto root_key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  x509::CertificateSpec rs;
  rs.profile = x509::Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "CT Bench Root";
  rs.organization = "autoseal bench";
  rs.not_before = now - std::chrono::hours(24);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = *x509::IssueCertificate(rs, nullptr, root_key);
  auto int_key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  x509::CertificateSpec is = rs;
  is.profile = x509::Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "CT Bench Intermediate";
  is.path_length = 0;
  auto inter = *x509::IssueCertificate(is, &root, root_key);
  return Pki{root_key, int_key, root, inter};
}

std::vector<Bytes> MakeLeaves(const Pki& pki, size_t n) {
  auto key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  auto csr = *x509::CreateCertificateRequest(
      key, {.common_name = "bench.example", .dns_names = {"bench.example"}});
  auto spec = *x509::SpecFromRequest(csr, x509::Profile::kTlsServer,
                                     {.days = 90, .now = SystemClock::Instance().Now()});
  std::vector<Bytes> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    spec.dns_names = {"host" + std::to_string(i) + ".bench.example"};
    spec.common_name = spec.dns_names[0];
    out.push_back(x509::IssueCertificate(spec, &pki.intermediate, pki.int_key)->Der());
  }
  return out;
}

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// One keep-alive connection posting requests until the deadline. The load generator shares the
// two cores with the log, so it is kept as light as wrk: each request is pre-built bytes written
// with one send, and the response is framed by hand (status line, Content-Length) in a buffer
// reused for the connection's life; a 200 counts only if its body is an SCT of this log (version
// 0, this log's ID, a DigitallySigned of the log's algorithm).
class Submitter : public std::enable_shared_from_this<Submitter> {
 public:
  struct Shared {
    const std::vector<std::string>* requests;
    std::atomic<size_t> next{0};
    Clk::time_point deadline, measure_from;
    double interval_s = 0;  // paced mode
    std::mutex mu;
    Clk::time_point next_slot;
    std::vector<double> latencies_ms;
    std::atomic<uint64_t> ok{0}, errors{0}, ok_measured{0};
    std::string port;
    std::string expected_id;   // `"id":"<base64 log ID>"`: every 200 must carry this log's SCT
    std::string expected_sig;  // `"signature":"` and the base64 of the DigitallySigned header
  };
  Submitter(asio::io_context& io, Shared& s) : socket_(io), timer_(io), s_(s) {
    buf_.resize(16384);
  }
  void Start() {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"),
                               static_cast<uint16_t>(std::stoi(s_.port)));
    socket_.async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        self->s_.errors++;
        return;
      }
      self->socket_.set_option(asio::ip::tcp::no_delay(true));
      self->Next();
    });
  }

 private:
  void Next() {
    if (Clk::now() >= s_.deadline) return;
    size_t i = s_.next++;
    if (i >= s_.requests->size()) return;  // every chain once: no duplicates
    index_ = i;
    if (s_.interval_s > 0) {
      Clk::time_point slot;
      {
        std::lock_guard l(s_.mu);
        slot = std::max(Clk::now(), s_.next_slot);
        s_.next_slot = slot + std::chrono::duration_cast<Clk::duration>(
                                  std::chrono::duration<double>(s_.interval_s));
      }
      timer_.expires_at(slot);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->Send(); });
    } else {
      Send();
    }
  }
  void Send() {
    sent_ = Clk::now();
    const std::string& req = (*s_.requests)[index_];
    asio::async_write(socket_, asio::buffer(req),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          self->s_.errors++;
                          return;
                        }
                        self->Read();
                      });
  }
  // Reads until one whole response is in buf_[0, have_).
  void Read() {
    if (auto done = Complete()) {
      OnResponse(*done);
      return;
    }
    if (have_ == buf_.size()) buf_.resize(buf_.size() * 2);
    socket_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) {
                                self->s_.errors++;
                                return;
                              }
                              self->have_ += n;
                              self->Read();
                            });
  }
  // The length of the first complete response in the buffer, if there is one.
  std::optional<size_t> Complete() const {
    std::string_view v(buf_.data(), have_);
    size_t end = v.find("\r\n\r\n");
    if (end == std::string_view::npos) return std::nullopt;
    size_t length = 0;
    for (std::string_view key : {"Content-Length: ", "content-length: "}) {
      size_t at = v.substr(0, end).find(key);
      if (at != std::string_view::npos)
        length = std::strtoul(buf_.data() + at + key.size(), nullptr, 10);
    }
    if (have_ < end + 4 + length) return std::nullopt;
    return end + 4 + length;
  }
  void OnResponse(size_t length) {
    auto now = Clk::now();
    int status = have_ > 12 ? std::atoi(buf_.data() + 9) : 0;
    // A 200 counts only with an SCT of this log in its body (RFC 6962 §4.1 fields).
    std::string_view response(buf_.data(), length);
    std::string_view body = response.substr(std::min(length, response.find("\r\n\r\n") + 4));
    bool sct = body.starts_with("{\"sct_version\":0,") &&
               body.find(s_.expected_id) != std::string_view::npos &&
               body.find(s_.expected_sig) != std::string_view::npos && body.ends_with("\"}");
    if (status == 200 && sct) {
      s_.ok++;
      if (sent_ >= s_.measure_from) {
        s_.ok_measured++;
        std::lock_guard l(s_.mu);
        s_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - sent_).count());
      }
    } else {
      s_.errors++;
      if (s_.errors < 5)
        std::fprintf(stderr, "HTTP %d: %.*s\n", status, static_cast<int>(length), buf_.data());
    }
    std::memmove(buf_.data(), buf_.data() + length, have_ - length);
    have_ -= length;
    Next();
  }
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  Shared& s_;
  size_t index_ = 0;
  Clk::time_point sent_;
  std::vector<char> buf_;
  size_t have_ = 0;
};

void BenchParts(const Pki& pki, const std::vector<Bytes>& leaves) {
  ct::ChainValidator v({pki.root});
  auto now = SystemClock::Instance().Now();
  (void)v.Validate({leaves[0], pki.intermediate.Der()}, false, now);
  const size_t n = std::min<size_t>(3000, leaves.size());
  auto t0 = Clk::now();
  for (size_t i = 0; i < n; ++i) (void)v.Validate({leaves[i], pki.intermediate.Der()}, false, now);
  double validate_us =
      std::chrono::duration<double, std::micro>(Clk::now() - t0).count() / static_cast<double>(n);
  t0 = Clk::now();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = leaves[i].data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(leaves[i].size()));
    X509_free(x);
  }
  double d2i_us =
      std::chrono::duration<double, std::micro>(Clk::now() - t0).count() / static_cast<double>(n);
  for (const char* kt : {"ecdsa", "sm2"}) {
    auto key = *crypto::PrivateKey::Generate(
        std::string(kt) == "sm2" ? crypto::KeyType::kSm2 : crypto::KeyType::kEcdsaP256);
    auto signer = *ct::LogSigner::Create(key);
    ct::SignedEntry e;
    e.certificate = leaves[0];
    t0 = Clk::now();
    for (size_t i = 0; i < n; ++i) (void)signer.SignSct(1000 + i, e, ct::LeafIndexExtension(i));
    double sign_us =
        std::chrono::duration<double, std::micro>(Clk::now() - t0).count() / static_cast<double>(n);
    std::printf("  parts: SCT signature (%s log)               %8.1f us/entry\n", kt, sign_us);
  }
  std::printf(
      "  parts: chain check, cached issuer key         %8.1f us/entry (DER split + leaf "
      "signature)\n",
      validate_us);
  std::printf("  parts: OpenSSL d2i_X509 of the leaf alone     %8.1f us/entry (what we avoid)\n",
              d2i_us);
}

void BenchAddChain(const Args& a, const Pki& pki, const std::vector<Bytes>& leaves,
                   const std::string& dir) {
  std::vector<std::string> requests;
  requests.reserve(leaves.size());
  std::string inter = Base64Encode(pki.intermediate.Der());
  for (const auto& l : leaves) {
    std::string body = "{\"chain\":[\"" + Base64Encode(l) + "\",\"" + inter + "\"]}";
    requests.push_back(
        "POST /ct/v1/add-chain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  ct::ServiceOptions o;
  o.dir = dir;
  o.listen = "127.0.0.1:0";
  o.key_type = *ct::ParseLogKeyType(a.key_type);
  o.roots = {pki.root};
  o.period = std::chrono::milliseconds(a.period_ms);
  o.threads = a.server_threads;
  o.max_pool = 200000;
  auto service = ct::CtService::Create(o);
  if (!service) {
    std::fprintf(stderr, "service: %s\n", service.error().message().c_str());
    std::exit(1);
  }
  (*service)->Start();

  Submitter::Shared s;
  s.requests = &requests;
  s.port = std::to_string((*service)->Port());
  s.expected_id = "\"id\":\"" + Base64Encode((*service)->log().signer().log_id()) + "\"";
  // DigitallySigned: 04 03 (SHA-256, ECDSA) or 07 08 (sm2sig_sm3), then a length below 256.
  s.expected_sig = std::string("\"signature\":\"") + (a.key_type == "sm2" ? "BwgA" : "BAMA");
  auto start = Clk::now();
  s.measure_from = start + std::chrono::seconds(1);  // warm-up: first batch, issuer cache
  s.deadline = start + std::chrono::seconds(a.seconds);
  s.interval_s = a.rate > 0 ? 1.0 / a.rate : 0;
  s.next_slot = start;
  asio::io_context io;
  std::vector<std::shared_ptr<Submitter>> subs;
  for (int i = 0; i < a.connections; ++i) subs.push_back(std::make_shared<Submitter>(io, s));
  // Connections open in steps of 250 every 25 ms during the warm-up second: thousands of
  // simultaneous connects overflow the listen backlog and the SYN retries (1 s, 3 s, …) would
  // show up as latency.
  asio::steady_timer ramp(io);
  size_t started = 0;
  std::function<void()> start_more = [&] {
    for (size_t k = 0; k < 250 && started < subs.size(); ++k) subs[started++]->Start();
    if (started < subs.size()) {
      ramp.expires_after(std::chrono::milliseconds(25));
      ramp.async_wait([&](beast::error_code) { start_more(); });
    }
  };
  start_more();
  // CPU per add-chain over the measured window: the whole process (log + generator) and the
  // generator's thread alone (this one: every Submitter runs on io), read at both window edges.
  struct CpuMark {
    double process_s = 0, generator_s = 0;
    uint64_t ok = 0;
  };
  auto mark = [&s] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    auto sec = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return CpuMark{sec(ru.ru_utime) + sec(ru.ru_stime),
                   static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9,
                   s.ok.load()};
  };
  CpuMark cpu_from, cpu_to;
  asio::steady_timer window_start(io, s.measure_from), window_end(io, s.deadline);
  window_start.async_wait([&](beast::error_code) { cpu_from = mark(); });
  window_end.async_wait([&](beast::error_code) { cpu_to = mark(); });
  io.run();
  auto end = Clk::now();
  double measured_s =
      std::chrono::duration<double>(std::min(end, s.deadline) - s.measure_from).count();
  (*service)->log().Flush();
  uint64_t size = (*service)->log().LatestTreeHead().tree_size;
  (*service)->Stop();
  std::string log_dir = ct::LogDirectory(dir, o.key_type);
  uint64_t db = 0;
  for (const char* f : {"/ct.db", "/ct.db-wal"})
    if (std::filesystem::exists(log_dir + f)) db += std::filesystem::file_size(log_dir + f);
  uint64_t stat = DirBytes(log_dir + "/static");
  std::printf("add-chain (%s log, %d connections, %s, period %d ms, %u server threads, durable):\n",
              a.key_type.c_str(), a.connections,
              a.rate > 0 ? ("paced at " + std::to_string(static_cast<int>(a.rate)) + "/s").c_str()
                         : "closed loop",
              a.period_ms, a.server_threads);
  std::printf(
      "  SCTs returned: %llu (%.0f/s sustained over %.1f s after 1 s warm-up), errors %llu\n",
      static_cast<unsigned long long>(s.ok.load()),
      static_cast<double>(s.ok_measured.load()) / measured_s, measured_s,
      static_cast<unsigned long long>(s.errors.load()));
  double window_ok = static_cast<double>(cpu_to.ok - cpu_from.ok);
  if (window_ok > 0) {
    double process_us = (cpu_to.process_s - cpu_from.process_s) * 1e6 / window_ok;
    double generator_us = (cpu_to.generator_s - cpu_from.generator_s) * 1e6 / window_ok;
    std::printf(
        "  CPU per SCT in the window: %.1f us (log %.1f + load generator %.1f) over %.0f SCTs; "
        "%.0f/s on 2 cores at that cost\n",
        process_us, process_us - generator_us, generator_us, window_ok, 2e6 / process_us);
  }
  std::printf("  latency ms: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", Pct(s.latencies_ms, 0.5),
              Pct(s.latencies_ms, 0.9), Pct(s.latencies_ms, 0.99), Pct(s.latencies_ms, 1.0));
  if (size > 0)
    std::printf(
        "  storage: %llu entries, database %.0f B/entry, static files %.0f B/entry (leaf cert ~%zu "
        "B)\n",
        static_cast<unsigned long long>(size), static_cast<double>(db) / static_cast<double>(size),
        static_cast<double>(stat) / static_cast<double>(size), leaves[0].size());
}

void BenchProof(const Args& a, const std::string& dir) {
  // A log database of proof_entries synthetic leaves (32-byte certificates), written directly in
  // the log's schema with a signed tree head, then opened by ct::Log as on a restart.
  std::string log_dir = dir + "/proof";
  std::filesystem::create_directories(log_dir);
  auto key = *crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  (void)crypto::SavePrivateKey(log_dir + "/log.key", key);
  auto signer = *ct::LogSigner::Create(key);
  {
    ct::LogOptions lo;
    lo.dir = log_dir;
    auto created = ct::Log::Open(lo);  // schema + empty tree head
    if (!created) std::exit(1);
  }
  // The schema exists (Log::Open created it); a one-step list at its version applies nothing.
  static constexpr store::Migration kExisting[] = {{1, "SELECT 1"}};
  auto opened = store::OpenSqlite(log_dir + "/ct.db", kExisting);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message().c_str());
    std::exit(1);
  }
  auto db = std::move(*opened);
  ct::MerkleTree tree;
  std::vector<ct::Hash> sample;
  std::mt19937_64 rng(42);
  auto t0 = Clk::now();
  const uint64_t batch = 100000;
  for (uint64_t base = 0; base < a.proof_entries; base += batch) {
    auto st = db->Transaction([&](store::Database& d) -> Status {
      for (uint64_t i = base; i < std::min(a.proof_entries, base + batch); ++i) {
        ct::SignedEntry e;
        e.certificate.resize(32);
        for (auto& b : e.certificate) b = static_cast<uint8_t>(rng());
        Bytes leaf = ct::EncodeMerkleTreeLeaf(1700000000000 + i, e, ct::LeafIndexExtension(i));
        ct::Hash h = ct::HashLeaf(leaf);
        tree.Append(h);
        if (i % 997 == 0) sample.push_back(h);
        TRY(
            d.Execute("INSERT INTO entries(idx, identity, leaf_hash, leaf_input, precert, chain, "
                      "signature) VALUES(?,?,?,?,NULL,?,?)",
                      {static_cast<int64_t>(i), ct::ToBytes(h), ct::ToBytes(h), std::move(leaf),
                       Bytes(), Bytes{0}}));
      }
      return Ok();
    });
    if (!st) {
      std::fprintf(stderr, "%s\n", st.error().message().c_str());
      std::exit(1);
    }
  }
  uint64_t ts = 1800000000000;
  ct::Hash root = tree.Root(tree.size());
  Bytes sig = *signer.SignDigitallySigned(ct::TreeHeadSignatureInput(ts, tree.size(), root));
  (void)db->Execute(
      "INSERT INTO tree_heads(tree_size, timestamp, root, signature) VALUES(?,?,?,?)",
      {static_cast<int64_t>(tree.size()), static_cast<int64_t>(ts), ct::ToBytes(root), sig});
  db.reset();
  double fill_s = std::chrono::duration<double>(Clk::now() - t0).count();
  ct::LogOptions lo;
  lo.dir = log_dir;
  t0 = Clk::now();
  auto log = ct::Log::Open(lo);
  if (!log) {
    std::fprintf(stderr, "open: %s\n", log.error().message().c_str());
    std::exit(1);
  }
  double open_s = std::chrono::duration<double>(Clk::now() - t0).count();
  std::vector<double> us;
  uint64_t n = (*log)->LatestTreeHead().tree_size;
  for (int round = 0; round < 3; ++round)
    for (const auto& h : sample) {
      auto s = Clk::now();
      auto p = (*log)->ProofByHash(h, n);
      us.push_back(std::chrono::duration<double, std::micro>(Clk::now() - s).count());
      if (!p) std::exit(1);
    }
  std::printf(
      "get-proof-by-hash at %llu entries (written in %.0f s; log opened in %.1f s incl. tree "
      "rebuild and tile check):\n",
      static_cast<unsigned long long>(n), fill_s, open_s);
  std::printf(
      "  %zu lookups: p50 %.0f us  p99 %.0f us  max %.0f us (SQLite leaf-hash index + in-memory "
      "tree, no HTTP)\n",
      us.size(), Pct(us, 0.5), Pct(us, 0.99), Pct(us, 1.0));
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (k == "--seconds")
      a.seconds = std::stoi(val());
    else if (k == "--connections")
      a.connections = std::stoi(val());
    else if (k == "--rate")
      a.rate = std::stod(val());
    else if (k == "--period-ms")
      a.period_ms = std::stoi(val());
    else if (k == "--entries")
      a.entries = std::stoul(val());
    else if (k == "--server-threads")
      a.server_threads = static_cast<unsigned>(std::stoul(val()));
    else if (k == "--key-type")
      a.key_type = val();
    else if (k == "--proof-entries")
      a.proof_entries = std::stoull(val());
    else if (k == "--no-add-chain")
      a.add_chain = false;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  rlimit rl{65536, 65536};
  (void)setrlimit(RLIMIT_NOFILE, &rl);
  std::string dir = "/tmp/autoseal-bench-ct-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (a.add_chain) {
    Pki pki = MakePki();
    auto t0 = Clk::now();
    auto leaves = MakeLeaves(pki, a.entries);
    std::printf("prepared %zu distinct leaf certificates in %.1f s\n", leaves.size(),
                std::chrono::duration<double>(Clk::now() - t0).count());
    BenchParts(pki, leaves);
    BenchAddChain(a, pki, leaves, dir);
  }
  if (a.proof_entries > 0) BenchProof(a, dir);
  std::filesystem::remove_all(dir);
  return 0;
}
