#include "acme/client/obtain.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "core/file.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "x509/csr.h"
#include "x509/names.h"

namespace autoseal::acme::client {

namespace fs = std::filesystem;

Result<std::vector<Identifier>> IdentifiersForNames(const std::vector<std::string>& names) {
  if (names.empty()) return Fail(ErrorCode::kInvalidArgument, "no names given");
  std::vector<Identifier> ids;
  for (const auto& raw : names) {
    std::string n = raw;
    if (x509::ParseIpAddress(n)) {
      // RFC 8738 §3: the value is the textual address (IPv6 in RFC 5952 form).
      ids.push_back({"ip", x509::FormatIpAddress(*x509::ParseIpAddress(n))});
      continue;
    }
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n.ends_with(".")) n.pop_back();
    TRY_CONTEXT(x509::ValidateDnsName(n, true), raw);
    ids.push_back({"dns", n});
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

namespace {

// Calls CleanUp for every presented challenge when the order is done, whatever the outcome.
class PresentedChallenges {
 public:
  ~PresentedChallenges() { CleanUpAll(); }
  void Add(ChallengeSolver* solver, ChallengeInfo info) { items_.push_back({solver, std::move(info)}); }
  void CleanUpAll() {
    for (auto& [solver, info] : items_) {
      auto st = solver->CleanUp(info);
      if (!st)
        Log(LogLevel::kWarning, "acme: challenge clean-up failed",
            {{"identifier", info.identifier.value}, {"error", st.error().message()}});
    }
    items_.clear();
  }

 private:
  std::vector<std::pair<ChallengeSolver*, ChallengeInfo>> items_;
};

std::string OfferedTypes(const Authorization& a) {
  std::string out;
  for (const auto& c : a.challenges) out += (out.empty() ? "" : ", ") + c.type;
  return out.empty() ? "none" : out;
}

}  // namespace

Result<ObtainedCertificate> ObtainCertificate(Client& client, const ObtainRequest& request,
                                              const crypto::PrivateKey& key,
                                              const std::vector<ChallengeSolver*>& solvers) {
  auto ids = TRY(IdentifiersForNames(request.names));
  NewOrderRequest nr;
  nr.identifiers = ids;
  nr.not_before = request.not_before;
  nr.not_after = request.not_after;
  nr.profile = request.profile;
  nr.replaces = request.replaces;
  Order order = TRY(client.NewOrder(nr));
  std::string thumbprint = TRY(client.AccountThumbprint());

  {
    PresentedChallenges presented;
    struct Pending {
      std::string authz_url, challenge_url, identifier;
    };
    std::vector<Pending> pending;
    for (const auto& url : order.authorizations) {
      Authorization authz = TRY(client.FetchAuthorization(url));
      std::string shown = (authz.wildcard ? "*." : "") + authz.identifier.value;
      if (authz.status == "valid") continue;  // reused authorization (RFC 8555 §7.1.4)
      if (authz.status != "pending")
        return Fail(ErrorCode::kPolicy, "authorization for " + shown + " is " + authz.status);
      ChallengeSolver* solver = nullptr;
      const Challenge* chosen = nullptr;
      for (ChallengeSolver* s : solvers) {
        // RFC 8555 §7.1.3: wildcard authorizations are only offered dns-01; be strict anyway.
        if (authz.wildcard && s->Type() != "dns-01") continue;
        auto it = std::find_if(authz.challenges.begin(), authz.challenges.end(),
                               [&](const Challenge& c) { return c.type == s->Type(); });
        if (it != authz.challenges.end()) {
          solver = s;
          chosen = &*it;
          break;
        }
      }
      if (!solver) {
        std::string have;
        for (ChallengeSolver* s : solvers) have += (have.empty() ? "" : ", ") + std::string(s->Type());
        return Fail(ErrorCode::kUnsupported, "no usable challenge for " + shown + ": the server offers " +
                                                 OfferedTypes(authz) + ", we can solve " +
                                                 (have.empty() ? "none" : have));
      }
      ChallengeInfo info;
      info.type = chosen->type;
      info.identifier = authz.identifier;
      info.wildcard = authz.wildcard;
      info.token = chosen->token;
      info.key_authorization = KeyAuthorization(chosen->token, thumbprint);
      TRY_CONTEXT(solver->Present(info), std::string(solver->Type()) + " for " + shown);
      presented.Add(solver, info);
      pending.push_back({url, chosen->url, shown});
    }
    for (const auto& p : pending) TRY_CONTEXT(client.RespondToChallenge(p.challenge_url), p.identifier);
    for (const auto& p : pending) {
      Authorization a = TRY(client.PollAuthorization(p.authz_url));
      if (a.status == "valid") continue;
      std::string why;
      for (const auto& c : a.challenges)
        if (!c.error.empty()) why = c.type + ": " + c.error;
      return Fail(ErrorCode::kPolicy, "authorization for " + p.identifier + " is " + a.status +
                                          (why.empty() ? "" : " (" + why + ")"));
    }
  }

  order = TRY(client.PollOrder(order.url));
  if (order.status != "ready" && order.status != "valid")
    return Fail(ErrorCode::kPolicy, "order is " + order.status +
                                        (order.error.empty() ? "" : ": " + order.error));
  if (order.status == "ready") {
    x509::CsrOptions csr_opts;
    for (const auto& id : ids) (id.type == "ip" ? csr_opts.ip_addresses : csr_opts.dns_names).push_back(id.value);
    // The first requested name as CN when it fits (RFC 5280 ub-common-name is 64).
    if (!request.names.empty() && request.names[0].size() <= 64) {
      auto first = IdentifiersForNames({request.names[0]});
      if (first) csr_opts.common_name = first->front().value;
    }
    auto csr = TRY_CONTEXT(x509::CreateCertificateRequest(key, csr_opts), "CSR");
    order = TRY(client.FinalizeOrder(order, csr.Der()));
    if (order.status == "processing" || order.status == "pending" || order.status == "ready")
      order = TRY(client.PollOrder(order.url));
  }
  if (order.status != "valid" || order.certificate.empty())
    return Fail(ErrorCode::kPolicy, "order is " + order.status + " after finalize" +
                                        (order.error.empty() ? "" : ": " + order.error));
  CertificateChains chains = TRY(client.DownloadCertificate(order.certificate));
  size_t pick = SelectPreferredChain(chains.chains, request.preferred_chain);
  if (!request.preferred_chain.empty() && pick == 0 && chains.chains.size() > 1)
    Log(LogLevel::kInfo, "acme: preferred chain not offered, using the default",
        {{"preferred", request.preferred_chain}});
  ObtainedCertificate out;
  out.order_url = order.url;
  out.certificate_url = order.certificate;
  out.chain = chains.chains[pick];
  out.chain_pem = x509::ToPemBundle(out.chain);
  if (out.chain.empty() || !out.chain.front().PublicKey().Equals(key.Public()))
    return Fail(ErrorCode::kPolicy, "the issued certificate does not hold the requested key");
  return out;
}

// ---- storage ----

std::string CertificateDir(const std::string& data_dir, const std::string& name) {
  std::string n = name;
  if (n.starts_with("*.")) n = "_wildcard" + n.substr(1);
  for (char& c : n)
    if (c == '/' || c == '\\' || c == '\0') c = '_';
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return data_dir + "/certs/" + n;
}

std::string AccountDir(const std::string& data_dir, const std::string& directory_url) {
  std::string_view u = directory_url;
  if (size_t p = u.find("://"); p != std::string_view::npos) u.remove_prefix(p + 3);
  std::string s;
  for (char c : u) s += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  while (!s.empty() && s.back() == '_') s.pop_back();
  return data_dir + "/acme/accounts/" + (s.empty() ? "default" : s);
}

namespace {

Status FsError(const std::string& what, const std::error_code& ec) {
  return Fail(ErrorCode::kIo, what + ": " + ec.message());
}

// Makes link point at target by renaming a fresh symlink over it (atomic replacement).
Status SwapSymlink(const fs::path& link, const std::string& target) {
  auto rnd = crypto::RandomBytes(6);
  std::string tmp_name = ".";
  tmp_name += link.filename().string();
  tmp_name += ".tmp-";
  tmp_name += HexEncode(rnd ? *rnd : Bytes{});
  fs::path tmp = link.parent_path() / tmp_name;
  std::error_code ec;
  fs::create_symlink(target, tmp, ec);
  if (ec) return FsError("cannot create " + tmp.string(), ec);
  fs::rename(tmp, link, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return FsError("cannot replace " + link.string(), ec);
  }
  return Ok();
}

}  // namespace

Result<StoredCertificate> StoreCertificate(const std::string& data_dir, const std::string& name,
                                           const crypto::PrivateKey& key, const std::string& chain_pem,
                                           const std::string& meta_json) {
  const fs::path dir = CertificateDir(data_dir, name);
  TRY(MakeDirectories(dir.string(), 0700));
  std::error_code ec;
  // The next version number: one past the highest v<N>.
  long next = 1;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string f = e.path().filename().string();
    if (f.size() > 1 && f[0] == 'v' && std::all_of(f.begin() + 1, f.end(), ::isdigit))
      next = std::max(next, std::stol(f.substr(1)) + 1);
  }
  if (ec) return Fail(FsError("cannot list " + dir.string(), ec).error());
  std::string version = "v" + std::to_string(next);
  fs::path vdir = dir / version;
  if (!fs::create_directory(vdir, ec) || ec)
    return Fail(ErrorCode::kIo, "cannot create " + vdir.string() + (ec ? ": " + ec.message() : ": exists"));
  fs::permissions(vdir, fs::perms::owner_all, ec);
  TRY(crypto::SavePrivateKey((vdir / "key.pem").string(), key));
  TRY(WriteFileAtomic((vdir / "chain.pem").string(), chain_pem, 0644, Overwrite::kNo));
  TRY(WriteFileAtomic((vdir / "meta.json").string(), meta_json, 0600, Overwrite::kNo));

  // The previous version (kept for revocation) is what current pointed at before.
  std::string previous;
  if (fs::is_symlink(dir / "current")) previous = fs::read_symlink(dir / "current", ec).string();
  TRY(SwapSymlink(dir / "current", version));
  for (const char* f : {"key.pem", "chain.pem", "meta.json"}) {
    if (fs::is_symlink(dir / f)) continue;
    fs::create_symlink(fs::path("current") / f, dir / f, ec);
    if (ec) return Fail(FsError("cannot link " + (dir / f).string(), ec).error());
  }
  // Durability of the swap: the directory entry is flushed by writing and syncing a marker file
  // through the atomic writer (which fsyncs the directory).
  TRY(WriteFileAtomic((dir / ".updated").string(), version + "\n", 0600));
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string f = e.path().filename().string();
    if (f.size() > 1 && f[0] == 'v' && f != version && f != previous &&
        std::all_of(f.begin() + 1, f.end(), ::isdigit)) {
      std::error_code rm;
      fs::remove_all(e.path(), rm);
    }
  }
  return LoadStoredCertificate(data_dir, name);
}

Result<StoredCertificate> LoadStoredCertificate(const std::string& data_dir, const std::string& name) {
  StoredCertificate s;
  s.dir = CertificateDir(data_dir, name);
  if (!fs::is_symlink(fs::path(s.dir) / "current"))
    return Fail(ErrorCode::kNotFound, "no certificate stored for " + name + " in " + s.dir);
  s.key_path = s.dir + "/key.pem";
  s.chain_path = s.dir + "/chain.pem";
  s.meta_json = TRY(ReadFile(s.dir + "/meta.json", 1 << 20));
  return s;
}

}  // namespace autoseal::acme::client
