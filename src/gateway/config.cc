#include "gateway/config.h"

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <functional>
#include <map>
#include <set>

#include "core/file.h"
#include "x509/names.h"

namespace autoseal::gateway {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads one table's keys, remembering which were used so unknown keys can be named.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where_prefix, std::string source)
      : table_(table), prefix_(std::move(where_prefix)), source_(std::move(source)) {}

  std::string Where(const toml::source_region& r) const {
    return source_ + ":" + std::to_string(r.begin.line);
  }
  std::string Where(const toml::node& n) const { return Where(n.source()); }
  std::string KeyName(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  const toml::node* Get(std::string_view key) {
    used_.insert(std::string(key));
    return table_.get(key);
  }
  Status Bad(const toml::node& n, std::string_view key, std::string_view what) const {
    return Fail(ErrorCode::kInvalidArgument,
                Where(n) + ": " + KeyName(key) + ": " + std::string(what));
  }

  Status String(std::string_view key, std::string& out) {
    const toml::node* n = Get(key);
    if (!n) return Ok();
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) return Bad(*n, key, "must be a string");
    out = *v;
    return Ok();
  }
  Status Bool(std::string_view key, bool& out) {
    const toml::node* n = Get(key);
    if (!n) return Ok();
    if (!n->is_boolean()) return Bad(*n, key, "must be true or false");
    out = *n->value<bool>();
    return Ok();
  }
  Status Int(std::string_view key, int64_t min, int64_t max, int64_t& out) {
    const toml::node* n = Get(key);
    if (!n) return Ok();
    if (!n->is_integer()) return Bad(*n, key, "must be an integer");
    int64_t v = *n->value<int64_t>();
    if (v < min || v > max)
      return Bad(*n, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    out = v;
    return Ok();
  }
  // A duration: "10s", "5m", "1h30m", "7d", or an integer number of seconds.
  Status Dur(std::string_view key, std::optional<Duration>& out, bool allow_zero = false) {
    const toml::node* n = Get(key);
    if (!n) return Ok();
    Duration d{};
    if (n->is_integer()) {
      d = std::chrono::seconds(*n->value<int64_t>());
    } else if (n->is_string()) {
      auto parsed = ParseDuration(*n->value<std::string>());
      if (!parsed) return Bad(*n, key, parsed.error().message());
      d = *parsed;
    } else {
      return Bad(*n, key, "must be a duration such as \"30s\", \"10m\", \"2h\" or \"90d\"");
    }
    if (d < Duration::zero() || (!allow_zero && d == Duration::zero()))
      return Bad(*n, key, allow_zero ? "must not be negative" : "must be positive");
    out = d;
    return Ok();
  }
  template <typename D>
  Status Dur(std::string_view key, D& out) {
    std::optional<Duration> d;
    TRY(Dur(key, d));
    if (d) out = std::chrono::duration_cast<D>(*d);
    return Ok();
  }
  Status StringList(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = Get(key);
    if (!n) return Ok();
    const toml::array* a = n->as_array();
    if (!a) return Bad(*n, key, "must be an array of strings");
    std::vector<std::string> v;
    for (const auto& e : *a) {
      if (!e.is_string()) return Bad(e, key, "must be an array of strings");
      v.push_back(*e.value<std::string>());
    }
    out = std::move(v);
    return Ok();
  }
  const toml::table* Table(std::string_view key, Status& st) {
    const toml::node* n = Get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      st = Bad(*n, key, "must be a table");
      return nullptr;
    }
    return n->as_table();
  }
  // Fails naming the first key that was never asked for.
  Status NoUnknownKeys() const {
    for (auto&& [k, v] : table_) {
      if (used_.count(std::string(k.str()))) continue;
      return Fail(ErrorCode::kInvalidArgument,
                  Where(k.source()) + ": unknown key \"" + KeyName(k.str()) + "\"");
    }
    return Ok();
  }

 private:
  const toml::table& table_;
  std::string prefix_;
  std::string source_;
  std::set<std::string> used_;
};

