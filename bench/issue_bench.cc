// Certificate issuance per second per core, per hierarchy, beside the raw EVP_DigestSign rate of
// the same key in the same run (the peer: OpenSSL signing alone, no certificate around it).
//
//   raw_sign      EVP_MD_CTX + (SM2: ID) + EVP_DigestSignInit + EVP_DigestSign over 512 bytes
//   issue         x509::IssueCertificate from a spec built from a parsed CSR: checks, serial,
//                 names, extensions per profile, DER encoding, sign (what the CA does per
//                 certificate)
//   issue+csr     the same plus CheckRequest (CSR self-signature verification and name checks)
//   ca_issue      ca::CertificateAuthority::Issue: all of the above plus the durable SQLite
//                 insert (synchronous=FULL, one fsync per certificate)
//
// At the end it prints issue/raw_sign per hierarchy; the goal is >= 80%.

#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "ca/authority.h"
#include "crypto/signature.h"
#include "x509/issue.h"

using namespace autoseal;

namespace {

template <typename T>
T Must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "bench setup failed: %s\n", r.error().message().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

struct Fixture {
  crypto::PrivateKey issuer_key;
  x509::Certificate issuer;
  x509::CertificateRequest csr;
  x509::CertificateSpec spec;
};

Fixture Make(crypto::KeyType root_type, crypto::KeyType type) {
  const TimePoint now = SystemClock::Instance().Now();
  auto root_key = Must(crypto::PrivateKey::Generate(root_type));
  x509::CertificateSpec rs;
  rs.profile = x509::Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "Bench Root";
  rs.not_before = now;
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = Must(x509::IssueCertificate(rs, nullptr, root_key));
  auto key = Must(crypto::PrivateKey::Generate(type));
  x509::CertificateSpec is = rs;
  is.profile = x509::Profile::kIntermediateCa;
  is.subject_key = key.Public();
  is.common_name = "Bench Intermediate";
  auto inter = Must(x509::IssueCertificate(is, &root, root_key));
  auto leaf_key = Must(crypto::PrivateKey::Generate(type));
  auto csr = Must(x509::CreateCertificateRequest(leaf_key, {.dns_names = {"www.example.com", "example.com"}}));
  auto spec = Must(x509::SpecFromRequest(csr, x509::Profile::kTlsServer, {.now = now}));
  return {key, inter, csr, spec};
}

Fixture& Get(const std::string& name) {
  static std::map<std::string, Fixture> fixtures;
  auto it = fixtures.find(name);
  if (it != fixtures.end()) return it->second;
  if (name == "ecc") return fixtures.emplace(name, Make(crypto::KeyType::kEcdsaP384, crypto::KeyType::kEcdsaP256)).first->second;
  if (name == "rsa") return fixtures.emplace(name, Make(crypto::KeyType::kRsa4096, crypto::KeyType::kRsa2048)).first->second;
  return fixtures.emplace(name, Make(crypto::KeyType::kSm2, crypto::KeyType::kSm2)).first->second;
}

// The peer: OpenSSL's EVP_DigestSign with the same key, written against OpenSSL directly.
void RawSign(benchmark::State& state, const std::string& h) {
  Fixture& f = Get(h);
  EVP_PKEY* pkey = f.issuer_key.evp();
  const EVP_MD* md = h == "sm2" ? EVP_sm3() : EVP_sha256();
  unsigned char tbs[512] = {1, 2, 3};
  unsigned char sig[1024];
  for (auto _ : state) {
    EVP_MD_CTX* mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    if (h == "sm2") {
      pctx = EVP_PKEY_CTX_new(pkey, nullptr);
      EVP_PKEY_CTX_set1_id(pctx, "1234567812345678", 16);
      EVP_MD_CTX_set_pkey_ctx(mctx, pctx);
    }
    size_t len = sizeof sig;
    if (EVP_DigestSignInit(mctx, nullptr, md, nullptr, pkey) != 1 ||
        EVP_DigestSign(mctx, sig, &len, tbs, sizeof tbs) != 1)
      state.SkipWithError("sign failed");
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}

void Issue(benchmark::State& state, const std::string& h) {
  Fixture& f = Get(h);
  for (auto _ : state) {
    auto cert = x509::IssueCertificate(f.spec, &f.issuer, f.issuer_key);
    if (!cert) state.SkipWithError(cert.error().message().c_str());
    benchmark::DoNotOptimize(cert);
  }
  state.SetItemsProcessed(state.iterations());
}

void IssueWithCsrCheck(benchmark::State& state, const std::string& h) {
  Fixture& f = Get(h);
  const TimePoint now = SystemClock::Instance().Now();
  for (auto _ : state) {
    auto spec = x509::SpecFromRequest(f.csr, x509::Profile::kTlsServer, {.now = now});
    auto cert = x509::IssueCertificate(*spec, &f.issuer, f.issuer_key);
    if (!cert) state.SkipWithError(cert.error().message().c_str());
    benchmark::DoNotOptimize(cert);
  }
  state.SetItemsProcessed(state.iterations());
}

void CaIssue(benchmark::State& state, const std::string& h) {
  static std::unique_ptr<ca::CertificateAuthority> authority = [] {
    auto dir = std::filesystem::temp_directory_path() / "autoseal-bench-ca";
    std::filesystem::remove_all(dir);
    Must(ca::CertificateAuthority::Init(dir.string()));
    return Must(ca::CertificateAuthority::Open(dir.string()));
  }();
  Fixture& f = Get(h);
  // The CA picks the hierarchy from the CSR's key; use a CSR of this family.
  for (auto _ : state) {
    auto issued = authority->Issue(f.csr, x509::Profile::kTlsServer);
    if (!issued) state.SkipWithError(issued.error().message().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

// Collects items/s per benchmark name to print the ratios at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace

int main(int argc, char** argv) {
  for (const char* h : {"ecc", "rsa", "sm2"}) {
    std::string hs = h;
    benchmark::RegisterBenchmark(("raw_sign/" + hs).c_str(), RawSign, hs);
    benchmark::RegisterBenchmark(("issue/" + hs).c_str(), Issue, hs);
    benchmark::RegisterBenchmark(("issue+csr/" + hs).c_str(), IssueWithCsrCheck, hs);
    benchmark::RegisterBenchmark(("ca_issue/" + hs).c_str(), CaIssue, hs);
  }
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n%-5s %12s %12s %8s %12s %12s\n", "", "raw_sign/s", "issue/s", "ratio", "issue+csr/s",
              "ca_issue/s");
  for (const char* h : {"ecc", "rsa", "sm2"}) {
    std::string hs = h;
    double raw = reporter.rates["raw_sign/" + hs], issue = reporter.rates["issue/" + hs];
    std::printf("%-5s %12.0f %12.0f %7.0f%% %12.0f %12.0f\n", h, raw, issue, raw > 0 ? 100 * issue / raw : 0,
                reporter.rates["issue+csr/" + hs], reporter.rates["ca_issue/" + hs]);
  }
  return 0;
}
