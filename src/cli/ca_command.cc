#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "ca/authority.h"
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
};

ca::CaOptions Options(const CaArgs& a) {
  ca::CaOptions o;
  o.crl_base_url = a.crl_base_url;
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

  auto* roots = ca->add_subcommand("roots", "Print the PEM bundle of the three root certificates");
  dir_opt(roots);
  roots->callback([args] { ExitCode() = RunRoots(*args); });
}

}  // namespace autoseal::cli