Status ReadHsts(TableReader& parent, std::string_view key, std::string prefix,
                const std::string& source, HstsPolicy& hsts) {
  Status st = Ok();
  const toml::table* t = parent.Table(key, st);
  TRY(st);
  if (!t) return Ok();
  TableReader r(*t, std::move(prefix), source);
  TRY(r.Bool("enabled", hsts.enabled));
  std::optional<Duration> max_age;
  TRY(r.Dur("max_age", max_age, /*allow_zero=*/true));
  if (max_age) hsts.max_age = std::chrono::duration_cast<std::chrono::seconds>(*max_age);
  TRY(r.Bool("include_subdomains", hsts.include_subdomains));
  TRY(r.Bool("preload", hsts.preload));
  return r.NoUnknownKeys();
}

Status ReadCa(TableReader& r, AcmeCaConfig& ca) {
  TRY(r.String("directory", ca.directory));
  TRY(r.String("ca_bundle", ca.ca_bundle));
  TRY(r.String("email", ca.email));
  TRY(r.String("eab_kid", ca.eab_kid));
  TRY(r.String("eab_hmac_key", ca.eab_hmac_key));
  return Ok();
}

Status ValidateCa(const AcmeCaConfig& ca, std::string_view what) {
  if (ca.directory.empty())
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": directory is required");
  auto u = boost::urls::parse_absolute_uri(ca.directory);
  if (!u || (u->scheme() != "https" && u->scheme() != "http") || u->host().empty())
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + ": directory \"" + ca.directory + "\" is not an http(s) URL");
  if (ca.eab_kid.empty() != ca.eab_hmac_key.empty())
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + ": eab_kid and eab_hmac_key go together");
  if (!ca.eab_hmac_key.empty() && !Base64UrlDecode(ca.eab_hmac_key))
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": eab_hmac_key is not base64url");
  return Ok();
}

// Reads one [[site]]; errors name file:line and the site.
Result<SiteConfig> ReadSite(const toml::table& t, const std::string& source,
                            const HstsPolicy& hsts_default) {
  TableReader r(t, "site", source);
  SiteConfig s;
  s.hsts = hsts_default;
  TRY(r.String("name", s.name));
  std::vector<std::string> names;
  TRY(r.StringList("names", names));
  TRY(r.String("origin", s.origin));
  TRY(r.Bool("preserve_host", s.preserve_host));
  TRY(ReadHsts(r, "hsts", "site.hsts", source, s.hsts));
  TRY(r.NoUnknownKeys());
  std::string where = r.Where(t.source());
  if (names.empty() && s.name.empty())
    return Fail(ErrorCode::kInvalidArgument,
                where + ": site needs names (or a name that is a DNS name)");
  if (names.empty()) names = {s.name};
  // A site without a name is named after its first DNS name ("*.x" becomes "wildcard.x").
  if (s.name.empty()) {
    s.name = Lower(names.front());
    if (s.name.starts_with("*.")) s.name = "wildcard" + s.name.substr(1);
  }
  for (auto& n : names) {
    std::string lower = Lower(n);
    if (lower.ends_with(".")) lower.pop_back();
    if (auto v = x509::ValidateDnsName(lower, /*allow_wildcard=*/true); !v)
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": site \"" + s.name + "\": \"" + n +
                      "\" is not a valid DNS name: " + v.error().message());
    if (std::find(s.server_names.begin(), s.server_names.end(), lower) == s.server_names.end())
      s.server_names.push_back(lower);
  }
  auto st = ValidateSiteName(s.name);
  if (!st) return Fail(st.error().WithContext(where + ": site \"" + s.name + "\""));
  if (s.origin.empty())
    return Fail(ErrorCode::kInvalidArgument,
                where + ": site \"" + s.name + "\": origin is required");
  if (auto v = ValidateOrigin(s.origin); !v)
    return Fail(v.error().WithContext(where + ": site \"" + s.name + "\""));
  return s;
}

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&] {
    std::string msg = "\"";
    msg.append(text);
    msg.append("\" is not a duration (e.g. \"30s\", \"10m\", \"1h30m\", \"90d\")");
    return Fail(ErrorCode::kInvalidArgument, std::move(msg));
  };
  if (text.empty() || text.size() > 32) return bad();
  Duration total{};
  std::string_view s = text;
  while (!s.empty()) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p == s.data() || p == s.data() + s.size() || n < 0 ||
        n > 1'000'000'000)
      return bad();
    char unit = *p;
    s.remove_prefix(static_cast<size_t>(p - s.data()) + 1);
    switch (unit) {
      case 's':
        total += std::chrono::seconds(n);
        break;
      case 'm':
        total += std::chrono::minutes(n);
        break;
      case 'h':
        total += std::chrono::hours(n);
        break;
      case 'd':
        total += std::chrono::hours(24 * n);
        break;
      default:
        return bad();
    }
  }
  return total;
}

