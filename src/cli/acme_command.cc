#include "cli/acme_command.h"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <memory>

#include "acme/client/client.h"
#include "acme/client/helpers.h"
#include "acme/client/obtain.h"
#include "acme/client/solver.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/bytes.h"
#include "core/file.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace autoseal::cli {
namespace {

namespace json = boost::json;
namespace ac = acme::client;

// Everything obtain needs; renew and revoke read the stored copy (meta.json) and let flags
// override it. Empty strings mean "not given".
struct AcmeArgs {
  std::string dir = kDefaultDir;
  std::string acme, ca_bundle, key_type, challenge, http01_address, tlsalpn01_address, dns_hook;
  std::string email, eab_kid, eab_hmac_key, preferred_chain, profile, reason;
  std::vector<std::string> names;
  int dns_wait_seconds = -1;
  bool agree_tos = false, force = false, with_cert_key = false;
};

std::string MetaJson(const AcmeArgs& a) {
  json::array names;
  for (const auto& n : a.names) names.emplace_back(n);
  // No EAB secret here: the account exists once a certificate has been obtained.
  json::object o{{"acme", a.acme},
                 {"ca_bundle", a.ca_bundle},
                 {"names", std::move(names)},
                 {"key_type", a.key_type},
                 {"challenge", a.challenge},
                 {"http01_address", a.http01_address},
                 {"tlsalpn01_address", a.tlsalpn01_address},
                 {"dns_hook", a.dns_hook},
                 {"dns_wait_seconds", a.dns_wait_seconds},
                 {"email", a.email},
                 {"preferred_chain", a.preferred_chain},
                 {"profile", a.profile},
                 {"agree_tos", a.agree_tos}};
  return json::serialize(o) + "\n";
}

// Fills the fields a was not given from the stored meta.json.
Status MergeMeta(AcmeArgs& a, const std::string& meta) {
  json::error_code ec;
  json::value v = json::parse(meta, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kParse, "stored meta.json is not a JSON object");
  const json::object& o = v.get_object();
  auto str = [&o](const char* k, std::string& field) {
    if (!field.empty()) return;
    if (const json::value* x = o.if_contains(k); x && x->is_string()) field = std::string(x->get_string());
  };
  str("acme", a.acme);
  str("ca_bundle", a.ca_bundle);
  str("key_type", a.key_type);
  str("challenge", a.challenge);
  str("http01_address", a.http01_address);
  str("tlsalpn01_address", a.tlsalpn01_address);
  str("dns_hook", a.dns_hook);
  str("email", a.email);
  str("preferred_chain", a.preferred_chain);
  str("profile", a.profile);
  if (const json::value* x = o.if_contains("names"); x && x->is_array()) {
    std::vector<std::string> stored;
    for (const auto& n : x->get_array())
      if (n.is_string()) stored.emplace_back(n.get_string());
    // -d names the stored certificate; the stored list is what gets renewed.
    if (!stored.empty()) a.names = stored;
  }
  if (a.dns_wait_seconds < 0)
    if (const json::value* x = o.if_contains("dns_wait_seconds"); x && x->is_int64())
      a.dns_wait_seconds = static_cast<int>(x->get_int64());
  if (const json::value* x = o.if_contains("agree_tos"); x && x->is_bool() && x->get_bool()) a.agree_tos = true;
  return Ok();
}

void ApplyDefaults(AcmeArgs& a) {
  if (a.key_type.empty()) a.key_type = "ecdsa";
  if (a.challenge.empty()) a.challenge = "http-01";
  if (a.http01_address.empty()) a.http01_address = "0.0.0.0:80";
  if (a.tlsalpn01_address.empty()) a.tlsalpn01_address = "0.0.0.0:443";
  if (a.dns_wait_seconds < 0) a.dns_wait_seconds = 0;
}

Result<crypto::KeyType> CertificateKeyType(const std::string& name) {
  if (name == "ecdsa") return crypto::KeyType::kEcdsaP256;
  if (name == "rsa") return crypto::KeyType::kRsa2048;
  if (name == "sm2") return crypto::KeyType::kSm2;
  return crypto::ParseKeyType(name);
}

Result<std::unique_ptr<ac::Client>> Connect(const AcmeArgs& a) {
  if (a.acme.empty()) return Fail(ErrorCode::kInvalidArgument, "--acme URL is required");
  ac::ClientOptions o;
  o.directory_url = a.acme;
  o.ca_file = a.ca_bundle;
  return ac::Client::Create(std::move(o));
}

Result<ac::Account> Account(ac::Client& client, const AcmeArgs& a) {
  ac::AccountOptions o;
  o.dir = ac::AccountDir(a.dir, a.acme);
  if (!a.email.empty()) o.contact.push_back("mailto:" + a.email);
  o.terms_of_service_agreed = a.agree_tos;
  if (!a.eab_kid.empty() || !a.eab_hmac_key.empty()) {
    if (a.eab_kid.empty() || a.eab_hmac_key.empty())
      return Fail(ErrorCode::kInvalidArgument, "--eab-kid and --eab-hmac-key go together");
    auto key = Base64UrlDecode(a.eab_hmac_key);
    if (!key) return Fail(ErrorCode::kInvalidArgument, "--eab-hmac-key is not base64url");
    o.eab = ac::ExternalAccountBinding{a.eab_kid, *key};
  }
  auto account = client.LoadOrCreateAccount(o);
  if (!account && account.error().message().find("terms of service") != std::string::npos &&
      account.error().code() == ErrorCode::kPolicy)
    return Fail(account.error().WithContext("pass --agree-tos to agree"));
  return account;
}

int Obtain(AcmeArgs a, const std::string& replaces) {
  ApplyDefaults(a);
  if (a.names.empty()) return ReportError(Error(ErrorCode::kInvalidArgument, "-d NAME is required"));
  auto key_type = CertificateKeyType(a.key_type);
  if (!key_type) return ReportError(key_type.error().WithContext("--key-type"));

  // Solvers first: a port that cannot be bound should fail before anything is ordered.
  std::unique_ptr<ac::ChallengeSolver> solver;
  if (a.challenge == "http-01") {
    auto s = ac::Http01Solver::Create(a.http01_address);
    if (!s) return ReportError(s.error());
    solver = std::move(*s);
  } else if (a.challenge == "tls-alpn-01") {
    auto s = ac::TlsAlpn01Solver::Create(a.tlsalpn01_address);
    if (!s) return ReportError(s.error());
    solver = std::move(*s);
  } else if (a.challenge == "dns-01") {
    if (a.dns_hook.empty())
      return ReportError(Error(ErrorCode::kInvalidArgument, "--challenge dns-01 needs --dns-hook SCRIPT"));
    solver = std::make_unique<ac::Dns01ExecSolver>(a.dns_hook, std::chrono::seconds(60),
                                                   std::chrono::seconds(a.dns_wait_seconds));
  } else {
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "--challenge must be http-01, tls-alpn-01 or dns-01, not " + a.challenge));
  }

  auto client = Connect(a);
  if (!client) return ReportError(client.error());
  auto account = Account(**client, a);
  if (!account) return ReportError(account.error());
  auto key = crypto::PrivateKey::Generate(*key_type);
  if (!key) return ReportError(key.error());

  ac::ObtainRequest req;
  req.names = a.names;
  req.profile = a.profile;
  req.replaces = replaces;
  req.preferred_chain = a.preferred_chain;
  auto cert = ac::ObtainCertificate(**client, req, *key, {solver.get()});
  if (!cert) {
    Error e = cert.error();
    if (*key_type == crypto::KeyType::kSm2 &&
        (ac::IsProblem(e, acme::ProblemType::kBadCsr) || ac::IsProblem(e, acme::ProblemType::kBadPublicKey) ||
         ac::IsProblem(e, acme::ProblemType::kMalformed)))
      e = Error(e.code(), e.message() + " (this CA does not issue certificates for SM2 keys; use --key-type ecdsa or rsa)");
    return ReportError(e);
  }
  auto stored = ac::StoreCertificate(a.dir, a.names.front(), *key, cert->chain_pem, MetaJson(a));
  if (!stored) return ReportError(stored.error());
  const auto& leaf = cert->chain.front();
  std::printf("obtained certificate for %s (serial %s, expires %s, issuer %s)\n",
              a.names.front().c_str(), leaf.SerialHex().c_str(), FormatRfc3339(leaf.NotAfter()).c_str(),
              leaf.Issuer().c_str());
  std::printf("  chain: %s\n  key:   %s\n", stored->chain_path.c_str(), stored->key_path.c_str());
  return 0;
}

