#include "ca/authority.h"

#include <sys/stat.h>

#include <algorithm>

#include "core/file.h"
#include "core/log.h"
#include "ct/submit.h"
#include "store/database.h"
#include "store/sqlite.h"
#include "x509/issue.h"

namespace autoseal::ca {

using crypto::KeyType;
using crypto::PrivateKey;
using x509::Certificate;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE certificates (
  serial      TEXT PRIMARY KEY,        -- lower-case hex, no leading zero bytes
  hierarchy   TEXT NOT NULL,           -- ecc | rsa | sm2
  profile     TEXT NOT NULL,           -- tls-server | smime | tsa | tlcp-enc
  subject     TEXT NOT NULL,
  names       TEXT NOT NULL,           -- space-separated SAN entries
  not_before  INTEGER NOT NULL,        -- Unix seconds
  not_after   INTEGER NOT NULL,
  issued_at   INTEGER NOT NULL,
  pem         TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at  INTEGER,
  reason      INTEGER
);
CREATE INDEX certificates_revoked ON certificates (hierarchy, status, not_after);
CREATE TABLE crl_numbers (
  hierarchy TEXT PRIMARY KEY,
  number    INTEGER NOT NULL
);
)sql"},
};

struct LevelSpec {
  KeyType root_type, intermediate_type;
  const char* label;  // in subject names
};

LevelSpec SpecOf(Hierarchy h) {
  switch (h) {
    case Hierarchy::kEcc: return {KeyType::kEcdsaP384, KeyType::kEcdsaP256, "ECC"};
    case Hierarchy::kRsa: return {KeyType::kRsa4096, KeyType::kRsa2048, "RSA"};
    case Hierarchy::kSm2: return {KeyType::kSm2, KeyType::kSm2, "SM2"};
  }
  return {KeyType::kEcdsaP384, KeyType::kEcdsaP256, "ECC"};
}

std::string LevelDir(const std::string& dir, Hierarchy h) {
  return dir + "/ca/" + std::string(HierarchyName(h));
}

// Loads the key at path, or generates and stores one if there is none. Never replaces a key.
Result<PrivateKey> LoadOrCreateKey(const std::string& path, KeyType type, bool* created) {
  if (FileExists(path)) return crypto::LoadPrivateKey(path);
  auto key = TRY(PrivateKey::Generate(type));
  auto saved = crypto::SavePrivateKey(path, key);
  if (!saved) {
    // Another process created it first: use theirs.
    if (saved.error().code() == ErrorCode::kAlreadyExists) return crypto::LoadPrivateKey(path);
    return Fail(saved.error());
  }
  *created = true;
  return key;
}

Result<Certificate> LoadCertificate(const std::string& path) {
  auto pem = TRY(ReadFile(path, 1 << 20));
  auto cert = Certificate::FromPem(pem);
  if (!cert) return Fail(cert.error().WithContext(path));
  return cert;
}

// Loads the certificate at path (checking it belongs to key), or issues and stores it.
Result<Certificate> LoadOrIssue(const std::string& path, const PrivateKey& key,
                                const x509::CertificateSpec& spec, const Certificate* issuer,
                                const PrivateKey& issuer_key, bool* created) {
  if (FileExists(path)) {
    auto cert = TRY(LoadCertificate(path));
    if (!cert.PublicKey().Equals(key))
      return Fail(ErrorCode::kInvalidArgument, path + " does not belong to the key beside it");
    return cert;
  }
  auto cert = TRY(x509::IssueCertificate(spec, issuer, issuer_key));
  auto st = WriteFileAtomic(path, cert.Pem(), 0644, Overwrite::kNo);
  if (!st) {
    if (st.error().code() == ErrorCode::kAlreadyExists) return LoadCertificate(path);
    return Fail(st.error());
  }
  *created = true;
  return cert;
}

std::string JoinNames(const Certificate& c) {
  std::string out;
  auto add = [&](const std::vector<std::string>& v) {
    for (const auto& n : v) out += (out.empty() ? "" : " ") + n;
  };
  add(c.DnsNames());
  add(c.IpAddresses());
  add(c.EmailAddresses());
  return out;
}

std::string DbPath(const std::string& dir) { return dir + "/ca/ca.db"; }

Result<std::unique_ptr<store::Database>> OpenStore(const std::string& dir) {
  return store::OpenSqlite(DbPath(dir), kMigrations);
}

}  // namespace

std::string_view HierarchyName(Hierarchy h) {
  switch (h) {
    case Hierarchy::kEcc: return "ecc";
    case Hierarchy::kRsa: return "rsa";
    case Hierarchy::kSm2: return "sm2";
  }
  return "ecc";
}