Status ValidateSiteName(std::string_view name) {
  if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return Fail(ErrorCode::kInvalidArgument,
                "a site name is 1-63 of a-z, 0-9, '.' and '-', starting with a letter or digit");
  for (char c : name)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-'))
      return Fail(ErrorCode::kInvalidArgument,
                  "a site name is 1-63 of a-z, 0-9, '.' and '-', starting with a letter or digit");
  return Ok();
}

Status ValidateOrigin(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                "origin \"" + std::string(url) + "\" " + std::string(why));
  };
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return bad("is not a URL");
  if (u->scheme() != "http")
    return bad("must be an http:// URL (the gateway speaks plain HTTP to origins)");
  if (u->host().empty()) return bad("has no host");
  if (u->has_userinfo()) return bad("must not carry user information");
  if (u->has_query() || u->has_fragment()) return bad("must not have a query or fragment");
  if (u->has_port()) {
    auto port = u->port_number();
    if (port == 0) return bad("has an invalid port");
  }
  return Ok();
}

Result<LoadedConfig> ParseConfig(std::string_view text, std::string_view source_name) {
  const std::string source(source_name);
  toml::parse_result parsed = toml::parse(text, source_name);
  if (!parsed) {
    const auto& err = parsed.error();
    return Fail(ErrorCode::kInvalidArgument, source + ":" +
                                                 std::to_string(err.source().begin.line) + ": " +
                                                 std::string(err.description()));
  }
  const toml::table& root = parsed.table();
  LoadedConfig out;
  GatewayConfig& c = out.config;
  TableReader r(root, "", source);
  TRY(r.String("dir", c.dir));
  TRY(r.String("http", c.listen.http_address));
  TRY(r.String("https", c.listen.https_address));
  TRY(r.String("admin", c.listen.admin_address));
  TRY(r.String("default_site", c.listen.default_site));
  TRY(r.Bool("redirect_http", c.listen.redirect_http));
  TRY(r.Bool("access_log", c.listen.access_log));
  int64_t threads = 0, max_connections = static_cast<int64_t>(c.listen.max_connections);
  TRY(r.Int("threads", 0, 256, threads));
  c.listen.threads = static_cast<unsigned>(threads);
  TRY(r.Int("max_connections", 1, 1'000'000, max_connections));
  c.listen.max_connections = static_cast<size_t>(max_connections);

  Status st = Ok();
  if (const toml::table* t = r.Table("acme", st)) {
    TableReader a(*t, "acme", source);
    AcmeCaConfig primary;
    TRY(ReadCa(a, primary));
    TRY(a.StringList("challenges", c.challenges));
    for (const auto& ch : c.challenges)
      if (ch != "http-01" && ch != "tls-alpn-01")
        return Fail(ErrorCode::kInvalidArgument, a.Where(*t->get("challenges")) +
                                                     ": acme.challenges: \"" + ch +
                                                     "\" is not http-01 or tls-alpn-01");
    if (c.challenges.empty())
      return Fail(ErrorCode::kInvalidArgument, a.Where(*t) + ": acme.challenges must not be empty");
    TRY(a.Dur("lifetime", c.lifetime));
    TRY(a.String("profile", c.profile));
    Status fst = Ok();
    AcmeCaConfig fallback;
    const toml::table* f = a.Table("fallback", fst);
    TRY(fst);
    if (f) {
      TableReader fr(*f, "acme.fallback", source);
      TRY(ReadCa(fr, fallback));
      TRY(fr.NoUnknownKeys());
      TRY_CONTEXT(ValidateCa(fallback, "acme.fallback"), fr.Where(*f));
    }
    TRY(a.NoUnknownKeys());
    if (!primary.directory.empty()) TRY_CONTEXT(ValidateCa(primary, "acme"), a.Where(*t));
    c.cas.push_back(primary);
    if (f) c.cas.push_back(fallback);
  }
  TRY(st);
  if (const toml::table* t = r.Table("renewal", st)) {
    TableReader a(*t, "renewal", source);
    TRY(a.Dur("renew_before", c.renew_before));
    TRY(a.Dur("retry_initial", c.retry_initial));
    TRY(a.Dur("retry_max", c.retry_max));
    TRY(a.Dur("check_interval", c.check_interval));
    int64_t n = c.fallback_after_failures;
    TRY(a.Int("fallback_after_failures", 1, 1000, n));
    c.fallback_after_failures = static_cast<int>(n);
    TRY(a.NoUnknownKeys());
    if (c.retry_max < c.retry_initial)
      return Fail(ErrorCode::kInvalidArgument,
                  a.Where(*t) + ": renewal.retry_max is shorter than renewal.retry_initial");
  }
  TRY(st);
  TRY(ReadHsts(r, "hsts", "hsts", source, c.hsts));
  if (const toml::table* t = r.Table("timeouts", st)) {
    TableReader a(*t, "timeouts", source);
    TRY(a.Dur("handshake", c.listen.handshake_timeout));
    TRY(a.Dur("header", c.listen.header_timeout));
    TRY(a.Dur("idle", c.listen.idle_timeout));
    TRY(a.Dur("client_io", c.listen.client_io_timeout));
    TRY(a.Dur("origin_connect", c.listen.origin_connect_timeout));
    TRY(a.Dur("origin_read", c.listen.origin_read_timeout));
    TRY(a.Dur("origin_idle", c.listen.origin_idle_timeout));
    TRY(a.Dur("shutdown", c.listen.shutdown_timeout));
    TRY(a.NoUnknownKeys());
  }
  TRY(st);

  // Sites last: they take the [hsts] defaults.
  if (const toml::node* n = r.Get("site")) {
    const toml::array* sites = n->as_array();
    if (!sites || !sites->is_array_of_tables())
      return Fail(ErrorCode::kInvalidArgument,
                  r.Where(*n) + ": site must be written as [[site]] tables");
    for (const auto& e : *sites) {
      auto site = ReadSite(*e.as_table(), source, c.hsts);
      if (!site) {
        out.problems.push_back(site.error().message() + " (site skipped)");
        continue;
      }
      c.sites.push_back(std::move(*site));
    }
  }
  TRY(r.NoUnknownKeys());
  return out;
}

