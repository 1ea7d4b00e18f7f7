#include <CLI/CLI.hpp>

#include <signal.h>

#include <cstdio>
#include <memory>

#include "acme/server/server.h"
#include "ca/authority.h"
#include "core/log.h"
#include "tsa/service.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "x509/csr.h"
#include "x509/verify.h"

namespace autoseal::cli {
namespace {

struct UpArgs {
  std::string dir = kDefaultDir;
  bool once = false;  // prepare and exit, serve nothing
  std::string acme_listen = "127.0.0.1:8555";
  std::string tsa_listen = "127.0.0.1:3161";
  uint16_t http01_port = 80;
  uint16_t tlsalpn01_port = 443;
  std::string dns_server;
};

// The demonstration certificate of one hierarchy: a TLS server certificate for localhost, its key
// beside it. Reused while it is valid; a new one is issued (with a new key) once it has expired.
Result<std::pair<x509::Certificate, bool>> DemoCertificate(ca::CertificateAuthority& authority,
                                                            ca::Hierarchy h, const std::string& dir) {
  static const crypto::KeyType kTypes[] = {crypto::KeyType::kEcdsaP256, crypto::KeyType::kRsa2048,
                                           crypto::KeyType::kSm2};
  const std::string base = dir + "/localhost-" + std::string(ca::HierarchyName(h));
  const std::string cert_path = base + ".pem", key_path = base + ".key";
  if (FileExists(cert_path)) {
    auto pem = TRY(ReadFile(cert_path));
    auto chain = TRY(x509::Certificate::ParseAll(pem));
    auto report = x509::VerifyChain(chain, {authority.Root(h)},
                                    {.at = SystemClock::Instance().Now(), .profile = x509::Profile::kTlsServer});
    if (report.ok()) return std::pair{chain.front(), false};
    // Expired or from an older CA: replace both files.
    std::remove(cert_path.c_str());
    std::remove(key_path.c_str());
  }
  auto key = TRY(crypto::PrivateKey::Generate(kTypes[static_cast<int>(h)]));
  auto csr = TRY(x509::CreateCertificateRequest(key, {.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}}));
  auto issued = TRY(authority.Issue(csr, x509::Profile::kTlsServer));
  TRY(crypto::SavePrivateKey(key_path, key));
  TRY(WriteFileAtomic(cert_path, issued.ChainPem(), 0644));
  return std::pair{issued.leaf, true};
}

int RunUp(const UpArgs& a) {
  auto init = ca::CertificateAuthority::Init(a.dir);
  if (!init) return ReportError(init.error());
  auto authority = ca::CertificateAuthority::Open(a.dir);
  if (!authority) return ReportError(authority.error());
  const std::string demo_dir = a.dir + "/demo";
  if (auto st = MakeDirectories(demo_dir, 0700); !st) return ReportError(st.error());
  std::printf("autoseal up — everything on one machine, state in %s\n\n", a.dir.c_str());
  std::printf("Certificate authority (%s/ca)\n", a.dir.c_str());
  for (const auto& e : init->hierarchies) {
    std::printf("  %-3s %-7s %s (%s) -> %s (%s)\n", std::string(ca::HierarchyName(e.hierarchy)).c_str(),
                e.created ? "created" : "ready", e.root.CommonName().c_str(),
                e.root.PublicKey().Description().c_str(), e.intermediate.CommonName().c_str(),
                e.intermediate.PublicKey().Description().c_str());
  }
  std::printf("\nDemonstration certificates (%s)\n", demo_dir.c_str());
  for (auto h : ca::kAllHierarchies) {
    auto demo = DemoCertificate(**authority, h, demo_dir);
    if (!demo) return ReportError(demo.error().WithContext("demo certificate"));
    const auto& [leaf, fresh] = *demo;
    std::printf("  %-3s %-7s localhost-%s.pem  %s, serial %s, expires %s\n",
                std::string(ca::HierarchyName(h)).c_str(), fresh ? "issued" : "valid",
                std::string(ca::HierarchyName(h)).c_str(), leaf.PublicKey().Description().c_str(),
                leaf.SerialHex().substr(0, 16).c_str(), FormatRfc3339(leaf.NotAfter()).c_str());
  }
  auto roots_path = a.dir + "/roots.pem";
  if (auto st = WriteFileAtomic(roots_path, x509::ToPemBundle((*authority)->Roots()), 0644); !st)
    return ReportError(st.error());
  std::printf("\nTrust anchors: %s\n", roots_path.c_str());
  std::printf("Check one:     autoseal cert verify --roots %s %s/localhost-ecc.pem\n", roots_path.c_str(),
              demo_dir.c_str());
  std::printf("SM2 with OpenSSL: openssl verify -vfyopt distid:1234567812345678 -CAfile %s -untrusted %s/localhost-sm2.pem %s/localhost-sm2.pem\n",
              roots_path.c_str(), demo_dir.c_str(), demo_dir.c_str());
  if (a.once) return 0;

  // The services, on loopback (DESIGN.md §1 ports). Stop signals are blocked before any thread
  // starts so that only the sigwait below receives them.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  SetLogLevel(LogLevel::kInfo);

  acme::server::ServerOptions acme_options;
  acme_options.dir = a.dir;
  acme_options.listen_address = a.acme_listen;
  acme_options.validation.http01_port = a.http01_port;
  acme_options.validation.tlsalpn01_port = a.tlsalpn01_port;
  acme_options.validation.dns_server = a.dns_server;
  acme_options.validation.caa_identities = {"autoseal.local"};
  auto acme = acme::server::AcmeServer::Create(acme_options);
  if (!acme) return ReportError(acme.error().WithContext("ACME server"));

  tsa::ServiceOptions tsa_options;
  tsa_options.dir = a.dir;
  tsa_options.listen = a.tsa_listen;
  std::string dir = a.dir;
  tsa_options.issuer = [dir](const x509::CertificateRequest& csr) -> Result<std::vector<x509::Certificate>> {
    auto authority = TRY(ca::CertificateAuthority::Open(dir));
    auto issued = TRY(authority->Issue(csr, x509::Profile::kTimeStamping));
    return issued.chain;
  };
  auto tsa = tsa::TsaService::Create(std::move(tsa_options));
  if (!tsa) return ReportError(tsa.error().WithContext("time-stamp authority"));

  if (auto st = (*acme)->Start(); !st) return ReportError(st.error().WithContext("ACME server"));
  (*tsa)->Start();
  std::printf("\nServing (Ctrl-C to stop)\n");
  std::printf("  ACME directory   %s   (http-01 on port %u, tls-alpn-01 on port %u)\n",
              (*acme)->DirectoryUrl().c_str(), a.http01_port, a.tlsalpn01_port);
  std::printf("  time stamps      http://%s/   (RFC 3161, %s)\n", (*tsa)->LocalAddress().c_str(),
              (*tsa)->identity().key.Description().c_str());
  std::printf("\nTry: REQUESTS_CA_BUNDLE=%s certbot certonly --server %s --standalone \\\n"
              "       --agree-tos --register-unsafely-without-email -d demo.localhost \\\n"
              "       --config-dir /tmp/cb --work-dir /tmp/cb --logs-dir /tmp/cb\n",
              roots_path.c_str(), (*acme)->DirectoryUrl().c_str());
  std::printf("     openssl ts -query -data README.md -sha256 -cert -out q.tsq && \\\n"
              "       curl -s -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq http://%s/ -o r.tsr\n",
              (*tsa)->LocalAddress().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  Log(LogLevel::kInfo, "stopping", {{"signal", std::to_string(sig)}});
  (*tsa)->Stop();
  (*acme)->Stop();
  return 0;
}

}  // namespace

void RegisterUpCommand(CLI::App& app) {
  auto args = std::make_shared<UpArgs>();
  auto* up = app.add_subcommand("up", "Run everything on one machine with its embedded default (SQLite under --dir)");
  up->add_option("--dir", args->dir, "Data directory")->capture_default_str();
  up->add_flag("--once", args->once, "Prepare the CA and demo certificates, print the summary, and exit");
  up->add_option("--acme-listen", args->acme_listen, "ACME server address")->capture_default_str();
  up->add_option("--tsa-listen", args->tsa_listen, "Time-stamp authority address")->capture_default_str();
  up->add_option("--http01-port", args->http01_port, "Port the ACME server validates http-01 on")->capture_default_str();
  up->add_option("--tlsalpn01-port", args->tlsalpn01_port, "Port the ACME server validates tls-alpn-01 on")->capture_default_str();
  up->add_option("--dns-server", args->dns_server, "DNS server HOST:PORT for validation (default: system; *.localhost needs none)");
  up->callback([args] { ExitCode() = RunUp(*args); });
}

}  // namespace autoseal::cli
