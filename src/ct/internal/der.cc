#include "ct/internal/der.h"

#include <chrono>

namespace autoseal::ct::internal {

bool DerReader::Next(Tlv* out) {
  if (rest_.size() < 2) return false;
  uint8_t tag = rest_[0];
  if ((tag & 0x1f) == 0x1f) return false;  // multi-byte tags never occur in certificates
  size_t len = rest_[1];
  size_t header = 2;
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 4 || rest_.size() < 2 + n) return false;  // indefinite or absurd
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | rest_[2 + i];
    if (rest_[2] == 0 || len < 0x80) return false;  // non-minimal (X.690 §10.1)
    header += n;
  }
  if (rest_.size() - header < len) return false;
  out->tag = tag;
  out->full = rest_.subspan(0, header + len);
  out->value = rest_.subspan(header, len);
  rest_ = rest_.subspan(header + len);
  return true;
}

bool DerReader::Expect(uint8_t tag, Tlv* out) { return Next(out) && out->tag == tag; }

bool DerReader::Optional(uint8_t tag, Tlv* out, bool* present) {
  *present = false;
  if (rest_.empty() || rest_[0] != tag) return true;
  if (!Next(out)) return false;
  *present = true;
  return true;
}

void AppendHeader(Bytes& out, uint8_t tag, size_t length) {
  out.push_back(tag);
  if (length < 0x80) {
    out.push_back(static_cast<uint8_t>(length));
    return;
  }
  uint8_t buf[8];
  int n = 0;
  for (size_t l = length; l != 0; l >>= 8) buf[n++] = static_cast<uint8_t>(l);
  out.push_back(static_cast<uint8_t>(0x80 | n));
  while (n > 0) out.push_back(buf[--n]);
}

std::optional<TimePoint> ParseTime(const Tlv& t) {
  auto v = t.value;
  size_t year_digits = t.tag == kTagUtcTime ? 2 : t.tag == kTagGeneralizedTime ? 4 : 0;
  if (year_digits == 0 || v.size() != year_digits + 11 || v.back() != 'Z') return std::nullopt;
  int digits[16];
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    digits[i] = v[i] - '0';
  }
  auto num = [&](size_t at, size_t n) {
    int r = 0;
    for (size_t i = 0; i < n; ++i) r = r * 10 + digits[at + i];
    return r;
  };
  int year = num(0, year_digits);
  if (year_digits == 2) year += year < 50 ? 2000 : 1900;  // RFC 5280 §4.1.2.5.1
  size_t p = year_digits;
  int month = num(p, 2), day = num(p + 2, 2), hour = num(p + 4, 2), minute = num(p + 6, 2),
      second = num(p + 8, 2);
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  return sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second);
}

}  // namespace autoseal::ct::internal