Result<LoadedConfig> LoadConfigFile(const std::string& path) {
  auto text = TRY(ReadFile(path, 1 << 20));
  return ParseConfig(text, path);
}

Status MergeFlags(LoadedConfig& loaded, const ConfigFlags& f) {
  GatewayConfig& c = loaded.config;
  if (!f.dir.empty()) c.dir = f.dir;
  if (!f.http.empty()) c.listen.http_address = f.http;
  if (!f.https.empty()) c.listen.https_address = f.https;
  if (!f.admin.empty()) c.listen.admin_address = f.admin;
  if (!f.acme.empty() || !f.acme_ca_bundle.empty() || !f.email.empty()) {
    if (c.cas.empty()) c.cas.emplace_back();
    if (!f.acme.empty()) c.cas[0].directory = f.acme;
    if (!f.acme_ca_bundle.empty()) c.cas[0].ca_bundle = f.acme_ca_bundle;
    if (!f.email.empty()) c.cas[0].email = f.email;
    TRY_CONTEXT(ValidateCa(c.cas[0], "--acme"), "flags");
  }
  for (const auto& spec : f.sites) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(ErrorCode::kInvalidArgument, "--site " + spec + ": expected NAME=ORIGIN_URL");
    SiteConfig s;
    std::string name = Lower(spec.substr(0, eq));
    if (name.ends_with(".")) name.pop_back();
    s.origin = spec.substr(eq + 1);
    s.hsts = c.hsts;
    if (auto v = x509::ValidateDnsName(name, /*allow_wildcard=*/false); !v)
      return Fail(
          ErrorCode::kInvalidArgument,
          "--site " + spec + ": \"" + name + "\" is not a valid DNS name: " + v.error().message());
    TRY_CONTEXT(ValidateSiteName(name), "--site " + spec);
    TRY_CONTEXT(ValidateOrigin(s.origin), "--site " + spec);
    s.name = name;
    s.server_names = {name};
    auto it = std::find_if(c.sites.begin(), c.sites.end(),
                           [&](const SiteConfig& x) { return x.name == name; });
    if (it != c.sites.end())
      *it = std::move(s);
    else
      c.sites.push_back(std::move(s));
  }
  return Ok();
}

