#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "ca/authority.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "x509/csr.h"
#include "x509/verify.h"

namespace autoseal::cli {
namespace {

struct UpArgs {
  std::string dir = kDefaultDir;
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
  return 0;
}

}  // namespace

void RegisterUpCommand(CLI::App& app) {
  auto args = std::make_shared<UpArgs>();
  auto* up = app.add_subcommand("up", "Run everything on one machine with its embedded default (SQLite under --dir)");
  up->add_option("--dir", args->dir, "Data directory")->capture_default_str();
  up->callback([args] { ExitCode() = RunUp(*args); });
}

}  // namespace autoseal::cli
