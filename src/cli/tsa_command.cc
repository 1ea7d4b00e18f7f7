#include "cli/tsa_command.h"

#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <memory>

#include "ca/authority.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "core/log.h"
#include "tsa/client.h"
#include "tsa/service.h"
#include "x509/profile.h"

namespace autoseal::cli {
namespace {

struct ServeArgs {
  std::string dir = kDefaultDir;
  std::string listen = "127.0.0.1:3161";
  std::string key_type = "ecdsa";
  std::string ca_dir;
  std::string cert;
  std::string key;
  std::string policy = std::string(tsa::kDefaultPolicyOid);
  int64_t accuracy_ms = 1000;
  int precision = 3;
  unsigned threads = 0;
  bool require_synced_clock = false;
};

int RunServe(const ServeArgs& a) {
  SetLogLevel(LogLevel::kInfo);
  tsa::ServiceOptions o;
  o.dir = a.dir;
  o.listen = a.listen;
  auto key_type = tsa::ParseTsaKeyType(a.key_type);
  if (!key_type) return ReportError(key_type.error());
  o.key_type = *key_type;
  o.cert_file = a.cert;
  o.key_file = a.key;
  o.policy_oid = a.policy;
  o.accuracy_micros = a.accuracy_ms * 1000;
  o.precision_digits = a.precision;
  o.threads = a.threads;
  o.require_synced_clock = a.require_synced_clock;
  if (!a.ca_dir.empty()) {
    std::string ca_dir = a.ca_dir;
    o.issuer = [ca_dir](const x509::CertificateRequest& csr)
        -> Result<std::vector<x509::Certificate>> {
      auto authority = TRY(ca::CertificateAuthority::Open(ca_dir));
      auto issued = TRY(authority->Issue(csr, x509::Profile::kTimeStamping));
      return issued.chain;
    };
  }
  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto service = tsa::TsaService::Create(std::move(o));
  if (!service) return ReportError(service.error());
  const tsa::Identity& id = (*service)->identity();
  if (id.created)
    Log(LogLevel::kInfo, "tsa certificate issued",
        {{"subject", id.chain.front().Subject()}, {"path", id.chain_path}});
  (*service)->Start();
  Log(LogLevel::kInfo, "tsa listening",
      {{"address", (*service)->LocalAddress()},
       {"key", id.key.Description()},
       {"certificate", id.chain.front().Subject()},
       {"serial_epoch", std::to_string((*service)->serial_epoch())}});
  int sig = 0;
  sigwait(&stop, &sig);
  Log(LogLevel::kInfo, "tsa stopping", {{"signal", std::to_string(sig)}});
  (*service)->Stop();
  return 0;
}

struct RequestArgs {
  std::string file;
  std::string tsa_url;
  std::string out;
  std::string digest = "sha256";
  std::string policy;
  bool no_cert_req = false;
  int timeout_s = 10;
};

int RunRequest(const RequestArgs& a) {
  tsa::RequestOptions o;
  auto digest = crypto::ParseDigestName(a.digest);
  if (!digest) return ReportError(digest.error());
  if (*digest == crypto::DigestAlgorithm::kSha1 || *digest == crypto::DigestAlgorithm::kNone)
    return ReportError(Error(ErrorCode::kInvalidArgument, "--digest must be sha256, sha384, sha512 or sm3"));
  o.digest = *digest;
  o.cert_req = !a.no_cert_req;
  if (!a.policy.empty()) o.policy_oid = a.policy;
  o.timeout = std::chrono::seconds(a.timeout_s);
  auto data = ReadInput(a.file, 1u << 30);
  if (!data) return ReportError(data.error());
  auto result = tsa::RequestTimestamp(a.tsa_url, AsBytes(*data), o);
  if (!result) return ReportError(result.error());
  std::string out = a.out.empty() ? (a.file == "-" ? "token.tsr" : a.file + ".tsr") : a.out;
  auto written = WriteFileAtomic(out, AsString(result->response));
  if (!written) return ReportError(written.error());
  std::printf("token:   %s\ngenTime: %s\nserial:  %s\npolicy:  %s\n", out.c_str(),
              result->tst_info.gen_time_text.c_str(), result->tst_info.serial_hex.c_str(),
              result->tst_info.policy_text.c_str());
  return 0;
}

struct VerifyArgs {
  std::string token;
  std::string data;
  std::string roots;
  std::string untrusted;
};

int RunVerify(const VerifyArgs& a) {
  tsa::VerifyTokenOptions o;
  auto roots_pem = ReadFile(a.roots);
  if (!roots_pem) return ReportError(roots_pem.error());
  auto roots = x509::Certificate::ParseAll(*roots_pem);
  if (!roots) return ReportError(roots.error().WithContext(a.roots));
  o.roots = *roots;
  if (!a.untrusted.empty()) {
    auto pem = ReadFile(a.untrusted);
    if (!pem) return ReportError(pem.error());
    auto certs = x509::Certificate::ParseAll(*pem);
    if (!certs) return ReportError(certs.error().WithContext(a.untrusted));
    o.untrusted = *certs;
  }
  auto data = ReadInput(a.data, 1u << 30);
  if (!data) return ReportError(data.error());
  o.data = ToBytes(*data);
  auto token = ReadFile(a.token, 1 << 20);
  if (!token) return ReportError(token.error());
  tsa::TokenReport report = tsa::VerifyToken(AsBytes(*token), o);
  if (report.tst_info) {
    const tsa::TstInfo& t = *report.tst_info;
    std::printf("genTime:   %s (%s)\nserial:    %s\npolicy:    %s\n", t.gen_time_text.c_str(),
                FormatRfc3339(t.gen_time).c_str(), t.serial_hex.c_str(), t.policy_text.c_str());
    if (t.accuracy_micros)
      std::printf("accuracy:  %lld us\n", static_cast<long long>(*t.accuracy_micros));
    if (t.message_imprint.digest)
      std::printf("imprint:   %s %s\n", std::string(crypto::DigestName(*t.message_imprint.digest)).c_str(),
                  HexEncode(t.message_imprint.hashed_message).c_str());
  }
  if (report.signer) std::printf("tsa:       %s\n", report.signer->Subject().c_str());
  if (!report.signature_algorithm.empty())
    std::printf("signature: %s\n", report.signature_algorithm.c_str());
  if (!report.ok()) {
    for (const auto& p : report.problems) std::fprintf(stderr, "autoseal: %s\n", p.c_str());
    std::printf("Verification: FAILED\n");
    return kExitFailure;
  }
  std::printf("Verification: OK\n");
  return 0;
}

}  // namespace

void RegisterTsaCommands(CLI::App& app) {
  auto* tsa = app.add_subcommand("tsa", "RFC 3161 time-stamp authority (ECDSA, RSA, SM2)");
  tsa->require_subcommand(1);
  auto args = std::make_shared<ServeArgs>();
  auto* serve = tsa->add_subcommand(
      "serve",
      "Serve RFC 3161 time-stamps over HTTP: POST application/timestamp-query, GET /health.\n"
      "The TSA keeps its key, certificate and serial-number store in <dir>/tsa.");
  serve->add_option("--dir", args->dir, "Data directory")->capture_default_str();
  serve->add_option("--listen", args->listen, "Listen address host:port (port 0: any free port)")
      ->capture_default_str();
  serve->add_option("--key-type", args->key_type, "TSA key: ecdsa (P-256), rsa (3072) or sm2")
      ->check(CLI::IsMember({"ecdsa", "rsa", "sm2"}))
      ->capture_default_str();
  auto* ca_dir = serve->add_option(
      "--ca-dir", args->ca_dir,
      "Data directory of a local autoseal CA that issues the TSA certificate at first start");
  auto* cert = serve->add_option("--cert", args->cert, "TSA certificate chain (PEM, TSA cert first)");
  auto* key = serve->add_option("--key", args->key, "TSA private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  ca_dir->excludes(cert);
  serve->add_option("--policy", args->policy, "TSA policy OID written into every token")
      ->capture_default_str();
  serve->add_option("--accuracy-ms", args->accuracy_ms, "Accuracy claimed in tokens, milliseconds (0: omit)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  serve->add_option("--precision", args->precision, "Fraction digits of genTime (0..6)")
      ->check(CLI::Range(0, 6))
      ->capture_default_str();
  serve->add_option("--threads", args->threads, "HTTP threads (0: one per core)");
  serve->add_flag("--require-synced-clock", args->require_synced_clock,
                  "Refuse (failInfo timeNotAvailable) while the kernel says the clock is unsynchronised");
  serve->callback([args] { ExitCode() = RunServe(*args); });
}

void RegisterTsCommands(CLI::App& app) {
  auto* ts = app.add_subcommand("ts", "Request and verify RFC 3161 time-stamps");
  ts->require_subcommand(1);
  auto ra = std::make_shared<RequestArgs>();
  auto* request = ts->add_subcommand("request", "Time-stamp a file at a TSA; writes the TimeStampResp");
  request->add_option("file", ra->file, "File to time-stamp ('-' for stdin)")->required();
  request->add_option("--tsa", ra->tsa_url, "TSA URL, e.g. http://127.0.0.1:3161/")->required();
  request->add_option("-o,--out", ra->out, "Output file (default FILE.tsr)");
  request->add_option("--digest", ra->digest, "Imprint digest: sha256, sha384, sha512 or sm3")
      ->check(CLI::IsMember({"sha256", "sha384", "sha512", "sm3"}))
      ->capture_default_str();
  request->add_option("--policy", ra->policy, "Ask for this TSA policy OID");
  request->add_flag("--no-cert-req", ra->no_cert_req, "Do not ask for the TSA certificate in the token");
  request->add_option("--timeout", ra->timeout_s, "Seconds")->capture_default_str();
  request->callback([ra] { ExitCode() = RunRequest(*ra); });

  auto va = std::make_shared<VerifyArgs>();
  auto* verify = ts->add_subcommand(
      "verify",
      "Verify a time-stamp token (or TimeStampResp): imprint, signature (ECDSA, RSA, SM2), ESS\n"
      "signing certificate, the TSA certificate's EKU and chain at genTime. Exit 0 only if valid.");
  verify->add_option("token", va->token, "Token or TimeStampResp file (DER)")->required();
  verify->add_option("--data", va->data, "The time-stamped file ('-' for stdin)")->required();
  verify->add_option("--roots", va->roots, "Trusted root certificates (PEM)")->required();
  verify->add_option("--untrusted", va->untrusted, "Extra certificates (PEM), e.g. the TSA chain");
  verify->callback([va] { ExitCode() = RunVerify(*va); });
}

}  // namespace autoseal::cli
