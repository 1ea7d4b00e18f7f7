#pragma once

// `autoseal cert obtain|renew|revoke`: the ACME client on the command line (in the spirit of
// lego). Wiring only; the protocol lives in src/acme/client/.

namespace CLI {
class App;
}

namespace autoseal::cli {

// Adds obtain, renew and revoke under the given `cert` subcommand.
void RegisterAcmeClientCommands(CLI::App& cert_subcommand_parent);

}  // namespace autoseal::cli