Result<Hierarchy> ParseHierarchy(std::string_view name) {
  for (Hierarchy h : kAllHierarchies)
    if (HierarchyName(h) == name) return h;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown hierarchy '" + std::string(name) + "' (expected ecc, rsa or sm2)");
}

Hierarchy HierarchyFor(const crypto::PublicKey& key) {
  switch (key.Family()) {
    case crypto::KeyFamily::kRsa: return Hierarchy::kRsa;
    case crypto::KeyFamily::kSm2: return Hierarchy::kSm2;
    case crypto::KeyFamily::kEcdsa:
    case crypto::KeyFamily::kEd25519: return Hierarchy::kEcc;
  }
  return Hierarchy::kEcc;
}

std::string IssuedCertificate::ChainPem() const { return x509::ToPemBundle(chain); }

Result<std::string> NormalizeSerial(std::string_view text) {
  std::string hex;
  std::string_view digits = text;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  for (char c : digits)
    if (c != ':') hex += c;
  if (hex.size() % 2 == 1) hex.insert(hex.begin(), '0');
  auto bytes = HexDecode(hex);
  if (!bytes || bytes->empty())
    return Fail(ErrorCode::kInvalidArgument, "not a hexadecimal serial number: '" + std::string(text) + "'");
  auto first = std::find_if(bytes->begin(), bytes->end(), [](uint8_t b) { return b != 0; });
  if (first == bytes->end()) return std::string("00");
  return HexEncode(ByteView(bytes->data() + (first - bytes->begin()), static_cast<size_t>(bytes->end() - first)));
}

