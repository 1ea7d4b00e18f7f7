#include <CLI/CLI.hpp>

#include <signal.h>

#include <cstdio>
#include <memory>

#include "acme/server/server.h"
#include "ca/authority.h"
#include "core/log.h"
#include "ct/service.h"
#include "ct/verifier.h"
#include "tsa/service.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "net/http.h"
#include "x509/csr.h"
#include "x509/verify.h"
#include <chrono>
#include <thread>

#include "cli/gateway_command.h"
#include "net/server.h"

namespace autoseal::cli {
namespace {

struct UpArgs {
  std::string dir = kDefaultDir;
  bool once = false;  // prepare and exit, serve nothing
  std::string acme_listen = "127.0.0.1:8555";
  std::string tsa_listen = "127.0.0.1:3161";
  std::string ct_listen = "127.0.0.1:6962";      // ECDSA P-256 log
  std::string ct_sm2_listen = "127.0.0.1:6963";  // SM2 log
  // http-01 stays on port 80 for clients like certbot --standalone; tls-alpn-01 is validated on
  // the gateway's HTTPS port when the gateway runs (0: that, else 443), which is how the gateway
  // proves its names.
  uint16_t http01_port = 80;
  uint16_t tlsalpn01_port = 0;
  std::string dns_server;
  std::string gateway_http = "127.0.0.1:8080";   // DESIGN.md §1 ports
  std::string gateway_https = "127.0.0.1:8443";
  std::string gateway_admin = "127.0.0.1:9180";  // /metrics, /healthz
  std::string origin_listen = "127.0.0.1:8088";  // the demo origin behind the gateway
  bool no_gateway = false;
};

// The demo origin: an ordinary HTTP server that knows nothing about TLS or certificates.
Result<std::unique_ptr<net::HttpServer>> StartDemoOrigin(const std::string& listen) {
  net::HttpServerOptions o;
  o.listen_address = listen;
  o.threads = 1;
  auto server = TRY(net::HttpServer::Create(o, [](const net::HttpRequest& req) {
    std::string host(req.Header("Host").value_or(""));
    std::string proto(req.Header("X-Forwarded-Proto").value_or("http"));
    return net::HttpResponse::Make(
        200, "text/html; charset=utf-8",
        "<!doctype html><title>autoseal demo origin</title>\n"
        "<h1>Hello from the demo origin</h1>\n"
        "<p>This plain-HTTP server has no certificate; the autoseal gateway in front of it obtained "
        "one and terminated TLS.</p>\n<p>Host: " +
            JsonEscape(host) + ", scheme seen by the gateway: " + JsonEscape(proto) + ", path: " +
            JsonEscape(req.Path()) + "</p>\n");
  }));
  server->Start();
  return server;
}

// The gateway in front of the demo origin for the site "localhost", ordering from up's own ACME
// server with the challenges whose validation ports are the gateway's listeners.
Result<std::unique_ptr<GatewayRunner>> StartUpGateway(const UpArgs& a, const std::string& directory_url,
                                                      const std::string& roots_path,
                                                      const std::string& origin_address) {
  gateway::LoadedConfig loaded;
  gateway::GatewayConfig& c = loaded.config;
  c.dir = a.dir + "/gateway";
  c.listen.http_address = a.gateway_http;
  c.listen.https_address = a.gateway_https;
  c.listen.admin_address = a.gateway_admin;
  c.cas = {{.directory = directory_url, .ca_bundle = roots_path}};
  auto [http_host, http_port] = TRY(net::ParseHostPort(a.gateway_http));
  auto [https_host, https_port] = TRY(net::ParseHostPort(a.gateway_https));
  c.challenges.clear();
  if (a.http01_port == http_port) c.challenges.push_back("http-01");
  if (a.tlsalpn01_port == https_port) c.challenges.push_back("tls-alpn-01");
  if (c.challenges.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "the CA validates http-01 on port " + std::to_string(a.http01_port) + " and tls-alpn-01 on port " +
                    std::to_string(a.tlsalpn01_port) + ", neither of which is the gateway's (" + a.gateway_http +
                    ", " + a.gateway_https + "): drop --http01-port/--tlsalpn01-port or pass --no-gateway");
  gateway::SiteConfig site;
  site.name = "localhost";
  site.server_names = {"localhost"};
  site.origin = "http://" + origin_address;
  c.sites.push_back(site);
  c.listen.default_site = "localhost";
  TRY(gateway::Finish(loaded));
  return GatewayRunner::Start(std::move(loaded));
}

// The number of SCTs embedded in a certificate (0 when it has no SCT list or a malformed one).
size_t EmbeddedSctCount(const x509::Certificate& cert) {
  auto scts = ct::EmbeddedScts(cert.Der());
  return scts && *scts ? (*scts)->size() : 0;
}

// The demonstration certificate of one hierarchy: a TLS server certificate for localhost, its key
// beside it. Reused while it is valid (and, when want_scts, carries SCTs); otherwise a new one is
// issued with a new key.
Result<std::pair<x509::Certificate, bool>> DemoCertificate(ca::CertificateAuthority& authority,
                                                            ca::Hierarchy h, const std::string& dir,
                                                            bool want_scts) {
  static const crypto::KeyType kTypes[] = {crypto::KeyType::kEcdsaP256, crypto::KeyType::kRsa2048,
                                           crypto::KeyType::kSm2};
  const std::string base = dir + "/localhost-" + std::string(ca::HierarchyName(h));
  const std::string cert_path = base + ".pem", key_path = base + ".key";
  if (FileExists(cert_path)) {
    auto pem = TRY(ReadFile(cert_path));
    auto chain = TRY(x509::Certificate::ParseAll(pem));
    auto report = x509::VerifyChain(chain, {authority.Root(h)},
                                    {.at = SystemClock::Instance().Now(), .profile = x509::Profile::kTlsServer});
    if (report.ok() && (!want_scts || EmbeddedSctCount(chain.front()) > 0)) return std::pair{chain.front(), false};
    // Expired, from an older CA, or issued before the CT logs ran: replace both files.
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

// Starts one of up's CT logs over <dir>/ct/<key type>, accepting the CA's roots.
Result<std::unique_ptr<ct::CtService>> StartCtLog(const std::string& dir, const std::string& listen,
                                                  crypto::KeyType key_type,
                                                  const std::vector<x509::Certificate>& roots) {
  ct::ServiceOptions o;
  o.dir = dir;
  o.listen = listen;
  o.key_type = key_type;
  o.roots = roots;
  auto log = TRY(ct::CtService::Create(std::move(o)));
  log->Start();
  return log;
}

int RunUp(UpArgs a) {
  const bool with_gateway = !a.no_gateway && !a.once;
  if (a.tlsalpn01_port == 0) {
    auto hp = net::ParseHostPort(a.gateway_https);
    a.tlsalpn01_port = with_gateway && hp ? hp->second : 443;
  }
  auto init = ca::CertificateAuthority::Init(a.dir);
  if (!init) return ReportError(init.error());
  const std::string demo_dir = a.dir + "/demo";
  if (auto st = MakeDirectories(demo_dir, 0700); !st) return ReportError(st.error());

  // Stop signals are blocked before any thread starts (the CT logs are the first) so that only
  // the sigwait below receives them.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (!a.once) {
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    SetLogLevel(LogLevel::kInfo);
  }

  // The two CT logs (DESIGN.md §1 ports) start before the CA opens: it reads their keys from
  // /log.json, and every TLS certificate issued from here on, the demo ones included, embeds SCTs.
  std::unique_ptr<ct::CtService> ct_ecdsa, ct_sm2;
  ca::CaOptions ca_options;
  if (!a.once) {
    std::vector<x509::Certificate> roots;
    for (const auto& e : init->hierarchies) roots.push_back(e.root);
    auto ecdsa = StartCtLog(a.dir, a.ct_listen, crypto::KeyType::kEcdsaP256, roots);
    if (!ecdsa) return ReportError(ecdsa.error().WithContext("CT log (ECDSA)"));
    ct_ecdsa = std::move(*ecdsa);
    auto sm2 = StartCtLog(a.dir, a.ct_sm2_listen, crypto::KeyType::kSm2, roots);
    if (!sm2) return ReportError(sm2.error().WithContext("CT log (SM2)"));
    ct_sm2 = std::move(*sm2);
    // The CA asks every eligible log and needs min(ct_min_scts, eligible logs) SCTs: both logs
    // for SM2 certificates, the ECDSA log alone for ECC and RSA ones (docs/ct.md, "SM2 logs").
    ca_options.ct_logs = {{"http://" + ct_ecdsa->LocalAddress(), {}}, {"http://" + ct_sm2->LocalAddress(), {}}};
    ca_options.ct_min_scts = 2;
  }
  auto authority = ca::CertificateAuthority::Open(a.dir, ca_options);
  if (!authority) return ReportError(authority.error());

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
    auto demo = DemoCertificate(**authority, h, demo_dir, !a.once);
    if (!demo) return ReportError(demo.error().WithContext("demo certificate"));
    const auto& [leaf, fresh] = *demo;
    std::printf("  %-3s %-7s localhost-%s.pem  %s, serial %s, expires %s, %zu SCT(s)\n",
                std::string(ca::HierarchyName(h)).c_str(), fresh ? "issued" : "valid",
                std::string(ca::HierarchyName(h)).c_str(), leaf.PublicKey().Description().c_str(),
                leaf.SerialHex().substr(0, 16).c_str(), FormatRfc3339(leaf.NotAfter()).c_str(),
                EmbeddedSctCount(leaf));
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

  acme::server::ServerOptions acme_options;
  acme_options.dir = a.dir;
  acme_options.listen_address = a.acme_listen;
  acme_options.validation.http01_port = a.http01_port;
  acme_options.validation.tlsalpn01_port = a.tlsalpn01_port;
  acme_options.validation.dns_server = a.dns_server;
  acme_options.validation.caa_identities = {"autoseal.local"};
  acme_options.ca = ca_options;
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
  std::unique_ptr<net::HttpServer> origin;
  std::unique_ptr<GatewayRunner> gw;
  bool gw_certificate = false;
  if (with_gateway) {
    auto o = StartDemoOrigin(a.origin_listen);
    if (!o) return ReportError(o.error().WithContext("demo origin"));
    origin = std::move(*o);
    auto g = StartUpGateway(a, (*acme)->DirectoryUrl(), roots_path, origin->LocalAddress());
    if (!g) return ReportError(g.error().WithContext("gateway"));
    gw = std::move(*g);
    // The first certificates take a moment (an order against the ACME server above); wait for
    // them, bounded, so that the summary's curl works at once.
    for (int i = 0; i < 300 && !gw_certificate; ++i) {
      auto site = gw->certificates().Lookup("localhost");
      gw_certificate = site && site->keys.size() >= 2;
      if (!gw_certificate) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const std::string ct_ecdsa_url = ca_options.ct_logs[0].url, ct_sm2_url = ca_options.ct_logs[1].url;
  std::printf("\nServing (Ctrl-C to stop)\n");
  std::printf("  ACME directory   %s   (http-01 on port %u, tls-alpn-01 on port %u)\n",
              (*acme)->DirectoryUrl().c_str(), a.http01_port, a.tlsalpn01_port);
  std::printf("  time stamps      http://%s/   (RFC 3161, %s)\n", (*tsa)->LocalAddress().c_str(),
              (*tsa)->identity().key.Description().c_str());
  std::printf("  CT log (ECDSA)   %s   (RFC 6962, P-256, %s)\n", ct_ecdsa_url.c_str(),
              ct::LogDirectory(a.dir, crypto::KeyType::kEcdsaP256).c_str());
  std::printf("  CT log (SM2)     %s   (RFC 6962 with SM2-with-SM3, %s)\n", ct_sm2_url.c_str(),
              ct::LogDirectory(a.dir, crypto::KeyType::kSm2).c_str());
  if (gw) {
    std::printf("  HTTPS gateway    https://localhost:%u/   (certificates %s from the ACME directory above; HTTP %s, metrics http://%s/metrics)\n",
                gw->listeners().HttpsPort(), gw_certificate ? "obtained" : "being obtained",
                gw->listeners().HttpAddress().c_str(), gw->listeners().AdminAddress().c_str());
    std::printf("  demo origin      http://%s/   (plain HTTP, behind the gateway)\n", origin->LocalAddress().c_str());
  }
  std::printf("  SCTs: ECC and RSA certificates embed the ECDSA log's SCT only (OpenSSL 3.0 and pyca reject an SCT list holding an SM2 SCT); SM2 certificates embed both logs' SCTs\n");
  if (gw)
    std::printf("\nTry: curl --cacert %s https://localhost:%u/\n", roots_path.c_str(), gw->listeners().HttpsPort());
  std::printf("\nTry: REQUESTS_CA_BUNDLE=%s certbot certonly --server %s --standalone \\\n"
              "       --agree-tos --register-unsafely-without-email -d demo.localhost \\\n"
              "       --config-dir /tmp/cb --work-dir /tmp/cb --logs-dir /tmp/cb\n",
              roots_path.c_str(), (*acme)->DirectoryUrl().c_str());
  std::printf("     autoseal ct log-list %s %s > ct-logs.json && \\\n"
              "       autoseal cert verify --roots %s --ct-logs ct-logs.json --ct-min 1 /tmp/cb/live/demo.localhost/fullchain.pem\n",
              ct_ecdsa_url.c_str(), ct_sm2_url.c_str(), roots_path.c_str());
  std::printf("     openssl ts -query -data README.md -sha256 -cert -out q.tsq && \\\n"
              "       curl -s -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq http://%s/ -o r.tsr\n",
              (*tsa)->LocalAddress().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  Log(LogLevel::kInfo, "stopping", {{"signal", std::to_string(sig)}});
  // The gateway first: it drains its connections and stops ordering from the ACME server.
  if (gw) gw->Stop();
  if (origin) origin->Stop();
  (*tsa)->Stop();
  (*acme)->Stop();
  // Last: an issuance the ACME server finished above may still have been waiting for its SCTs.
  ct_sm2->Stop();
  ct_ecdsa->Stop();
  return 0;
}

}  // namespace

void RegisterUpCommand(CLI::App& app) {
  auto args = std::make_shared<UpArgs>();
  auto* up = app.add_subcommand("up", "Run everything on one machine with its embedded default (SQLite under --dir)");
  up->add_option("--dir", args->dir, "Data directory")->capture_default_str();
  up->add_flag("--once", args->once, "Prepare the CA and demo certificates (no CT logs run, so no SCTs), print the summary, and exit");
  up->add_option("--acme-listen", args->acme_listen, "ACME server address")->capture_default_str();
  up->add_option("--tsa-listen", args->tsa_listen, "Time-stamp authority address")->capture_default_str();
  up->add_option("--ct-listen", args->ct_listen, "ECDSA CT log address (log in <dir>/ct/ecdsa)")->capture_default_str();
  up->add_option("--ct-sm2-listen", args->ct_sm2_listen, "SM2 CT log address (log in <dir>/ct/sm2)")->capture_default_str();
  up->add_option("--http01-port", args->http01_port, "Port the ACME server validates http-01 on")->capture_default_str();
  up->add_option("--tlsalpn01-port", args->tlsalpn01_port, "Port the ACME server validates tls-alpn-01 on (default: the gateway's HTTPS port, else 443)");
  up->add_option("--gateway-http", args->gateway_http, "Gateway HTTP address (http-01, redirects)")->capture_default_str();
  up->add_option("--gateway-https", args->gateway_https, "Gateway HTTPS address (site localhost)")->capture_default_str();
  up->add_option("--gateway-admin", args->gateway_admin, "Gateway admin address (/metrics, /healthz)")->capture_default_str();
  up->add_option("--origin-listen", args->origin_listen, "Demo origin address (plain HTTP behind the gateway)")->capture_default_str();
  up->add_flag("--no-gateway", args->no_gateway, "Run no gateway and no demo origin");
  up->add_option("--dns-server", args->dns_server, "DNS server HOST:PORT for validation (default: system; *.localhost needs none)");
  up->callback([args] { ExitCode() = RunUp(*args); });
}

}  // namespace autoseal::cli
