#include "cli/ct_command.h"

#include <CLI/CLI.hpp>
#include <signal.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "core/log.h"
#include "ct/service.h"
#include "ct/submit.h"
#include "ct/verifier.h"

namespace autoseal::cli {
namespace {

struct ServeArgs {
  std::string dir = kDefaultDir;
  std::string listen = "127.0.0.1:6962";
  std::string key_type = "ecdsa";
  std::string roots;
  std::string origin;
  int64_t period_ms = 300;
  unsigned threads = 0;
  size_t max_pool = 50000;
  bool reject_expired = false;
  bool reject_not_yet_valid = false;
};

int RunServe(const ServeArgs& a) {
  SetLogLevel(LogLevel::kInfo);
  ct::ServiceOptions o;
  o.dir = a.dir;
  o.listen = a.listen;
  auto kt = ct::ParseLogKeyType(a.key_type);
  if (!kt) return ReportError(kt.error());
  o.key_type = *kt;
  if (!a.roots.empty()) {
    auto pem = ReadFile(a.roots);
    if (!pem) return ReportError(pem.error());
    auto roots = x509::Certificate::ParseAll(*pem);
    if (!roots) return ReportError(roots.error().WithContext(a.roots));
    o.roots = *roots;
  }
  o.origin = a.origin;
  o.period = std::chrono::milliseconds(a.period_ms);
  o.threads = a.threads;
  o.max_pool = a.max_pool;
  o.chain_policy.reject_expired = a.reject_expired;
  o.chain_policy.reject_not_yet_valid = a.reject_not_yet_valid;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto service = ct::CtService::Create(std::move(o));
  if (!service) return ReportError(service.error());
  (*service)->Start();
  const auto& pub = (*service)->log().signer().public_key();
  Log(LogLevel::kInfo, "ct listening",
      {{"address", (*service)->LocalAddress()},
       {"key_type", pub.is_sm2() ? "sm2" : "ecdsa"},
       {"log_id", Base64Encode(pub.log_id())},
       {"tree_size", std::to_string((*service)->log().LatestTreeHead().tree_size)},
       {"dir", ct::LogDirectory(a.dir, *kt)}});
  int sig = 0;
  sigwait(&stop, &sig);
  Log(LogLevel::kInfo, "ct stopping", {{"signal", std::to_string(sig)}});
  (*service)->Stop();
  return 0;
}

int RunLogList(const std::vector<std::string>& urls, const std::string& operator_name) {
  ct::LogList list;
  for (const auto& url : urls) {
    auto endpoint = ct::FetchLogEndpoint(url, std::chrono::seconds(10));
    if (!endpoint) return ReportError(endpoint.error());
    std::string kind = endpoint->key.is_sm2() ? "SM2" : "ECDSA";
    list.Add(ct::KnownLog{"autoseal " + kind + " log at " + endpoint->url, endpoint->url, operator_name,
                          std::move(endpoint->key)});
  }
  std::printf("%s\n", list.ToJson().c_str());
  return 0;
}

}  // namespace

void RegisterCtCommands(CLI::App& app) {
  auto* ct = app.add_subcommand("ct", "Certificate Transparency log (RFC 6962, static-ct-api; ECDSA or SM2 keys)");
  ct->require_subcommand(1);
  auto a = std::make_shared<ServeArgs>();
  auto* serve = ct->add_subcommand(
      "serve",
      "Run a CT log: the RFC 6962 API under /ct/v1/, the static-ct-api read path (/checkpoint,\n"
      "/tile/..., /issuer/...; also written as files under <dir>/ct/<key-type>/static), /log.json\n"
      "(key and log ID) and /health. Submissions are sequenced every --period-ms; an SCT is\n"
      "returned only once its entry is durably stored. See docs/ct.md.");
  serve->add_option("--dir", a->dir, "Data directory (the log lives in <dir>/ct/<key-type>)")->capture_default_str();
  serve->add_option("--listen", a->listen, "Listen address host:port (port 0: any free port)")->capture_default_str();
  serve->add_option("--key-type", a->key_type, "Log key: ecdsa (P-256, RFC 6962) or sm2 (SM2-with-SM3, sm2sig_sm3)")
      ->check(CLI::IsMember({"ecdsa", "sm2"}))
      ->capture_default_str();
  serve->add_option("--roots", a->roots, "Accepted roots (PEM bundle); default: the local CA's roots under <dir>/ca");
  serve->add_option("--origin", a->origin, "Checkpoint origin line (default: the listen address)");
  serve->add_option("--period-ms", a->period_ms, "Sequencing period in milliseconds")
      ->check(CLI::Range(int64_t{10}, int64_t{60000}))
      ->capture_default_str();
  serve->add_option("--threads", a->threads, "HTTP threads (0: one per core)");
  serve->add_option("--max-pool", a->max_pool, "Pending submissions beyond this get 503")->capture_default_str();
  serve->add_flag("--reject-expired", a->reject_expired, "Refuse certificates whose notAfter has passed");
  serve->add_flag("--reject-not-yet-valid", a->reject_not_yet_valid, "Refuse certificates whose notBefore is in the future");
  serve->callback([a] { ExitCode() = RunServe(*a); });

  auto urls = std::make_shared<std::vector<std::string>>();
  auto op = std::make_shared<std::string>("autoseal");
  auto* list = ct->add_subcommand(
      "log-list",
      "Print a log list (JSON, the format `cert verify --ct-logs` reads) for running logs,\n"
      "with each log's key read from <url>/log.json. Check the keys out of band before trusting them.");
  list->add_option("url", *urls, "Log URLs, e.g. http://127.0.0.1:6962")->required();
  list->add_option("--operator", *op, "Operator name written for every log")->capture_default_str();
  list->callback([urls, op] { ExitCode() = RunLogList(*urls, *op); });
}

}  // namespace autoseal::cli
