#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace autoseal {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Writes one JSON object per line to stderr: {"ts":..,"level":..,"msg":..,<fields>}.
// Thread-safe. Never pass secrets or private keys.
void Log(LogLevel level, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});
void SetLogLevel(LogLevel min_level);

// JSON string escaping (RFC 8259 §7), without the surrounding quotes.
std::string JsonEscape(std::string_view s);

}  // namespace autoseal