Result<x509::Certificate> StoredLeaf(const ac::StoredCertificate& s) {
  auto pem = TRY(ReadFile(s.chain_path));
  auto certs = TRY_CONTEXT(x509::Certificate::ParseAll(pem), s.chain_path);
  return certs.front();
}

int Renew(AcmeArgs a) {
  if (a.names.empty()) return ReportError(Error(ErrorCode::kInvalidArgument, "-d NAME is required"));
  auto stored = ac::LoadStoredCertificate(a.dir, a.names.front());
  if (!stored) return ReportError(stored.error());
  if (auto st = MergeMeta(a, stored->meta_json); !st) return ReportError(st.error());
  ApplyDefaults(a);
  auto leaf = StoredLeaf(*stored);
  if (!leaf) return ReportError(leaf.error());
  auto client = Connect(a);
  if (!client) return ReportError(client.error());

  std::string replaces;
  std::optional<ac::RenewalWindow> ari;
  if (!(*client)->directory().renewal_info.empty()) {
    if (auto id = ac::RenewalCertId(*leaf)) replaces = *id;
    auto info = (*client)->FetchRenewalInfo(*leaf);
    if (info)
      ari = info->window;
    else
      std::fprintf(stderr, "autoseal: renewal information unavailable (%s); using 1/3 of the lifetime\n",
                   info.error().message().c_str());
  }
  auto now = SystemClock::Instance().Now();
  if (!a.force && !ac::ShouldRenewNow(*leaf, ari, now, ac::RandomFraction())) {
    ac::RenewalWindow w = ari ? *ari : ac::DefaultRenewalWindow(*leaf);
    std::printf("certificate for %s is not due for renewal: %s window %s to %s (use --force to renew now)\n",
                a.names.front().c_str(), ari ? "ARI" : "default", FormatRfc3339(w.start).c_str(),
                FormatRfc3339(w.end).c_str());
    return 0;
  }
  return Obtain(std::move(a), replaces);
}

