#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/acme_command.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "crypto/key.h"
#include "ct/verifier.h"
#include "x509/certificate.h"
#include "x509/csr.h"
#include "x509/verify.h"

namespace autoseal::cli {
namespace {

std::string Join(const std::vector<std::string>& v, const char* prefix) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + std::string(prefix) + s;
  return out;
}

void Line(const char* label, const std::string& value) {
  if (!value.empty()) std::printf("  %-20s %s\n", label, value.c_str());
}

void PrintCertificate(const x509::Certificate& c) {
  std::printf("Certificate\n");
  Line("Subject:", c.Subject());
  Line("Issuer:", c.Issuer());
  Line("Serial:", c.SerialHex());
  auto days = (ToUnixSeconds(c.NotAfter()) - ToUnixSeconds(c.NotBefore()) + 1) / 86400.0;
  char validity[160];
  std::snprintf(validity, sizeof validity, "%s to %s (%.0f days)", FormatRfc3339(c.NotBefore()).c_str(),
                FormatRfc3339(c.NotAfter()).c_str(), days);
  Line("Validity:", validity);
  Line("Key:", c.PublicKey().Description());
  Line("Signature:", c.SignatureAlgorithm());
  std::string names = Join(c.DnsNames(), "DNS:");
  for (const auto& part : {Join(c.IpAddresses(), "IP:"), Join(c.EmailAddresses(), "email:")})
    if (!part.empty()) names += (names.empty() ? "" : ", ") + part;
  Line("Names:", names);
  if (auto ku = c.KeyUsageBits())
    Line("Key usage:", x509::KeyUsageNames(*ku) + (c.KeyUsageCritical() ? " (critical)" : ""));
  auto eku = c.ExtendedKeyUsages();
  if (!eku.empty()) Line("Extended key usage:", Join(eku, "") + (c.ExtendedKeyUsageCritical() ? " (critical)" : ""));
  if (c.IsCa()) {
    auto pl = c.PathLength();
    Line("Basic constraints:", "CA" + (pl ? ", path length " + std::to_string(*pl) : std::string()));
  } else {
    Line("Basic constraints:", "not a CA");
  }
  Line("Policies:", Join(c.PolicyOids(), ""));
  Line("CRL distribution:", Join(c.CrlDistributionPoints(), ""));
  Line("Subject key id:", HexEncode(c.SubjectKeyId()));
  Line("Authority key id:", HexEncode(c.AuthorityKeyId()));
  if (auto p = x509::DetectProfile(c)) Line("Profile:", std::string(x509::ProfileName(*p)));
  if (c.IsSelfIssued()) Line("Self-issued:", "yes");
}

void PrintRequest(const x509::CertificateRequest& r) {
  std::printf("Certificate request\n");
  Line("Subject:", r.Subject());
  Line("Key:", r.PublicKey().Description());
  Line("Signature:", r.SignatureAlgorithm());
  std::string names = Join(r.DnsNames(), "DNS:");
  for (const auto& part : {Join(r.IpAddresses(), "IP:"), Join(r.EmailAddresses(), "email:")})
    if (!part.empty()) names += (names.empty() ? "" : ", ") + part;
  Line("Names:", names);
  Line("Self-signature:", r.VerifySignature() ? "valid" : "INVALID");
}

int RunInspect(const std::string& path) {
  auto input = ReadInput(path);
  if (!input) return ReportError(input.error());
  if (input->find("CERTIFICATE REQUEST-----") != std::string::npos) {
    auto req = x509::CertificateRequest::Parse(*input);
    if (!req) return ReportError(req.error().WithContext(path));
    PrintRequest(*req);
    return 0;
  }
  auto certs = x509::Certificate::ParseAll(*input);
  if (!certs) {
    // A DER CSR is not recognisable by its header; try it before giving up.
    if (auto req = x509::CertificateRequest::FromDer(AsBytes(*input))) {
      PrintRequest(*req);
      return 0;
    }
    return ReportError(certs.error().WithContext(path));
  }
  for (size_t i = 0; i < certs->size(); ++i) {
    if (i > 0) std::printf("\n");
    PrintCertificate((*certs)[i]);
  }
  return 0;
}

struct VerifyArgs {
  std::string roots, chain, at, profile;
  std::string ct_logs;  // log list file: check embedded SCTs (docs/ct.md)
  int ct_min = 2;
  bool online = false;
};

int RunVerify(const VerifyArgs& a) {
  auto roots_pem = ReadInput(a.roots);
  if (!roots_pem) return ReportError(roots_pem.error());
  auto roots = x509::Certificate::ParseAll(*roots_pem);
  if (!roots) return ReportError(roots.error().WithContext(a.roots));
  auto chain_pem = ReadInput(a.chain);
  if (!chain_pem) return ReportError(chain_pem.error());
  auto chain = x509::Certificate::ParseAll(*chain_pem);
  if (!chain) return ReportError(chain.error().WithContext(a.chain));
  x509::VerifyOptions opts;
  opts.at = SystemClock::Instance().Now();
  if (!a.at.empty()) {
    auto t = ParseRfc3339(a.at);
    if (!t) return ReportError(t.error().WithContext("--at"));
    opts.at = *t;
  }
  if (!a.profile.empty()) {
    auto p = x509::ParseProfile(a.profile);
    if (!p) return ReportError(p.error());
    opts.profile = *p;
  } else {
    opts.profile = x509::DetectProfile(chain->front());
  }
  auto report = x509::VerifyChain(*chain, *roots, opts);
  const auto& leaf = chain->front();
  if (!a.ct_logs.empty()) {
    if (report.path.size() < 2 && chain->size() < 2) {
      report.problems.push_back("CT: the issuer certificate is needed to check embedded SCTs");
    } else {
      auto logs = ct::LogList::Load(a.ct_logs);
      if (!logs) return ReportError(logs.error());
      const auto& issuer = report.path.size() >= 2 ? report.path[1] : (*chain)[1];
      auto ct = ct::VerifyEmbeddedScts(leaf, issuer, *logs, {.min_valid = a.ct_min, .online = a.online}, opts.at);
      for (const auto& c : ct.scts)
        std::printf("  SCT %s: %s%s%s\n", c.log.c_str(), c.status.c_str(), c.inclusion.empty() ? "" : ", ",
                    c.inclusion.c_str());
      for (const auto& p : ct.problems) report.problems.push_back("CT: " + p);
    }
  }
  if (report.ok()) {
    std::printf("OK: %s\n", leaf.Subject().c_str());
    std::printf("  valid at %s%s\n", FormatRfc3339(opts.at).c_str(),
                opts.profile ? (" as " + std::string(x509::ProfileName(*opts.profile))).c_str() : "");
    for (size_t i = 0; i < report.path.size(); ++i)
      std::printf("  %zu: %s\n", i, report.path[i].Subject().c_str());
    return 0;
  }
  std::printf("INVALID: %s\n", leaf.Subject().c_str());
  for (const auto& p : report.problems) std::printf("  - %s\n", p.c_str());
  return kExitFailure;
}

// The passphrase in a file (its trailing newline dropped), or nullopt when no file is named.
Result<std::optional<std::string>> ReadPassphraseFile(const std::string& path) {
  if (path.empty()) return std::optional<std::string>();
  auto p = TRY(ReadFile(path, 4096));
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
  return std::optional<std::string>(std::move(p));
}

struct KeyArgs {
  std::string type = "ecdsa-p256", out, passphrase_file;
};

int RunKeyGenerate(const KeyArgs& a) {
  auto type = crypto::ParseKeyType(a.type);
  if (!type) return ReportError(type.error());
  auto pass = ReadPassphraseFile(a.passphrase_file);
  if (!pass) return ReportError(pass.error());
  auto key = crypto::PrivateKey::Generate(*type);
  if (!key) return ReportError(key.error());
  auto st = crypto::SavePrivateKey(a.out, *key, *pass);
  if (!st) return ReportError(st.error());
  std::printf("wrote %s key to %s (mode 0600)\n", key->Description().c_str(), a.out.c_str());
  return 0;
}

struct CsrArgs {
  std::string key, out, cn, passphrase_file;
  std::vector<std::string> dns, ip, email;
};

int RunRequest(const CsrArgs& a) {
  auto pass = ReadPassphraseFile(a.passphrase_file);
  if (!pass) return ReportError(pass.error());
  auto key = crypto::LoadPrivateKey(a.key, *pass);
  if (!key) return ReportError(key.error());
  auto csr = x509::CreateCertificateRequest(*key, {a.cn, a.dns, a.ip, a.email});
  if (!csr) return ReportError(csr.error());
  if (a.out.empty() || a.out == "-") {
    std::fputs(csr->Pem().c_str(), stdout);
    return 0;
  }
  auto st = WriteFileAtomic(a.out, csr->Pem(), 0644);
  if (!st) return ReportError(st.error());
  return 0;
}

}  // namespace

