#include "cli/gateway_command.h"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "acme/client/client.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "core/log.h"

namespace autoseal::cli {

namespace gw = autoseal::gateway;

Result<gw::LoadedConfig> LoadGatewayConfig(const std::string& config_path,
                                           const gw::ConfigFlags& flags) {
  gw::LoadedConfig loaded;
  if (!config_path.empty()) loaded = TRY(gw::LoadConfigFile(config_path));
  TRY(gw::MergeFlags(loaded, flags));
  TRY(gw::Finish(loaded));
  return loaded;
}

namespace {

void LogProblems(const gw::LoadedConfig& loaded) {
  for (const auto& p : loaded.problems)
    Log(LogLevel::kError, "gateway: config problem", {{"problem", p}});
}

// The listeners refuse a site they cannot install (an origin host that does not resolve) with an
// error beginning `site "NAME": `. Returns that site's index, or nullopt for any other error.
std::optional<size_t> SiteNamedIn(const Error& error, const std::vector<gw::SiteConfig>& sites) {
  for (size_t i = 0; i < sites.size(); ++i)
    if (error.message().starts_with("site \"" + sites[i].name + "\": ")) return i;
  return std::nullopt;
}

// Runs install (Gateway::Create or ReplaceSites) with sites, dropping (and reporting) each site
// the listeners refuse by name, so the others are served. The error of the last attempt when no
// site is left or the error names no site.
template <typename Install>
auto InstallServable(gw::GatewayConfig& config, Install install) -> decltype(install()) {
  while (true) {
    auto result = install();
    if (result) return result;
    auto bad = SiteNamedIn(result.error(), config.sites);
    if (!bad || config.sites.size() <= 1) return result;
    Log(LogLevel::kError, "gateway: config problem",
        {{"problem", result.error().message() + " (site skipped)"}});
    if (config.listen.default_site == config.sites[*bad].name) config.listen.default_site.clear();
    config.sites.erase(config.sites.begin() + static_cast<std::ptrdiff_t>(*bad));
  }
}

}  // namespace

Result<std::unique_ptr<GatewayRunner>> GatewayRunner::Start(gw::LoadedConfig loaded) {
  LogProblems(loaded);
  if (loaded.config.sites.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "no site to serve: add [[site]] tables or --site NAME=ORIGIN_URL");
  std::unique_ptr<GatewayRunner> r(new GatewayRunner());
  r->config_ = std::move(loaded.config);
  TRY(MakeDirectories(r->config_.dir, 0700));
  r->observer_ = gw::MetricsCertificateObserver(r->metrics_);
  auto options = TRY(gw::ManagerOptionsFor(r->config_, r->observer_.get()));
  r->manager_ =
      TRY(gw::CertificateManager::Create(std::move(options), gw::ManagedSites(r->config_)));
  for (const auto& s : r->manager_->SlotStatuses())
    if (s.has_certificate)
      Log(LogLevel::kInfo, "gateway: stored certificate loaded",
          {{"site", s.site},
           {"key_type", std::string(crypto::KeyTypeName(s.key_type))},
           {"not_after", FormatRfc3339(s.not_after)}});
  const size_t configured = r->config_.sites.size();
  r->gateway_ = TRY(InstallServable(r->config_, [&r] {
    return gw::Gateway::Create(r->config_.listen, r->config_.sites, r->manager_.get(),
                               r->manager_.get(), &r->metrics_);
  }));
  if (r->config_.sites.size() != configured)
    r->manager_->ReplaceSites(gw::ManagedSites(r->config_));
  r->gateway_->Start();
  r->manager_->Start();
  // An unreachable CA is no reason not to serve what is stored: the listeners are already up;
  // say so plainly (the renewal loop retries with backoff). A probe of its own, so the renewal
  // thread's client is not shared.
  for (const auto& ca : r->config_.cas) {
    acme::client::ClientOptions probe;
    probe.directory_url = ca.directory;
    probe.ca_file = ca.ca_bundle;
    probe.request_timeout = std::chrono::seconds(10);
    if (auto c = acme::client::Client::Create(std::move(probe)); !c)
      Log(LogLevel::kError,
          "gateway: ACME CA unreachable at start; serving stored certificates and retrying in the "
          "background",
          {{"ca", ca.directory}, {"error", c.error().message()}});
  }
  Log(LogLevel::kInfo, "gateway: serving",
      {{"http", r->gateway_->HttpAddress()},
       {"https", r->gateway_->HttpsAddress()},
       {"admin", r->gateway_->AdminAddress()},
       {"sites", std::to_string(r->config_.sites.size())},
       {"acme", r->config_.cas.front().directory}});
  return r;
}

GatewayRunner::~GatewayRunner() { Stop(); }

void GatewayRunner::Reload(Result<gw::LoadedConfig> loaded) {
  if (!loaded) {
    Log(LogLevel::kError, "gateway: reload failed, keeping the running configuration",
        {{"error", loaded.error().message()}});
    return;
  }
  LogProblems(*loaded);
  gw::GatewayConfig& next = loaded->config;
  if (next.sites.empty()) {
    Log(LogLevel::kError,
        "gateway: reload has no site to serve, keeping the running configuration");
    return;
  }
  if (auto st = InstallServable(next, [&] { return gateway_->ReplaceSites(next.sites); }); !st) {
    Log(LogLevel::kError,
        "gateway: reload refused by the listeners, keeping the running configuration",
        {{"error", st.error().message()}});
    return;
  }
  manager_->ReplaceSites(gw::ManagedSites(next));
  manager_->ReloadFromStorage();
  if (next.listen.http_address != config_.listen.http_address ||
      next.listen.https_address != config_.listen.https_address ||
      next.listen.admin_address != config_.listen.admin_address || next.dir != config_.dir ||
      next.cas.size() != config_.cas.size() ||
      (!next.cas.empty() && next.cas[0].directory != config_.cas[0].directory))
    Log(LogLevel::kWarning,
        "gateway: listener addresses, data directory and CAs change only on restart");
  config_.sites = next.sites;
  Log(LogLevel::kInfo, "gateway: reloaded", {{"sites", std::to_string(config_.sites.size())}});
}

void GatewayRunner::Stop() {
  if (gateway_) gateway_->Stop();
  if (manager_) manager_->Stop();
}

namespace {

struct GatewayArgs {
  std::string config;
  gw::ConfigFlags flags;
};

int RunGateway(const GatewayArgs& a) {
  SetLogLevel(LogLevel::kInfo);
  ::signal(SIGPIPE, SIG_IGN);
  // Blocked before any thread starts, so only the sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto loaded = LoadGatewayConfig(a.config, a.flags);
  if (!loaded) return ReportError(loaded.error());
  auto runner = GatewayRunner::Start(std::move(*loaded));
  if (!runner) return ReportError(runner.error());
  std::printf("gateway: https %s, http %s%s%s\n", (*runner)->listeners().HttpsAddress().c_str(),
              (*runner)->listeners().HttpAddress().c_str(),
              (*runner)->listeners().AdminAddress().empty() ? "" : ", admin ",
              (*runner)->listeners().AdminAddress().c_str());
  std::fflush(stdout);
  while (true) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGHUP) {
      Log(LogLevel::kInfo, "gateway: SIGHUP, reloading");
      (*runner)->Reload(LoadGatewayConfig(a.config, a.flags));
      continue;
    }
    Log(LogLevel::kInfo, "gateway: stopping", {{"signal", std::to_string(sig)}});
    break;
  }
  (*runner)->Stop();
  return 0;
}

}  // namespace

