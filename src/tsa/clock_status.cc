#include "tsa/clock_status.h"

#include <string.h>
#include <sys/timex.h>

#include <cerrno>

namespace autoseal::tsa {

ClockState KernelClockStatus::Check() const {
  ClockState state;
  struct timex tx;
  memset(&tx, 0, sizeof tx);  // modes = 0: read only, allowed without privileges
  int rc = ntp_adjtime(&tx);
  if (rc == -1) {
    state.detail = std::string("ntp_adjtime failed: ") + strerror(errno);
    return state;
  }
  state.max_error_us = tx.maxerror;
  state.estimated_error_us = tx.esterror;
  bool unsync = (tx.status & STA_UNSYNC) != 0;
  state.synchronized = rc != TIME_ERROR && !unsync;
  if (!state.synchronized)
    state.detail = unsync ? "kernel reports STA_UNSYNC (clock not disciplined by NTP)"
                          : "kernel reports TIME_ERROR";
  else
    state.detail = "kernel reports the clock synchronised";
  return state;
}

}  // namespace autoseal::tsa
