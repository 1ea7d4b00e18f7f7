// Signature verification benchmark: ECDSA P-256 with a long-lived public key, as the CT log
// (issuer keys) and the ACME server (account keys, ES256 JWS) verify. All figures are per CPU
// second of the one benchmark thread (CLOCK_THREAD_CPUTIME_ID), so other load on the machine
// shifts them little; the paths run interleaved in rounds and the best round is printed.
//
//   evp          crypto::Verify: a fresh EVP_DigestVerifyInit per signature
//   old-prepared the PreparedVerifier before the P-256 path: EVP_MD_CTX_copy_ex of a prepared
//                context, then EVP_DigestVerify (reproduced here from crypto/sign_context.h)
//   no-table     PreparedVerifier, P-256 path without the table of Q (VerifyTablePolicy::kNever)
//   table        PreparedVerifier with the table (kNow)
//   jws-old      ACME's ES256 check before: r||s → DER (EcdsaSignatureFromRaw), old-prepared
//   jws-new      PreparedVerifier::VerifyEcdsaRaw with the table
// Then the cost of building one table (CPU time) and the heap it holds (mallinfo2).
//
//   usage: bench_crypto [--iterations N=2000] [--rounds R=3] [--message-bytes B=64]
// (B bytes signed: ~600 is a typical JWS signing input, ~1,000 a leaf's TBSCertificate; the
// hashing it adds is the same on every path.)

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "crypto/prepared.h"
#include "crypto/sign_context.h"
#include "crypto/signature.h"

using namespace autoseal;
using namespace autoseal::crypto;

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Path {
  const char* name;
  std::function<bool(size_t)> verify;  // verifies message i; false if it does not verify
  double best = 0;                     // verifications per CPU second
};

}  // namespace

int main(int argc, char** argv) {
  size_t iterations = 2000;
  int rounds = 3;
  size_t message_bytes = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--iterations") == 0) iterations = std::strtoul(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--message-bytes") == 0) message_bytes = std::strtoul(argv[i + 1], nullptr, 10);
  }

  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  PublicKey pub = key.Public();
  constexpr size_t kMessages = 64;
  std::vector<Bytes> msgs, sigs, raws;
  for (size_t i = 0; i < kMessages; ++i) {
    std::string msg = "eyJhbGciOiJFUzI1NiJ9.message " + std::to_string(i) + ".";
    msg.resize(std::max(message_bytes, msg.size()), 'A');
    msgs.push_back(ToBytes(msg));
    sigs.push_back(*Sign(key, msgs.back()));
    raws.push_back(*EcdsaSignatureToRaw(sigs.back(), 32));
  }
  auto old_ctx = *NewVerifyContext(pub);
  auto old_verify = [&](ByteView msg, ByteView sig) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    return EVP_MD_CTX_copy_ex(ctx.get(), old_ctx.md_ctx.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  };
  auto no_table = *PreparedVerifier::Create(pub, std::nullopt, VerifyTablePolicy::kNever);
  auto table = *PreparedVerifier::Create(pub, std::nullopt, VerifyTablePolicy::kNow);
  if (!table->HasP256Table()) {
    std::fprintf(stderr, "no P-256 table was built\n");
    return 1;
  }

  std::vector<Path> paths = {
      {"evp", [&](size_t i) { return Verify(pub, msgs[i], sigs[i]).has_value(); }},
      {"old-prepared", [&](size_t i) { return old_verify(msgs[i], sigs[i]); }},
      {"no-table", [&](size_t i) { return no_table->Verify(msgs[i], sigs[i]).has_value(); }},
      {"table", [&](size_t i) { return table->Verify(msgs[i], sigs[i]).has_value(); }},
      {"jws-old", [&](size_t i) { return old_verify(msgs[i], *EcdsaSignatureFromRaw(raws[i])); }},
      {"jws-new", [&](size_t i) { return table->VerifyEcdsaRaw(msgs[i], raws[i]).has_value(); }},
  };
  for (int round = 0; round < rounds; ++round) {
    for (auto& p : paths) {
      double start = ThreadCpuSeconds();
      for (size_t i = 0; i < iterations; ++i) {
        if (!p.verify(i % kMessages)) {
          std::fprintf(stderr, "%s: a valid signature did not verify\n", p.name);
          return 1;
        }
      }
      double rate = static_cast<double>(iterations) / (ThreadCpuSeconds() - start);
      if (rate > p.best) p.best = rate;
    }
  }
  double evp = paths[0].best, old_prepared = paths[1].best;
  std::printf("ECDSA P-256 / SHA-256 verification of %zu-byte messages, %zu x %d rounds, best round, per CPU-second:\n",
              msgs[0].size(), iterations, rounds);
  for (const auto& p : paths)
    std::printf("  %-13s %9.0f /s  %6.1f us  x%.2f vs evp  x%.2f vs old-prepared\n", p.name, p.best,
                1e6 / p.best, p.best / evp, p.best / old_prepared);
  std::printf("  jws-new / jws-old: x%.2f\n", paths[5].best / paths[4].best);

  // Building a table: the difference between Create with and without it, over fresh keys'
  // verifiers for the same key (the build does not depend on the key's value).
  constexpr int kBuilds = 20;
  double start = ThreadCpuSeconds();
  for (int i = 0; i < kBuilds; ++i) (void)*PreparedVerifier::Create(pub, std::nullopt, VerifyTablePolicy::kNever);
  double without = ThreadCpuSeconds() - start;
  std::vector<std::shared_ptr<const PreparedVerifier>> kept;
  // The table is one allocation above glibc's mmap threshold: count mapped blocks too.
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  size_t heap_before = heap();
  start = ThreadCpuSeconds();
  for (int i = 0; i < kBuilds; ++i)
    kept.push_back(*PreparedVerifier::Create(pub, std::nullopt, VerifyTablePolicy::kNow));
  double with = ThreadCpuSeconds() - start;
  size_t heap_after = heap();
  std::printf("table build: %.2f ms CPU per key (Create %.3f ms with, %.3f ms without); heap %.1f KB per verifier with table\n",
              (with - without) * 1e3 / kBuilds, with * 1e3 / kBuilds, without * 1e3 / kBuilds,
              static_cast<double>(heap_after - heap_before) / 1024.0 / kBuilds);
  std::printf("  break-even: the table pays for itself after %.0f verifications\n",
              (with - without) / kBuilds / (1.0 / paths[2].best - 1.0 / paths[3].best));
  return 0;
}