Result<InitReport> CertificateAuthority::Init(const std::string& dir, const CaOptions& options) {
  TRY(MakeDirectories(dir + "/ca/crl", 0755));
  ::chmod((dir + "/ca").c_str(), 0700);
  InitReport report;
  const TimePoint now = std::chrono::floor<std::chrono::seconds>(options.clock->Now());
  for (Hierarchy h : kAllHierarchies) {
    const std::string level_dir = LevelDir(dir, h);
    TRY(MakeDirectories(level_dir, 0700));
    LevelSpec ls = SpecOf(h);
    bool created = false;
    auto context = "initialising the " + std::string(HierarchyName(h)) + " hierarchy";

    auto root_key = TRY_CONTEXT(LoadOrCreateKey(level_dir + "/root.key", ls.root_type, &created), context);
    x509::CertificateSpec rs;
    rs.profile = x509::Profile::kRootCa;
    rs.subject_key = root_key.Public();
    rs.organization = "autoseal";
    rs.common_name = std::string("autoseal ") + ls.label + " Root CA";
    rs.not_before = now;
    rs.not_after = now + std::chrono::hours(24 * 365 * 20) - std::chrono::seconds(1);
    auto root = TRY_CONTEXT(LoadOrIssue(level_dir + "/root.pem", root_key, rs, nullptr, root_key, &created), context);

    auto int_key = TRY_CONTEXT(LoadOrCreateKey(level_dir + "/intermediate.key", ls.intermediate_type, &created), context);
    x509::CertificateSpec is;
    is.profile = x509::Profile::kIntermediateCa;
    is.subject_key = int_key.Public();
    is.organization = "autoseal";
    is.common_name = std::string("autoseal ") + ls.label + " Intermediate CA";
    is.path_length = 0;
    is.not_before = now;
    is.not_after = std::min(root.NotAfter(), now + std::chrono::hours(24 * 365 * 8) - std::chrono::seconds(1));
    auto inter = TRY_CONTEXT(LoadOrIssue(level_dir + "/intermediate.pem", int_key, is, &root, root_key, &created), context);
    if (!inter.VerifySignature(root.PublicKey()))
      return Fail(ErrorCode::kInvalidArgument, level_dir + "/intermediate.pem is not signed by root.pem");
    report.hierarchies.push_back({h, created, root, inter, std::nullopt});
  }
  // Cross-signatures: the ECC intermediate under the RSA root and the RSA intermediate under the
  // ECC root, so that clients preferring the other root (certbot --preferred-chain) find a path.
  for (auto [h, other] : {std::pair{Hierarchy::kEcc, Hierarchy::kRsa}, std::pair{Hierarchy::kRsa, Hierarchy::kEcc}}) {
    auto& entry = report.hierarchies[static_cast<size_t>(h)];
    const auto& other_entry = report.hierarchies[static_cast<size_t>(other)];
    auto other_root_key = TRY(crypto::LoadPrivateKey(LevelDir(dir, other) + "/root.key"));
    auto int_key = TRY(crypto::LoadPrivateKey(LevelDir(dir, h) + "/intermediate.key"));
    x509::CertificateSpec cs;
    cs.profile = x509::Profile::kIntermediateCa;
    cs.subject_key = int_key.Public();
    cs.organization = "autoseal";
    cs.common_name = entry.intermediate.CommonName();
    cs.path_length = 0;
    cs.not_before = entry.intermediate.NotBefore();
    cs.not_after = std::min(entry.intermediate.NotAfter(), other_entry.root.NotAfter());
    bool created = false;
    auto cross = TRY_CONTEXT(LoadOrIssue(LevelDir(dir, h) + "/cross.pem", int_key, cs, &other_entry.root,
                                         other_root_key, &created), "cross-signing the " + std::string(HierarchyName(h)) + " intermediate");
    entry.cross = cross;
    entry.created = entry.created || created;
  }
  TRY(OpenStore(dir));
  return report;
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Open(const std::string& dir,
                                                                         const CaOptions& options) {
  std::vector<Level> levels;
  for (Hierarchy h : kAllHierarchies) {
    const std::string level_dir = LevelDir(dir, h);
    if (!FileExists(level_dir + "/intermediate.key") || !FileExists(DbPath(dir)))
      return Fail(ErrorCode::kNotFound,
                  "no CA in " + dir + " (run `autoseal ca init --dir " + dir + "` first)");
    auto root = TRY(LoadCertificate(level_dir + "/root.pem"));
    auto inter = TRY(LoadCertificate(level_dir + "/intermediate.pem"));
    auto key = TRY(crypto::LoadPrivateKey(level_dir + "/intermediate.key"));
    if (!inter.PublicKey().Equals(key))
      return Fail(ErrorCode::kInvalidArgument, level_dir + "/intermediate.key does not match intermediate.pem");
    std::optional<Certificate> cross;
    if (FileExists(level_dir + "/cross.pem")) {
      cross = TRY(LoadCertificate(level_dir + "/cross.pem"));
      if (!cross->PublicKey().Equals(key) || cross->Subject() != inter.Subject())
        return Fail(ErrorCode::kInvalidArgument, level_dir + "/cross.pem does not match intermediate.pem");
    }
    levels.push_back({root, inter, key, std::move(cross)});
  }
  auto db = TRY(OpenStore(dir));
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority(dir, options, std::move(levels), std::move(db)));
  for (const auto& log : options.ct_logs) {
    std::string url = log.url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (log.key.empty()) {
      ca->ct_endpoints_.push_back(TRY_CONTEXT(ct::FetchLogEndpoint(url, options.ct_timeout), "CT log " + url));
    } else {
      auto key = TRY_CONTEXT(ct::LogPublicKey::FromSpki(log.key), "CT log " + url);
      ca->ct_endpoints_.push_back(ct::LogEndpoint{url, std::move(key), url});
    }
  }
  // The same log twice would count twice towards the minimum.
  for (size_t i = 0; i < ca->ct_endpoints_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (ca->ct_endpoints_[i].key.log_id() == ca->ct_endpoints_[j].key.log_id())
        return Fail(ErrorCode::kInvalidArgument, "CT log " + ca->ct_endpoints_[i].url + " is configured twice");
  if (!ca->ct_endpoints_.empty() && options.ct_min_scts > static_cast<int>(ca->ct_endpoints_.size()))
    return Fail(ErrorCode::kInvalidArgument, "the CT minimum (" + std::to_string(options.ct_min_scts) +
                                                 ") exceeds the number of CT logs (" +
                                                 std::to_string(ca->ct_endpoints_.size()) + ")");
  return ca;
}

CertificateAuthority::CertificateAuthority(std::string dir, CaOptions options, std::vector<Level> levels,
                                           std::unique_ptr<store::Database> db)
    : dir_(std::move(dir)), options_(std::move(options)), levels_(std::move(levels)), db_(std::move(db)) {}

CertificateAuthority::~CertificateAuthority() = default;

const Certificate& CertificateAuthority::Root(Hierarchy h) const { return levels_[static_cast<size_t>(h)].root; }
const Certificate& CertificateAuthority::Intermediate(Hierarchy h) const {
  return levels_[static_cast<size_t>(h)].intermediate;
}

const std::optional<Certificate>& CertificateAuthority::CrossSigned(Hierarchy h) const {
  return levels_[static_cast<size_t>(h)].cross;
}

std::vector<Certificate> CertificateAuthority::Roots() const {
  std::vector<Certificate> out;
  for (const auto& l : levels_) out.push_back(l.root);
  return out;
}

Result<IssuedCertificate> CertificateAuthority::Issue(const x509::CertificateRequest& csr,
                                                      x509::Profile profile, std::optional<int> days,
                                                      bool request_checked, const RecordHook& also_record) {
  const Hierarchy h = HierarchyFor(csr.PublicKey());
  const Level& level = levels_[static_cast<size_t>(h)];
  x509::IssueOptions opts;
  opts.days = days;
  opts.request_checked = request_checked;
  opts.now = options_.clock->Now();
  if (!options_.crl_base_url.empty())
    opts.crl_urls = {options_.crl_base_url + "/crl/" + std::string(HierarchyName(h)) + ".crl"};
  auto spec = TRY(x509::SpecFromRequest(csr, profile, opts));
  // RFC 6962 §3.1: a precertificate, logged first; its SCTs go into the certificate, which has
  // the same serial, validity and extensions but for the poison, replaced by the SCT list.
  const bool logged = !ct_endpoints_.empty() && profile == x509::Profile::kTlsServer;
  // SCTs from SM2 logs carry the DigitallySigned algorithm bytes 0x0708, which OpenSSL 3.0 and
  // pyca/cryptography reject, failing the whole embedded list: they go only into certificates of
  // the SM2 hierarchy, whose relying parties speak SM2 (docs/ct.md). The minimum then counts the
  // logs eligible for the hierarchy.
  std::vector<ct::LogEndpoint> logs;
  for (const auto& e : ct_endpoints_)
    if (!e.key.is_sm2() || h == Hierarchy::kSm2) logs.push_back(e);
  const int min_scts = std::min(options_.ct_min_scts, static_cast<int>(logs.size()));
  if (logged && logs.empty())
    return Fail(ErrorCode::kUnsupported, "certificate not issued: no configured CT log may log a " +
                                             std::string(HierarchyName(h)) + " certificate (SM2 logs log only SM2 certificates)");
  if (logged) {
    spec.serial = TRY(x509::NewSerialNumber());
    x509::CertificateSpec pre_spec = spec;
    pre_spec.extra_extensions.push_back(ct::PoisonExtension());
    auto pre = TRY(x509::IssueCertificate(pre_spec, &level.intermediate, level.intermediate_key));
    auto scts = ct::SubmitToLogs(logs, {pre.Der(), level.intermediate.Der()}, true,
                                 {.min_scts = min_scts, .timeout = options_.ct_timeout});
    if (!scts) return Fail(scts.error().WithContext("certificate not issued"));
    spec.extra_extensions.push_back(ct::SctListExtension(scts->scts));
  }
  auto leaf = TRY(x509::IssueCertificate(spec, &level.intermediate, level.intermediate_key));
  // DESIGN.md §5: recorded durably before it is returned.
  TRY_CONTEXT(db_->Transaction([&](store::Database& tx) -> Status {
                TRY(tx.Execute("INSERT INTO certificates (serial, hierarchy, profile, subject, names, "
                               "not_before, not_after, issued_at, pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               {leaf.SerialHex(), HierarchyName(h), x509::ProfileName(profile),
                                leaf.Subject(), JoinNames(leaf), ToUnixSeconds(leaf.NotBefore()),
                                ToUnixSeconds(leaf.NotAfter()), ToUnixSeconds(opts.now), leaf.Pem()}));
                if (also_record) TRY(also_record(tx, leaf));
                return Ok();
              }),
              "cannot record the issued certificate");
  Log(LogLevel::kInfo, "issued certificate",
      {{"serial", leaf.SerialHex()}, {"hierarchy", HierarchyName(h)}, {"profile", x509::ProfileName(profile)}});
  if (logged) {
    // The final certificate is logged too (best effort: it is already issued and recorded).
    auto final_scts = ct::SubmitToLogs(logs, {leaf.Der(), level.intermediate.Der()}, false,
                                       {.min_scts = 0, .timeout = options_.ct_timeout});
    if (final_scts && !final_scts->failures.empty())
      Log(LogLevel::kWarning, "final certificate not accepted by every CT log",
          {{"serial", leaf.SerialHex()}, {"failures", final_scts->failures.front()}});
  }
  return IssuedCertificate{leaf, {leaf, level.intermediate}, h};
}

