#pragma once

namespace CLI {
class App;
}

namespace autoseal::cli {

// `autoseal ct serve`: the Certificate Transparency log (RFC 6962 + static-ct-api).
void RegisterCtCommands(CLI::App& app);

}  // namespace autoseal::cli
