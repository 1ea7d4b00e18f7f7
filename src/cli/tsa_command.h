#pragma once

// `autoseal tsa serve` (the RFC 3161 time-stamp authority) and `autoseal ts request|verify` (its
// client). Wiring only; the logic lives in src/tsa/.

namespace CLI {
class App;
}

namespace autoseal::cli {

// Adds `tsa serve`.
void RegisterTsaCommands(CLI::App& app);
// Adds `ts request` and `ts verify`.
void RegisterTsCommands(CLI::App& app);

}  // namespace autoseal::cli