int Revoke(AcmeArgs a) {
  if (a.names.empty()) return ReportError(Error(ErrorCode::kInvalidArgument, "-d NAME is required"));
  std::optional<int> reason;
  if (!a.reason.empty()) {
    auto r = ac::ParseRevocationReason(a.reason);
    if (!r) return ReportError(r.error());
    reason = *r;
  }
  auto stored = ac::LoadStoredCertificate(a.dir, a.names.front());
  if (!stored) return ReportError(stored.error());
  if (auto st = MergeMeta(a, stored->meta_json); !st) return ReportError(st.error());
  auto leaf = StoredLeaf(*stored);
  if (!leaf) return ReportError(leaf.error());
  auto client = Connect(a);
  if (!client) return ReportError(client.error());
  Status st;
  if (a.with_cert_key) {
    auto key = crypto::LoadPrivateKey(stored->key_path);
    if (!key) return ReportError(key.error());
    st = (*client)->RevokeCertificate(*leaf, reason, &*key);
  } else {
    auto account = Account(**client, a);
    if (!account) return ReportError(account.error());
    st = (*client)->RevokeCertificate(*leaf, reason);
  }
  if (!st) return ReportError(st.error());
  std::printf("revoked certificate for %s (serial %s)\n", a.names.front().c_str(), leaf->SerialHex().c_str());
  return 0;
}

