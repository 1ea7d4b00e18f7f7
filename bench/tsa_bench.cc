// RFC 3161 responder throughput, per core, in one run, beside its peers:
//
//   raw_sign   EVP_MD_CTX + (SM2: ID) + EVP_DigestSignInit + EVP_DigestSign over 200 bytes,
//              the floor any responder pays per token
//   openssl    TS_RESP_create_response (OpenSSL's own responder) with the same key and
//              certificate: SHA-256 imprint, ESSCertIDv2, certReq, accuracy, 3 fraction digits,
//              a serial callback; response serialised with i2d_TS_RESP (SM2: OpenSSL 3.0 cannot)
//   autoseal   tsa::Responder::Respond for the same query (request parse, checks, TSTInfo,
//              SignedData, signature)
//   http       `autoseal` responder behind net::HttpServer (2 threads), loaded with wrk
//              (2 threads, 64 connections, 10 s) on the same machine, posting a fixed query
//
//   usage: bench_tsa [seconds per measurement, default 2] [--no-http]

#include <openssl/ts.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "core/file.h"
#include "crypto/digest.h"
#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "crypto/signature.h"
#include "tsa/client.h"
#include "tsa/responder.h"
#include "tsa/service.h"
#include "x509/csr.h"
#include "x509/issue.h"

using namespace autoseal;
using Clk = std::chrono::steady_clock;

namespace {

template <typename T>
T Must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "bench setup failed: %s\n", r.error().message().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

void MustOk(Status s) {
  if (!s) {
    std::fprintf(stderr, "bench setup failed: %s\n", s.error().message().c_str());
    std::exit(1);
  }
}

struct Pki {
  crypto::PrivateKey tsa_key;
  std::vector<x509::Certificate> chain;
  x509::Certificate root;
};

Pki MakePki(crypto::KeyType type) {
  TimePoint now = SystemClock::Instance().Now();
  auto root_key = Must(crypto::PrivateKey::Generate(type));
  x509::CertificateSpec rs;
  rs.profile = x509::Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "Bench Root";
  rs.organization = "autoseal bench";
  rs.not_before = now - std::chrono::hours(1);
  rs.not_after = now + std::chrono::hours(24 * 365);
  auto root = Must(x509::IssueCertificate(rs, nullptr, root_key));
  auto int_key = Must(crypto::PrivateKey::Generate(type));
  x509::CertificateSpec is = rs;
  is.profile = x509::Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "Bench Intermediate";
  is.path_length = 0;
  auto inter = Must(x509::IssueCertificate(is, &root, root_key));
  auto key = Must(crypto::PrivateKey::Generate(type));
  auto csr = Must(x509::CreateCertificateRequest(key, {.common_name = "Bench TSA"}));
  auto spec = Must(x509::SpecFromRequest(csr, x509::Profile::kTimeStamping, {.days = 30, .now = now}));
  auto leaf = Must(x509::IssueCertificate(spec, &inter, int_key));
  return Pki{key, {leaf, inter}, root};
}

// Runs fn repeatedly for about `seconds`; returns operations per second.
double Rate(double seconds, const std::function<bool()>& fn) {
  for (int i = 0; i < 50; ++i) fn();  // warm-up
  uint64_t n = 0;
  auto start = Clk::now();
  auto end = start + std::chrono::duration<double>(seconds);
  Clk::time_point t;
  do {
    for (int i = 0; i < 32; ++i)
      if (!fn()) return -1;
    n += 32;
    t = Clk::now();
  } while (t < end);
  return n / std::chrono::duration<double>(t - start).count();
}

ASN1_INTEGER* SerialCallback(TS_RESP_CTX*, void* data) {
  auto* counter = static_cast<uint64_t*>(data);
  ASN1_INTEGER* serial = ASN1_INTEGER_new();
  ASN1_INTEGER_set_uint64(serial, ++*counter);
  return serial;
}

struct Figures {
  double raw = 0, openssl = -1, ours = 0;
};

Pki Measure(const char* label, crypto::KeyType type, double seconds) {
  Pki pki = MakePki(type);
  crypto::DigestAlgorithm imprint_alg =
      type == crypto::KeyType::kSm2 ? crypto::DigestAlgorithm::kSm3 : crypto::DigestAlgorithm::kSha256;
  Bytes query = tsa::EncodeTimeStampReq(imprint_alg, crypto::Digest(imprint_alg, AsBytes("bench")),
                                        Bytes{1, 2, 3, 4, 5, 6, 7, 8}, /*cert_req=*/true);
  Figures f;

  // Raw signing.
  Bytes msg(200, 0x5a);
  f.raw = Rate(seconds, [&] {
    auto ctx = crypto::NewSignContext(pki.tsa_key);
    if (!ctx) return false;
    unsigned char sig[512];
    size_t len = sizeof sig;
    return EVP_DigestSign(ctx->md_ctx.get(), sig, &len, msg.data(), msg.size()) == 1;
  });

  // OpenSSL's responder.
  {
    TS_RESP_CTX* ctx = TS_RESP_CTX_new();
    uint64_t counter = 0;
    ASN1_OBJECT* policy = OBJ_txt2obj(std::string(tsa::kDefaultPolicyOid).c_str(), 1);
    bool ok = TS_RESP_CTX_set_signer_cert(ctx, pki.chain[0].raw()) == 1 &&
              TS_RESP_CTX_set_signer_key(ctx, pki.tsa_key.evp()) == 1 &&
              TS_RESP_CTX_set_signer_digest(ctx, crypto::EvpMd(crypto::DefaultDigest(pki.tsa_key))) == 1 &&
              TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) == 1 &&
              TS_RESP_CTX_set_def_policy(ctx, policy) == 1 && TS_RESP_CTX_add_md(ctx, EVP_sha256()) == 1 &&
              TS_RESP_CTX_add_md(ctx, EVP_sm3()) == 1 && TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0) == 1 &&
              TS_RESP_CTX_set_clock_precision_digits(ctx, 3) == 1;
    ASN1_OBJECT_free(policy);
    STACK_OF(X509)* certs = sk_X509_new_null();
    X509_up_ref(pki.chain[1].raw());
    sk_X509_push(certs, pki.chain[1].raw());
    TS_RESP_CTX_set_certs(ctx, certs);
    sk_X509_pop_free(certs, X509_free);
    TS_RESP_CTX_set_serial_cb(ctx, SerialCallback, &counter);
    auto one = [&] {
      crypto::BioPtr in(BIO_new_mem_buf(query.data(), static_cast<int>(query.size())));
      TS_RESP* resp = TS_RESP_create_response(ctx, in.get());
      if (resp == nullptr) return false;
      bool granted = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp))) == 0;
      unsigned char* der = nullptr;
      int len = i2d_TS_RESP(resp, &der);
      OPENSSL_free(der);
      TS_RESP_free(resp);
      return granted && len > 0;
    };
    if (ok && one()) f.openssl = Rate(seconds, one);
    crypto::ClearOpenSslErrors();
    TS_RESP_CTX_free(ctx);
  }

  // Ours.
  tsa::EpochSerialSource serials(1);
  tsa::ResponderOptions o{.key = pki.tsa_key, .chain = pki.chain};
  o.serials = &serials;
  auto responder = Must(tsa::Responder::Create(std::move(o)));
  Bytes sample = responder->Respond(query);
  tsa::VerifyTokenOptions v;
  v.roots = {pki.root};
  v.digest = crypto::Digest(imprint_alg, AsBytes("bench"));
  if (!tsa::VerifyToken(sample, v).ok()) {
    std::fprintf(stderr, "%s: our token does not verify\n", label);
    std::exit(1);
  }
  f.ours = Rate(seconds, [&] { return responder->Respond(query).size() > 100; });

  std::printf("%-10s raw_sign %8.0f/s   openssl TS_RESP_create_response ", label, f.raw);
  if (f.openssl > 0)
    std::printf("%8.0f/s", f.openssl);
  else
    std::printf("     n/a  ");
  std::printf("   autoseal %8.0f/s (%zu-byte replies)", f.ours, sample.size());
  if (f.openssl > 0) std::printf("   ratio %.2fx", f.ours / f.openssl);
  std::printf("   %.0f%% of raw\n", 100.0 * f.ours / f.raw);
  return pki;
}