Status CertificateAuthority::Revoke(std::string_view serial_hex, x509::RevocationReason reason) {
  auto serial = TRY(NormalizeSerial(serial_hex));
  auto changed = TRY(db_->ExecuteChanges(
      "UPDATE certificates SET status = 'revoked', revoked_at = ?, reason = ? "
      "WHERE serial = ? AND status = 'valid'",
      {ToUnixSeconds(options_.clock->Now()), static_cast<int64_t>(reason), serial}));
  if (changed == 1) {
    Log(LogLevel::kInfo, "revoked certificate", {{"serial", serial}, {"reason", x509::RevocationReasonName(reason)}});
    return Ok();
  }
  auto existing = TRY(Find(serial));
  if (!existing) return Fail(ErrorCode::kNotFound, "no certificate with serial " + serial + " was issued by this CA");
  return Fail(ErrorCode::kAlreadyExists, "certificate " + serial + " is already revoked");
}

Result<std::optional<CertificateRecord>> CertificateAuthority::Find(std::string_view serial_hex) {
  auto serial = TRY(NormalizeSerial(serial_hex));
  auto row = TRY(db_->QueryRow(
      "SELECT serial, hierarchy, profile, subject, names, not_before, not_after, issued_at, pem, "
      "status, revoked_at, reason FROM certificates WHERE serial = ?",
      {serial}));
  if (!row) return std::optional<CertificateRecord>();
  CertificateRecord r;
  r.serial_hex = TRY(row->Text(0));
  r.hierarchy = TRY(ParseHierarchy(TRY(row->Text(1))));
  r.profile = TRY(x509::ParseProfile(TRY(row->Text(2))));
  r.subject = TRY(row->Text(3));
  std::string names = TRY(row->Text(4));
  for (size_t pos = 0; pos < names.size();) {
    size_t sp = names.find(' ', pos);
    if (sp == std::string::npos) sp = names.size();
    if (sp > pos) r.names.push_back(names.substr(pos, sp - pos));
    pos = sp + 1;
  }
  r.not_before = FromUnixSeconds(TRY(row->Int(5)));
  r.not_after = FromUnixSeconds(TRY(row->Int(6)));
  r.issued_at = FromUnixSeconds(TRY(row->Int(7)));
  r.pem = TRY(row->Text(8));
  r.status = TRY(row->Text(9)) == "revoked" ? CertificateStatus::kRevoked : CertificateStatus::kValid;
  if (auto t = TRY(row->NullableInt(10))) r.revoked_at = FromUnixSeconds(*t);
  if (auto code = TRY(row->NullableInt(11))) r.reason = static_cast<x509::RevocationReason>(*code);
  return std::optional<CertificateRecord>(std::move(r));
}