Status Finish(LoadedConfig& loaded) {
  GatewayConfig& c = loaded.config;
  if (c.cas.empty() || c.cas[0].directory.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "no ACME CA configured: set [acme] directory or pass --acme URL");
  std::map<std::string, std::string> owner;  // DNS name → site
  std::set<std::string> site_names;
  std::vector<SiteConfig> kept;
  for (auto& s : c.sites) {
    if (!site_names.insert(s.name).second) {
      loaded.problems.push_back("site \"" + s.name + "\" is configured twice (later one skipped)");
      continue;
    }
    std::string clash;
    for (const auto& n : s.server_names)
      if (auto it = owner.find(n); it != owner.end())
        clash = n + "\" already belongs to site \"" + it->second;
    if (!clash.empty()) {
      site_names.erase(s.name);
      loaded.problems.push_back("site \"" + s.name + "\": \"" + clash + "\" (site skipped)");
      continue;
    }
    for (const auto& n : s.server_names) owner[n] = s.name;
    kept.push_back(std::move(s));
  }
  c.sites = std::move(kept);
  if (!c.listen.default_site.empty() && !site_names.count(c.listen.default_site)) {
    loaded.problems.push_back("default_site \"" + c.listen.default_site +
                              "\" is not a served site (ignored)");
    c.listen.default_site.clear();
  }
  return Ok();
}

std::vector<ManagedSite> ManagedSites(const GatewayConfig& config) {
  std::vector<ManagedSite> out;
  for (const auto& s : config.sites) out.push_back({s.name, s.server_names});
  return out;
}

Result<CertificateManagerOptions> ManagerOptionsFor(const GatewayConfig& config,
                                                    CertificateObserver* observer,
                                                    const Clock* clock) {
  CertificateManagerOptions o;
  o.data_dir = config.dir;
  for (const auto& ca : config.cas) {
    AcmeIssuerOptions io;
    io.directory_url = ca.directory;
    io.ca_bundle = ca.ca_bundle;
    io.data_dir = config.dir;
    io.email = ca.email;
    if (!ca.eab_kid.empty()) {
      auto key = Base64UrlDecode(ca.eab_hmac_key);
      if (!key)
        return Fail(ErrorCode::kInvalidArgument, ca.directory + ": eab_hmac_key is not base64url");
      io.eab = acme::client::ExternalAccountBinding{ca.eab_kid, *key};
    }
    io.lifetime = config.lifetime;
    io.profile = config.profile;
    io.clock = clock;
    o.issuers.push_back(std::make_shared<AcmeIssuer>(std::move(io)));
  }
  o.challenges = config.challenges;
  o.renew_before = config.renew_before;
  o.fallback_after_failures = config.fallback_after_failures;
  o.retry_initial = config.retry_initial;
  o.retry_max = config.retry_max;
  o.check_interval = config.check_interval;
  o.clock = clock;
  o.observer = observer;
  return o;
}

}  // namespace autoseal::gateway