void RegisterCertCommands(CLI::App& app) {
  auto* cert = app.add_subcommand("cert", "Inspect, verify and request certificates");
  cert->require_subcommand(1);

  auto inspect_path = std::make_shared<std::string>();
  auto* inspect = cert->add_subcommand("inspect", "Summarise a certificate, a PEM bundle or a CSR");
  inspect->add_option("file", *inspect_path, "PEM or DER file ('-' for stdin)")->required();
  inspect->callback([inspect_path] { ExitCode() = RunInspect(*inspect_path); });

  auto va = std::make_shared<VerifyArgs>();
  auto* verify = cert->add_subcommand(
      "verify", "Validate a chain (leaf first) to the given roots with path and profile checks; exit 0 if valid");
  verify->add_option("chain", va->chain, "PEM chain file, leaf first")->required();
  verify->add_option("--roots", va->roots, "PEM bundle of trusted roots")->required();
  verify->add_option("--at", va->at, "Verification time, RFC 3339 (default: now)");
  verify->add_option("--profile", va->profile, "Profile to check: tls-server, smime, tsa, tlcp-enc (default: detected)");
  verify->add_option("--ct-logs", va->ct_logs, "Log list (JSON, docs/ct.md): check the embedded SCTs (ECDSA and SM2 logs)");
  verify->add_option("--ct-min", va->ct_min, "CT policy: valid SCTs needed from distinct logs")->capture_default_str();
  verify->add_flag("--online", va->online, "Also fetch and check an inclusion proof from each log");
  verify->callback([va] { ExitCode() = RunVerify(*va); });

  auto ca = std::make_shared<CsrArgs>();
  auto* request = cert->add_subcommand("request", "Create a CSR (PKCS#10) signed with a key (SM2: SM3 + standard ID)");
  request->add_option("--key", ca->key, "Private key file")->required();
  request->add_option("--passphrase-file", ca->passphrase_file, "File holding the key's passphrase");
  request->add_option("--cn", ca->cn, "Subject common name");
  request->add_option("--dns", ca->dns, "DNS name (repeatable)");
  request->add_option("--ip", ca->ip, "IP address (repeatable)");
  request->add_option("--email", ca->email, "Email address (repeatable)");
  request->add_option("-o,--out", ca->out, "Output file (default stdout)");
  request->callback([ca] { ExitCode() = RunRequest(*ca); });

  RegisterAcmeClientCommands(*cert);
}

void RegisterKeyCommands(CLI::App& app) {
  auto* key = app.add_subcommand("key", "Generate private keys");
  key->require_subcommand(1);
  auto ka = std::make_shared<KeyArgs>();
  auto* gen = key->add_subcommand("generate", "Generate a key and write it as PKCS#8 PEM, mode 0600, never overwriting");
  gen->add_option("--type", ka->type, "rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384, ed25519 or sm2")->capture_default_str();
  gen->add_option("-o,--out", ka->out, "Output file")->required();
  gen->add_option("--passphrase-file", ka->passphrase_file, "Encrypt with the passphrase in this file (AES-256-CBC, PBKDF2)");
  gen->callback([ka] { ExitCode() = RunKeyGenerate(*ka); });
}

}  // namespace autoseal::cli