Result<x509::Crl> CertificateAuthority::GenerateCrl(Hierarchy h) {
  const Level& level = levels_[static_cast<size_t>(h)];
  const TimePoint now = std::chrono::floor<std::chrono::seconds>(options_.clock->Now());
  const std::string name(HierarchyName(h));
  std::optional<x509::Crl> crl;
  // The number increments and the CRL is built in one transaction, so numbers never repeat.
  TRY(db_->Transaction([&](store::Database& tx) -> Status {
    auto row = TRY(tx.QueryRow("SELECT number FROM crl_numbers WHERE hierarchy = ?", {name}));
    int64_t number = row ? TRY(row->Int(0)) + 1 : 1;
    TRY(tx.Execute("INSERT INTO crl_numbers (hierarchy, number) VALUES (?, ?) "
                   "ON CONFLICT (hierarchy) DO UPDATE SET number = excluded.number",
                   {name, number}));
    // RFC 5280 §3.3: an entry may be removed once the certificate has expired.
    auto rows = TRY(tx.Query("SELECT serial, revoked_at, reason FROM certificates "
                             "WHERE hierarchy = ? AND status = 'revoked' AND not_after >= ? ORDER BY serial",
                             {name, ToUnixSeconds(now)}));
    std::vector<x509::RevokedCertificate> revoked;
    for (const auto& r : rows) {
      x509::RevokedCertificate entry;
      entry.serial = TRY(HexDecode(TRY(r.Text(0))));
      entry.revocation_date = FromUnixSeconds(TRY(r.Int(1)));
      entry.reason = static_cast<x509::RevocationReason>(TRY(r.Int(2)));
      revoked.push_back(std::move(entry));
    }
    crl = TRY(x509::CreateCrl(level.intermediate, level.intermediate_key, revoked, now,
                              now + std::chrono::hours(24 * 7), static_cast<uint64_t>(number)));
    return Ok();
  }));
  TRY(WriteFileAtomic(dir_ + "/ca/crl/" + name + ".crl", crl->Pem(), 0644, Overwrite::kYes));
  return *crl;
}

}  // namespace autoseal::ca
