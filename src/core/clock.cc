#include "core/clock.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>

namespace autoseal {

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixSeconds(int64_t s) {
  // TimePoint counts nanoseconds in 64 bits, about ±292 years around 1970. Times outside
  // (RFC 5280 §4.1.2.5's 99991231235959Z "no well-defined expiration", or hostile input)
  // saturate one second inside the range, so that adding a fraction cannot overflow either.
  constexpr int64_t kLimit = std::numeric_limits<TimePoint::rep>::max() /
                                 TimePoint::period::den - 1;
  return TimePoint(std::chrono::seconds(std::clamp(s, -kLimit, kLimit)));
}

std::string FormatRfc3339(TimePoint t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto micros = duration_cast<microseconds>(t - secs).count();
  std::time_t tt = ToUnixSeconds(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micros != 0) {
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(micros));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

Result<TimePoint> ParseRfc3339(std::string_view s) {
  auto bad = [&] { return Fail(ErrorCode::kParse, "not an RFC 3339 time: '" + std::string(s) + "'"); };
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d))
    return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return bad();
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) return FromUnixSeconds(days * 86400);
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &se))
    return bad();
  if (h > 23 || mi > 59 || se > 60) return bad();
  size_t pos = 19;
  std::chrono::microseconds frac{0};
  if (s[pos] == '.') {
    ++pos;
    int64_t scale = 100000, us = 0;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
    frac = std::chrono::microseconds(us);
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om))
      return bad();
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset;
  return FromUnixSeconds(secs) + frac;
}

}  // namespace autoseal
