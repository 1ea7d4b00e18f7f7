#pragma once

// Each Register* function adds one command family to the application. The callbacks parse
// nothing themselves (CLI11 does) and hold no logic beyond wiring library calls together.

namespace CLI {
class App;
}

namespace autoseal::cli {

void RegisterCaCommands(CLI::App& app);
void RegisterCertCommands(CLI::App& app);
void RegisterKeyCommands(CLI::App& app);
void RegisterUpCommand(CLI::App& app);
void RegisterSmimeCommands(CLI::App& app);    // cli/smime_command.cc
void RegisterGatewayCommands(CLI::App& app);  // cli/gateway_command.cc

// Set by a subcommand's callback; main returns it.
int& ExitCode();

}  // namespace autoseal::cli
