#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/ct_command.h"
#include "cli/tsa_command.h"
#include "core/log.h"

namespace autoseal::cli {
int& ExitCode() {
  static int code = 0;
  return code;
}
}  // namespace autoseal::cli

int main(int argc, char** argv) {
  CLI::App app{
      "autoseal: automatic encryption for the web and for email, with RSA, ECDSA and SM2.\n"
      "State lives in a data directory (--dir, default ./var)."};
  app.require_subcommand(1);
  // One-shot commands print results, not logs; long-running services raise the level themselves.
  autoseal::SetLogLevel(autoseal::LogLevel::kWarning);
  app.set_version_flag("--version", "autoseal 0.1.0");
  autoseal::cli::RegisterCaCommands(app);
  autoseal::cli::RegisterCertCommands(app);
  autoseal::cli::RegisterKeyCommands(app);
  autoseal::cli::RegisterUpCommand(app);
  autoseal::cli::RegisterTsaCommands(app);
  autoseal::cli::RegisterTsCommands(app);
  autoseal::cli::RegisterCtCommands(app);
  autoseal::cli::RegisterSmimeCommands(app);
  autoseal::cli::RegisterGatewayCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, like most Unix tools.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "autoseal: %s\n", e.what());
    return 1;
  }
  return autoseal::cli::ExitCode();
}
