#include <CLI/CLI.hpp>

#include <signal.h>

#include <cstdio>
#include <memory>

#include "acme/server/server.h"
#include "ca/authority.h"
#include "core/log.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "x509/csr.h"
#include "x509/profile.h"

namespace autoseal::cli {
namespace {

struct CaArgs {
  std::string dir = kDefaultDir;
  std::string crl_base_url;
  std::string csr;
  std::string profile = "tls-server";
  int days = 0;
  std::string serial;
  std::string reason = "unspecified";
  std::string hierarchy;
  // Certificate Transparency (issue and serve)
  std::vector<std::string> ct_logs;
  int ct_min = 2;
  int ct_timeout_ms = 5000;
  // serve
  acme::server::ServerOptions serve;
  int validation_timeout_ms = 10000;
  std::string eab_kid;
};

// --ct-log URL (repeatable), --ct-min N, --ct-timeout-ms: TLS certificates are logged as
// precertificates and carry the SCTs (docs/ct.md).
void AddCtOptions(CLI::App* cmd, CaArgs& a) {
  cmd->add_option("--ct-log", a.ct_logs,
                  "CT log URL (repeatable), e.g. http://127.0.0.1:6962; TLS certificates embed its SCT");
  cmd->add_option("--ct-min", a.ct_min, "Issue only with at least this many SCTs")->capture_default_str();
  cmd->add_option("--ct-timeout-ms", a.ct_timeout_ms, "How long to wait for the CT logs")->capture_default_str();
}

ca::CaOptions Options(const CaArgs& a) {
  ca::CaOptions o;
  o.crl_base_url = a.crl_base_url;
  for (const auto& url : a.ct_logs) o.ct_logs.push_back({url, {}});
  o.ct_min_scts = a.ct_min;
  o.ct_timeout = std::chrono::milliseconds(a.ct_timeout_ms);
  return o;
}

int RunInit(const CaArgs& a) {
  auto report = ca::CertificateAuthority::Init(a.dir, Options(a));
  if (!report) return ReportError(report.error());
  for (const auto& e : report->hierarchies) {
    std::printf("%-3s  %s  root %s (%s), intermediate %s (%s)\n",
                std::string(ca::HierarchyName(e.hierarchy)).c_str(), e.created ? "created" : "exists ",
                e.root.CommonName().c_str(), e.root.PublicKey().Description().c_str(),
                e.intermediate.CommonName().c_str(), e.intermediate.PublicKey().Description().c_str());
  }
  std::printf("CA data directory: %s/ca\n", a.dir.c_str());
  return 0;
}

int RunIssue(const CaArgs& a) {
  auto profile = x509::ParseProfile(a.profile);
  if (!profile) return ReportError(profile.error());
  if (*profile == x509::Profile::kRootCa || *profile == x509::Profile::kIntermediateCa)
    return ReportError(Error(ErrorCode::kInvalidArgument, "CA certificates are made by `autoseal ca init`"));
  auto input = ReadInput(a.csr, 1 << 20);
  if (!input) return ReportError(input.error());
  auto csr = x509::CertificateRequest::Parse(*input);
  if (!csr) return ReportError(csr.error().WithContext(a.csr));
  auto authority = ca::CertificateAuthority::Open(a.dir, Options(a));
  if (!authority) return ReportError(authority.error());
  auto issued = (*authority)->Issue(*csr, *profile, a.days > 0 ? std::optional<int>(a.days) : std::nullopt);
  if (!issued) return ReportError(issued.error().WithContext("refusing to issue"));
  std::fputs(issued->ChainPem().c_str(), stdout);
  return 0;
}

int RunRevoke(const CaArgs& a) {
  auto reason = x509::ParseRevocationReason(a.reason);
  if (!reason) return ReportError(reason.error());
  auto authority = ca::CertificateAuthority::Open(a.dir, Options(a));
  if (!authority) return ReportError(authority.error());
  auto st = (*authority)->Revoke(a.serial, *reason);
  if (!st) return ReportError(st.error());
  std::printf("revoked %s (%s); run `autoseal ca crl` to publish a new CRL\n", a.serial.c_str(),
              std::string(x509::RevocationReasonName(*reason)).c_str());
  return 0;
}

int RunCrl(const CaArgs& a) {
  std::vector<ca::Hierarchy> which;
  if (a.hierarchy.empty()) {
    which.assign(std::begin(ca::kAllHierarchies), std::end(ca::kAllHierarchies));
  } else {
    auto h = ca::ParseHierarchy(a.hierarchy);
    if (!h) return ReportError(h.error());
    which.push_back(*h);
  }
  auto authority = ca::CertificateAuthority::Open(a.dir, Options(a));
  if (!authority) return ReportError(authority.error());
  for (auto h : which) {
    auto crl = (*authority)->GenerateCrl(h);
    if (!crl) return ReportError(crl.error());
    std::fputs(crl->Pem().c_str(), stdout);
  }
  return 0;
}

int RunRoots(const CaArgs& a) {
  auto authority = ca::CertificateAuthority::Open(a.dir, Options(a));
  if (!authority) return ReportError(authority.error());
  std::fputs(x509::ToPemBundle((*authority)->Roots()).c_str(), stdout);
  return 0;
}

// Blocks SIGINT/SIGTERM (inherited by every thread started later) and waits for one.
int WaitForTermination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int RunServe(CaArgs& a) {
  SetLogLevel(LogLevel::kInfo);
  // Peers that go away mid-write must not kill the process (c-ares, sockets).
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  a.serve.dir = a.dir;
  a.serve.ca = Options(a);  // CT logs and --crl-base-url reach the CA behind ACME
  a.serve.validation.timeout = std::chrono::milliseconds(a.validation_timeout_ms);
  if (a.serve.validation.caa_identities.empty()) a.serve.validation.caa_identities = {"autoseal.local"};
  auto server = acme::server::AcmeServer::Create(a.serve);
  if (!server) return ReportError(server.error());
  if (auto st = (*server)->Start(); !st) return ReportError(st.error());
  std::printf("ACME directory: %s\n", (*server)->DirectoryUrl().c_str());
  std::printf("Trust: autoseal ca roots --dir %s > roots.pem\n", a.dir.c_str());
  std::fflush(stdout);
  int sig = WaitForTermination();
  Log(LogLevel::kInfo, "acme: stopping", {{"signal", std::to_string(sig)}});
  (*server)->Stop();
  return 0;
}

int RunEabKey(const CaArgs& a) {
  auto key = acme::server::AcmeServer::CreateEabKey(a.dir, a.eab_kid);
  if (!key) return ReportError(key.error());
  std::printf("kid:      %s\nhmac key: %s\n", a.eab_kid.c_str(), key->c_str());
  return 0;
}

}  // namespace

void RegisterCaCommands(CLI::App& app) {
  auto args = std::make_shared<CaArgs>();
  auto* ca = app.add_subcommand("ca", "Certificate authority: hierarchies, issuance, revocation, CRLs");
  ca->require_subcommand(1);
  auto dir_opt = [&](CLI::App* cmd) {
    cmd->add_option("--dir", args->dir, "Data directory")->capture_default_str();
    cmd->add_option("--crl-base-url", args->crl_base_url,
                    "Base URL published in cRLDistributionPoints as <url>/crl/<hierarchy>.crl");
  };

  auto* init = ca->add_subcommand("init", "Create the ECC, RSA and SM2 hierarchies (safe to run twice)");
  dir_opt(init);
  init->callback([args] { ExitCode() = RunInit(*args); });

  auto* issue = ca->add_subcommand("issue", "Issue a certificate from a CSR; prints the PEM chain, leaf first");
  dir_opt(issue);
  issue->add_option("--csr", args->csr, "CSR file (PEM or DER, '-' for stdin)")->required();
  issue->add_option("--profile", args->profile, "tls-server, smime, tsa or tlcp-enc")->capture_default_str();
  issue->add_option("--days", args->days, "Validity in days (default per profile: 90, 365, 1095, 90)");
  AddCtOptions(issue, *args);
  issue->callback([args] { ExitCode() = RunIssue(*args); });

  auto* revoke = ca->add_subcommand("revoke", "Revoke a certificate by serial number");
  dir_opt(revoke);
  revoke->add_option("serial", args->serial, "Serial number in hex")->required();
  revoke->add_option("--reason", args->reason, "RFC 5280 reason, e.g. keyCompromise, superseded")->capture_default_str();
  revoke->callback([args] { ExitCode() = RunRevoke(*args); });

  auto* crl = ca->add_subcommand("crl", "Sign and write a fresh CRL (all hierarchies unless one is named); prints it");
  dir_opt(crl);
  crl->add_option("--hierarchy", args->hierarchy, "ecc, rsa or sm2");
  crl->callback([args] { ExitCode() = RunCrl(*args); });

  auto* serve = ca->add_subcommand("serve", "Serve ACME (RFC 8555, ARI) over HTTPS for this CA");
  dir_opt(serve);
  serve->add_option("--listen", args->serve.listen_address, "Listen address")->capture_default_str();
  serve->add_option("--base-url", args->serve.base_url, "URL clients use to reach the server (default https://<listen>)");
  serve->add_option("--threads", args->serve.threads, "HTTP I/O threads (0: one per core)");
  serve->add_option("--http01-port", args->serve.validation.http01_port, "Port for http-01 validation")->capture_default_str();
  serve->add_option("--tlsalpn01-port", args->serve.validation.tlsalpn01_port, "Port for tls-alpn-01 validation")->capture_default_str();
  serve->add_option("--dns-server", args->serve.validation.dns_server, "DNS server HOST:PORT for validation (default: system resolver)");
  serve->add_option("--caa-identity", args->serve.validation.caa_identities, "Issuer domain this CA answers to in CAA records (repeatable; default autoseal.local)");
  serve->add_option("--validation-timeout-ms", args->validation_timeout_ms, "Timeout per validation")->capture_default_str();
  serve->add_option("--validation-workers", args->serve.validation_workers, "Concurrent validations")->capture_default_str();
  serve->add_flag("--eab-required", args->serve.external_account_required, "Require External Account Binding for new accounts");
  serve->add_option("--terms-of-service", args->serve.terms_of_service_url, "Terms of service URL (agreement then required)");
  serve->add_option("--website", args->serve.website_url, "Website URL for the directory's meta");
  serve->add_option("--orders-per-account-per-hour", args->serve.rate_limits.orders_per_account_per_hour, "Rate limit (0: none)")->capture_default_str();
  serve->add_option("--orders-per-domain-per-hour", args->serve.rate_limits.orders_per_domain_per_hour, "Rate limit per registered domain (0: none)")->capture_default_str();
  serve->add_option("--accounts-per-ip-per-hour", args->serve.rate_limits.new_accounts_per_ip_per_hour, "Rate limit (0: none)")->capture_default_str();
  AddCtOptions(serve, *args);
  serve->callback([args] { ExitCode() = RunServe(*args); });

  auto* eab = ca->add_subcommand("eab-key", "Create an External Account Binding key for ACME clients");
  dir_opt(eab);
  eab->add_option("kid", args->eab_kid, "Key identifier to hand to the account holder")->required();
  eab->callback([args] { ExitCode() = RunEabKey(*args); });

  auto* roots = ca->add_subcommand("roots", "Print the PEM bundle of the three root certificates");
  dir_opt(roots);
  roots->callback([args] { ExitCode() = RunRoots(*args); });
}

}  // namespace autoseal::cli