// Flags shared by obtain and renew.
void AddObtainFlags(CLI::App* c, AcmeArgs& a) {
  c->add_option("--ca-bundle", a.ca_bundle, "PEM bundle trusted for the ACME server's HTTPS (default: system store)");
  c->add_option("--key-type", a.key_type, "Certificate key: ecdsa (P-256, default), rsa (2048), sm2, or a full key type");
  c->add_option("--challenge", a.challenge, "http-01 (default), tls-alpn-01 or dns-01 (needed for wildcards)");
  c->add_option("--http01-address", a.http01_address, "Where the http-01 responder listens (default 0.0.0.0:80)");
  c->add_option("--tlsalpn01-address", a.tlsalpn01_address, "Where the tls-alpn-01 responder listens (default 0.0.0.0:443)");
  c->add_option("--dns-hook", a.dns_hook, "dns-01: program run as `SCRIPT present|cleanup FQDN VALUE` (lego exec style)");
  c->add_option("--dns-wait", a.dns_wait_seconds, "dns-01: seconds to wait after the hook before asking for validation");
  c->add_option("--email", a.email, "Contact address for a new account");
  c->add_option("--eab-kid", a.eab_kid, "External Account Binding key id");
  c->add_option("--eab-hmac-key", a.eab_hmac_key, "External Account Binding HMAC key (base64url)");
  c->add_option("--preferred-chain", a.preferred_chain, "Issuer common name of the root to prefer among alternate chains");
  c->add_option("--profile", a.profile, "Certificate profile to ask for (when the CA offers profiles)");
  c->add_flag("--agree-tos", a.agree_tos, "Agree to the CA's terms of service when creating an account");
}

}  // namespace

void RegisterAcmeClientCommands(CLI::App& cert) {
  auto oa = std::make_shared<AcmeArgs>();
  auto* obtain = cert.add_subcommand(
      "obtain", "Obtain a certificate over ACME; stores key (0600) and chain under DIR/certs/<first name>/");
  obtain->add_option("--acme", oa->acme, "ACME directory URL")->required();
  obtain->add_option("-d,--domain", oa->names, "DNS name, wildcard or IP address (repeatable; the first names the certificate)")
      ->required();
  obtain->add_option("--dir", oa->dir, "Data directory")->capture_default_str();
  AddObtainFlags(obtain, *oa);
  obtain->callback([oa] { ExitCode() = Obtain(*oa, ""); });

  auto ra = std::make_shared<AcmeArgs>();
  auto* renew = cert.add_subcommand(
      "renew", "Renew a stored certificate when due: inside the CA's ARI window (RFC 9773), else with 1/3 of its lifetime left");
  renew->add_option("-d,--domain", ra->names, "First name of the stored certificate")->required();
  renew->add_option("--dir", ra->dir, "Data directory")->capture_default_str();
  renew->add_option("--acme", ra->acme, "ACME directory URL (default: the one it was obtained from)");
  renew->add_flag("--force", ra->force, "Renew now whatever the window says");
  AddObtainFlags(renew, *ra);
  renew->callback([ra] { ExitCode() = Renew(*ra); });

  auto va = std::make_shared<AcmeArgs>();
  auto* revoke = cert.add_subcommand("revoke", "Revoke a stored certificate over ACME");
  revoke->add_option("-d,--domain", va->names, "First name of the stored certificate")->required();
  revoke->add_option("--dir", va->dir, "Data directory")->capture_default_str();
  revoke->add_option("--acme", va->acme, "ACME directory URL (default: the one it was obtained from)");
  revoke->add_option("--ca-bundle", va->ca_bundle, "PEM bundle trusted for the ACME server's HTTPS");
  revoke->add_option("--reason", va->reason,
                     "keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified, or a number");
  revoke->add_flag("--with-cert-key", va->with_cert_key,
                   "Sign the request with the certificate's key instead of the account key");
  revoke->callback([va] { ExitCode() = Revoke(*va); });
}

}  // namespace autoseal::cli