void RegisterGatewayCommands(CLI::App& app) {
  auto args = std::make_shared<GatewayArgs>();
  auto* g = app.add_subcommand("gateway",
                               "HTTPS gateway: put it in front of any web server; it obtains and "
                               "renews its own certificates "
                               "(ACME) and proxies to the origin. SIGHUP reloads, SIGTERM drains.");
  g->add_option("--config", args->config, "TOML configuration file (docs/gateway.md)");
  g->add_option("--site", args->flags.sites,
                "NAME=ORIGIN_URL: serve the DNS name NAME from ORIGIN_URL (repeatable), e.g. "
                "example.com=http://127.0.0.1:8080");
  g->add_option("--acme", args->flags.acme, "ACME directory URL (replaces [acme] directory)");
  g->add_option("--acme-ca-bundle", args->flags.acme_ca_bundle,
                "PEM file trusted for the ACME directory's HTTPS");
  g->add_option("--email", args->flags.email, "Contact address for the ACME account");
  g->add_option("--http", args->flags.http,
                "HTTP listen address (http-01, redirects), default 0.0.0.0:80");
  g->add_option("--https", args->flags.https,
                "HTTPS listen address (tls-alpn-01, proxy), default 0.0.0.0:443");
  g->add_option("--admin", args->flags.admin,
                "Admin listen address for /metrics and /healthz (default: none)");
  g->add_option("--dir", args->flags.dir,
                "Data directory for certificates, keys and ACME accounts (default ./var/gateway)");
  g->callback([args] { ExitCode() = RunGateway(*args); });
}

}  // namespace autoseal::cli
