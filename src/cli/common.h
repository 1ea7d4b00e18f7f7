#pragma once

// Shared by the subcommands: how a command reports failure and reads its inputs.

#include <string>

#include "core/error.h"

namespace autoseal::cli {

// Exit codes: 0 success, 1 failure of the operation (invalid certificate, bad input), 2 usage.
inline constexpr int kExitFailure = 1;

// Prints "autoseal: <message>" on one line to stderr and returns kExitFailure.
int ReportError(const Error& error);

// Reads a file named on the command line ("-" is standard input), bounded in size.
Result<std::string> ReadInput(const std::string& path, size_t max_size = 16 << 20);

// The data directory default (DESIGN.md §5).
inline constexpr const char* kDefaultDir = "./var";

}  // namespace autoseal::cli