void Http(const Pki& pki, int seconds) {
  std::string dir = "/tmp/autoseal-tsa-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  MustOk(WriteFileAtomic(dir + "/chain.pem", x509::ToPemBundle(pki.chain)));
  MustOk(WriteFileAtomic(dir + "/key.pem", Must(pki.tsa_key.PrivateKeyPem()), 0600));
  Bytes query = tsa::EncodeTimeStampReq(crypto::DigestAlgorithm::kSha256,
                                        crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes("bench")),
                                        Bytes{1, 2, 3, 4, 5, 6, 7, 8}, true);
  MustOk(WriteFileAtomic(dir + "/query.tsq", AsString(query)));
  std::string lua = "local f = io.open('" + dir + "/query.tsq', 'rb')\n"
                    "wrk.method = 'POST'\nwrk.body = f:read('*a')\nf:close()\n"
                    "wrk.headers['Content-Type'] = 'application/timestamp-query'\n"
                    "function response(status, headers, body)\n"
                    "  if status ~= 200 then error('HTTP ' .. status) end\nend\n";
  MustOk(WriteFileAtomic(dir + "/post.lua", lua));

  tsa::ServiceOptions so;
  so.dir = dir;
  so.listen = "127.0.0.1:0";
  so.cert_file = dir + "/chain.pem";
  so.key_file = dir + "/key.pem";
  so.threads = 2;
  auto service = Must(tsa::TsaService::Create(so));
  service->Start();
  std::string cmd = "wrk -t2 -c64 -d" + std::to_string(seconds) + "s -s " + dir +
                    "/post.lua http://" + service->LocalAddress() + "/ 2>&1";
  std::printf("\nHTTP (ECDSA P-256, certReq, server 2 threads; wrk on the same 2 cores):\n  %s\n",
              cmd.c_str());
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) std::printf("  (wrk failed or is not installed)\n");
  service->Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  bool http = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-http") == 0)
      http = false;
    else
      seconds = std::atof(argv[i]);
  }
  std::printf("RFC 3161 tokens per second, one thread (certReq set, SHA-256/SM3 imprint)\n");
  Pki p256 = Measure("ECDSA-P256", crypto::KeyType::kEcdsaP256, seconds);
  Measure("SM2", crypto::KeyType::kSm2, seconds);
  Measure("RSA-3072", crypto::KeyType::kRsa3072, seconds);
  if (http) Http(p256, 10);
  return 0;
}
