#pragma once

// Whether the system clock can be trusted for genTime: the kernel's NTP state.

#include <cstdint>
#include <string>

namespace autoseal::tsa {

struct ClockState {
  bool synchronized = false;
  int64_t max_error_us = -1;        // kernel's maximum error estimate, -1 if unknown
  int64_t estimated_error_us = -1;  // kernel's estimated error, -1 if unknown
  std::string detail;               // e.g. "STA_UNSYNC set (TIME_ERROR)"
};

// Reports the clock's state. Implementations are thread-safe.
class ClockStatusSource {
 public:
  virtual ~ClockStatusSource() = default;
  virtual ClockState Check() const = 0;
};

// Asks the kernel with ntp_adjtime(2) (read only): unsynchronised when it returns TIME_ERROR or
// STA_UNSYNC is set, i.e. no NTP daemon has disciplined the clock recently.
class KernelClockStatus final : public ClockStatusSource {
 public:
  ClockState Check() const override;
};

// Says what it is told (tests).
class FixedClockStatus final : public ClockStatusSource {
 public:
  explicit FixedClockStatus(bool synchronized) { state_.synchronized = synchronized; }
  ClockState Check() const override { return state_; }

 private:
  ClockState state_;
};

}  // namespace autoseal::tsa
