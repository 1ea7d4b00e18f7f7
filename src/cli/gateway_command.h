#pragma once

// `autoseal gateway` and the gateway inside `autoseal up`: a certificate manager and the
// listeners built from one configuration, with reload (SIGHUP) and drain (SIGTERM).

#include <memory>

#include "core/error.h"
#include "gateway/certificate_manager.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/proxy.h"

namespace autoseal::cli {

// A running gateway. Not copyable; Reload and Stop are called from the thread that waits for
// signals.
class GatewayRunner {
 public:
  // Logs the configuration's problems (skipped sites), checks that each ACME directory answers
  // (an unreachable one is logged and retried in the background while stored certificates are
  // served), binds the listeners and starts serving and renewing. kInvalidArgument when no site
  // is left to serve, kNetwork when a listener cannot be bound.
  static Result<std::unique_ptr<GatewayRunner>> Start(gateway::LoadedConfig loaded);
  ~GatewayRunner();

  // Applies a re-read configuration (SIGHUP): new, changed and removed sites reach the listeners
  // and the certificate manager, stored certificates are re-read. A configuration that does not
  // load keeps the running one (logged). Listener addresses and CAs change only on restart.
  void Reload(Result<gateway::LoadedConfig> loaded);
  // Drains the listeners, then stops renewing. Idempotent.
  void Stop();

  gateway::Gateway& listeners() { return *gateway_; }
  gateway::CertificateManager& certificates() { return *manager_; }

 private:
  GatewayRunner() = default;
  gateway::GatewayConfig config_;
  gateway::Metrics metrics_;
  std::unique_ptr<gateway::CertificateObserver> observer_;
  std::unique_ptr<gateway::CertificateManager> manager_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

// Loads --config (when given), merges the flags over it and checks the whole.
Result<gateway::LoadedConfig> LoadGatewayConfig(const std::string& config_path,
                                                const gateway::ConfigFlags& flags);

}  // namespace autoseal::cli
