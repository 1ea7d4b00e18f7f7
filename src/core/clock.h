#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace autoseal {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// The source of "now". Everything that depends on time takes a Clock (or a TimePoint) so tests
// pin it. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  static const SystemClock& Instance();
};

// A clock that says what it is told (tests).
class FixedClock final : public Clock {
 public:
  explicit FixedClock(TimePoint now) : now_(now) {}
  TimePoint Now() const override { return now_; }
  void Set(TimePoint now) { now_ = now; }
  void Advance(std::chrono::system_clock::duration d) { now_ += d; }

 private:
  TimePoint now_;
};

// RFC 3339 in UTC with a 'Z', e.g. "2026-11-28T12:00:00Z" (fractional seconds when non-zero).
std::string FormatRfc3339(TimePoint t);
// Parses RFC 3339 ("2026-11-28T12:00:00Z", "...+08:00", optional fraction) or a bare date
// "2026-11-28" (midnight UTC). kParse otherwise.
Result<TimePoint> ParseRfc3339(std::string_view text);

int64_t ToUnixSeconds(TimePoint t);
// Saturates outside TimePoint's range (years 1678-2262): see clock.cc.
TimePoint FromUnixSeconds(int64_t s);

}  // namespace autoseal
