#include "core/der.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace autoseal::der {
namespace {

size_t LengthOctets(size_t length) {
  if (length < 0x80) return 1;
  size_t n = 1;
  for (size_t l = length; l > 0; l >>= 8) ++n;
  return n;
}

void PutLength(uint8_t* p, size_t length, size_t octets) {
  if (octets == 1) {
    *p = static_cast<uint8_t>(length);
    return;
  }
  p[0] = static_cast<uint8_t>(0x80 | (octets - 1));
  for (size_t i = octets - 1; i > 0; --i, length >>= 8) p[i] = static_cast<uint8_t>(length);
}

void PutDigits(uint8_t*& p, unsigned value, int digits) {
  for (int i = digits - 1; i >= 0; --i, value /= 10) p[i] = static_cast<uint8_t>('0' + value % 10);
  p += digits;
}

}  // namespace

namespace {

std::unexpected<Error> Malformed(std::string_view what, std::string_view why) {
  return Fail(ErrorCode::kParse, std::string(what) + ": " + std::string(why));
}

}  // namespace

std::optional<uint8_t> Reader::PeekTag() const {
  if (empty()) return std::nullopt;
  return data_[pos_];
}

Result<Element> Reader::Next() {
  size_t p = pos_;
  const size_t n = data_.size();
  if (p >= n) return Fail(ErrorCode::kParse, "DER: unexpected end of data");
  uint8_t tag = data_[p++];
  if ((tag & 0x1f) == 0x1f) return Fail(ErrorCode::kParse, "DER: multi-byte tags are not supported");
  if (p >= n) return Fail(ErrorCode::kParse, "DER: truncated length");
  size_t len = data_[p++];
  if (len & 0x80) {
    size_t count = len & 0x7f;
    if (count == 0) return Fail(ErrorCode::kParse, "DER: indefinite length");
    if (count > 4) return Fail(ErrorCode::kParse, "DER: length too large");
    if (n - p < count) return Fail(ErrorCode::kParse, "DER: truncated length");
    len = 0;
    for (size_t i = 0; i < count; ++i) len = (len << 8) | data_[p++];
    // X.690 §10.1: the minimal number of octets, and the long form only from 128 on.
    if (len < 0x80 || (count > 1 && (len >> ((count - 1) * 8)) == 0))
      return Fail(ErrorCode::kParse, "DER: non-minimal length");
  }
  if (n - p < len) return Fail(ErrorCode::kParse, "DER: element longer than its data");
  Element e;
  e.tag = tag;
  e.contents = data_.subspan(p, len);
  e.encoding = data_.subspan(pos_, p + len - pos_);
  pos_ = p + len;
  return e;
}

Result<Element> Reader::Expect(uint8_t tag, std::string_view what) {
  if (empty()) return Malformed(what, "missing");
  if (data_[pos_] != tag) return Malformed(what, "unexpected tag");
  return Next();
}

Result<std::optional<Element>> Reader::Optional(uint8_t tag) {
  if (empty() || data_[pos_] != tag) return std::optional<Element>();
  Element e = TRY(Next());
  return std::optional<Element>(e);
}

Status Reader::ExpectEnd(std::string_view what) const {
  if (!empty()) return Malformed(what, "unexpected trailing data");
  return Ok();
}

Result<Element> ParseSingle(ByteView data, uint8_t tag, std::string_view what) {
  Reader r(data);
  Element e = TRY_CONTEXT(r.Expect(tag, what), what);
  TRY(r.ExpectEnd(what));
  return e;
}

Status CheckInteger(ByteView c, std::string_view what) {
  if (c.empty()) return Malformed(what, "empty INTEGER");
  if (c.size() > 1 && ((c[0] == 0x00 && !(c[1] & 0x80)) || (c[0] == 0xff && (c[1] & 0x80))))
    return Malformed(what, "non-minimal INTEGER");
  return Ok();
}

Status CheckPositiveInteger(ByteView c, std::string_view what) {
  TRY(CheckInteger(c, what));
  if (c[0] & 0x80) return Malformed(what, "negative INTEGER");
  return Ok();
}

Result<int64_t> SmallInteger(ByteView c, std::string_view what) {
  TRY(CheckPositiveInteger(c, what));
  if (c.size() > 8) return Malformed(what, "INTEGER too large");
  int64_t v = 0;
  for (uint8_t b : c) v = (v << 8) | b;
  return v;
}

Result<TimePoint> ParseTime(const Element& e, std::string_view what) {
  const size_t year_digits = e.tag == kUtcTime ? 2 : e.tag == kGeneralizedTime ? 4 : 0;
  if (year_digits == 0) return Malformed(what, "not a UTCTime or GeneralizedTime");
  ByteView v = e.contents;
  if (v.size() != year_digits + 11 || v.back() != 'Z') return Malformed(what, "not in RFC 5280 form");
  int digits[15];
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return Malformed(what, "not in RFC 5280 form");
    digits[i] = v[i] - '0';
  }
  auto number = [&digits](size_t at, size_t n) {
    int r = 0;
    for (size_t i = 0; i < n; ++i) r = r * 10 + digits[at + i];
    return r;
  };
  int year = number(0, year_digits);
  if (year_digits == 2) year += year < 50 ? 2000 : 1900;  // RFC 5280 §4.1.2.5.1
  const size_t p = year_digits;
  const int month = number(p, 2), day = number(p + 2, 2), hour = number(p + 4, 2),
            minute = number(p + 6, 2), second = number(p + 8, 2);
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                           std::chrono::day(static_cast<unsigned>(day))};
  // Second 60 is a leap second (X.680 §46.3), which certificates in the wild do carry.
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return Malformed(what, "impossible date or time");
  return FromUnixSeconds(
      (sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second)).time_since_epoch().count());
}

Result<Bytes> EncodeOid(std::string_view dotted) {
  std::vector<unsigned __int128> arcs;
  size_t i = 0;
  while (i <= dotted.size()) {
    size_t j = dotted.find('.', i);
    if (j == std::string_view::npos) j = dotted.size();
    std::string_view part = dotted.substr(i, j - i);
    if (part.empty() || part.size() > 39 || (part.size() > 1 && part[0] == '0'))
      return Fail(ErrorCode::kInvalidArgument, "not an OID: " + std::string(dotted));
    unsigned __int128 v = 0;
    for (char ch : part) {
      if (ch < '0' || ch > '9')
        return Fail(ErrorCode::kInvalidArgument, "not an OID: " + std::string(dotted));
      unsigned __int128 next = v * 10 + static_cast<unsigned>(ch - '0');
      if (next / 10 != v) return Fail(ErrorCode::kInvalidArgument, "OID arc too large");
      v = next;
    }
    arcs.push_back(v);
    i = j + 1;
  }
  if (arcs.size() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39))
    return Fail(ErrorCode::kInvalidArgument, "not an OID: " + std::string(dotted));
  Bytes out;
  auto put = [&out](unsigned __int128 v) {
    uint8_t tmp[20];
    int k = 0;
    do {
      tmp[k++] = static_cast<uint8_t>(v & 0x7f);
      v >>= 7;
    } while (v != 0);
    while (k > 0) {
      --k;
      out.push_back(static_cast<uint8_t>(tmp[k] | (k > 0 ? 0x80 : 0)));
    }
  };
  if (arcs[1] > (~static_cast<unsigned __int128>(0)) - 80)
    return Fail(ErrorCode::kInvalidArgument, "OID arc too large");
  put(arcs[0] * 40 + arcs[1]);
  for (size_t k = 2; k < arcs.size(); ++k) put(arcs[k]);
  return out;
}

std::string OidToString(ByteView c) {
  if (c.empty() || (c.back() & 0x80)) return "";
  std::string out;
  unsigned __int128 v = 0;
  bool first = true;
  size_t digits = 0;
  auto append = [&out](unsigned __int128 x) {
    char buf[48];
    int k = 0;
    do {
      buf[k++] = static_cast<char>('0' + static_cast<int>(x % 10));
      x /= 10;
    } while (x != 0);
    while (k > 0) out.push_back(buf[--k]);
  };
  for (uint8_t b : c) {
    if (digits == 0 && b == 0x80) return "";  // non-minimal arc
    if ((v >> 121) != 0) return "";  // arc beyond 128 bits
    ++digits;
    v = (v << 7) | (b & 0x7f);
    if (b & 0x80) continue;
    if (first) {
      unsigned __int128 a = v < 80 ? v / 40 : 2;
      append(a);
      out.push_back('.');
      append(v - a * 40);
      first = false;
    } else {
      out.push_back('.');
      append(v);
    }
    v = 0;
    digits = 0;
  }
  return out;
}

void AppendHeader(Bytes& out, uint8_t tag, size_t length) {
  out.push_back(tag);
  if (length < 0x80) {
    out.push_back(static_cast<uint8_t>(length));
    return;
  }
  int count = 0;
  for (size_t l = length; l != 0; l >>= 8) ++count;
  out.push_back(static_cast<uint8_t>(0x80 | count));
  for (int k = count - 1; k >= 0; --k) out.push_back(static_cast<uint8_t>(length >> (8 * k)));
}

size_t EncodedSize(size_t content_length) {
  size_t header = 2;
  if (content_length >= 0x80)
    for (size_t l = content_length; l != 0; l >>= 8) ++header;
  return header + content_length;
}

void AppendTlv(Bytes& out, uint8_t tag, ByteView contents) {
  AppendHeader(out, tag, contents.size());
  out.insert(out.end(), contents.begin(), contents.end());
}

Bytes Tlv(uint8_t tag, ByteView contents) {
  Bytes out;
  out.reserve(EncodedSize(contents.size()));
  AppendTlv(out, tag, contents);
  return out;
}

Bytes Wrap(uint8_t tag, std::initializer_list<ByteView> parts) {
  size_t total = 0;
  for (ByteView p : parts) total += p.size();
  Bytes out;
  out.reserve(EncodedSize(total));
  AppendHeader(out, tag, total);
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes UnsignedIntegerContents(ByteView magnitude) {
  size_t i = 0;
  while (i + 1 < magnitude.size() && magnitude[i] == 0) ++i;
  if (magnitude.empty()) return Bytes{0};
  bool pad = (magnitude[i] & 0x80) != 0;
  Bytes out(magnitude.size() - i + (pad ? 1 : 0), 0);
  if (!out.empty()) memcpy(out.data() + (pad ? 1 : 0), magnitude.data() + i, magnitude.size() - i);
  return out;
}

Bytes Integer(int64_t value) {
  uint8_t be[8];
  for (int k = 0; k < 8; ++k) be[k] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (56 - 8 * k));
  return Tlv(kInteger, UnsignedIntegerContents(ByteView(be, 8)));
}

bool SetOfLess(ByteView a, ByteView b) {
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    uint8_t x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y;
  }
  return false;
}

Bytes SortedSetContents(std::vector<Bytes> elements) {
  // X.690 §11.6: ascending order, a shorter encoding compared as if padded with trailing zeros.
  std::sort(elements.begin(), elements.end(),
            [](const Bytes& a, const Bytes& b) { return SetOfLess(a, b); });
  Bytes out;
  for (const Bytes& e : elements) out.insert(out.end(), e.begin(), e.end());
  return out;
}


size_t Writer::Begin(uint8_t tag) {
  out_.push_back(tag);
  out_.push_back(0);  // room for a short-form length; End widens it when needed
  return out_.size();
}

void Writer::End(size_t handle) {
  size_t length = out_.size() - handle;
  size_t octets = LengthOctets(length);
  if (octets > 1) out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(handle), octets - 1, 0);
  PutLength(out_.data() + handle - 1, length, octets);
}

void Writer::Tlv(uint8_t tag, ByteView contents) {
  size_t octets = LengthOctets(contents.size());
  size_t at = out_.size();
  out_.resize(at + 1 + octets);
  out_[at] = tag;
  PutLength(out_.data() + at + 1, contents.size(), octets);
  Raw(contents);
}

void Writer::UnsignedInteger(ByteView magnitude) {
  while (magnitude.size() > 1 && magnitude[0] == 0) magnitude = magnitude.subspan(1);
  if (magnitude.empty() || !(magnitude[0] & 0x80)) {
    if (magnitude.empty()) {
      static constexpr uint8_t kZero = 0;
      Tlv(kInteger, ByteView(&kZero, 1));
    } else {
      Tlv(kInteger, magnitude);
    }
    return;
  }
  size_t h = Begin(kInteger);
  out_.push_back(0);
  Raw(magnitude);
  End(h);
}

void Writer::Boolean(bool value) {
  const uint8_t contents = value ? 0xff : 0x00;  // X.690 §11.1: TRUE is all ones in DER
  Tlv(kBoolean, ByteView(&contents, 1));
}

void Writer::NamedBits(uint32_t bits) {
  uint8_t contents[5] = {0};
  int highest = -1;
  for (int bit = 0; bit < 32; ++bit) {
    if (!(bits & (1u << bit))) continue;
    highest = bit;
    contents[1 + bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  }
  if (highest < 0) {
    Tlv(kBitString, ByteView(contents, 1));
    return;
  }
  size_t octets = static_cast<size_t>(highest / 8 + 1);
  contents[0] = static_cast<uint8_t>(7 - highest % 8);  // unused bits in the last octet
  Tlv(kBitString, ByteView(contents, 1 + octets));
}

Status Writer::Time(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd(day);
  const hh_mm_ss hms(secs - day);
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999)
    return Fail(ErrorCode::kInvalidArgument, "certificate time outside years 0000-9999");
  const bool utc = year >= 1950 && year <= 2049;
  uint8_t text[15];
  uint8_t* p = text;
  if (utc)
    PutDigits(p, static_cast<unsigned>(year % 100), 2);
  else
    PutDigits(p, static_cast<unsigned>(year), 4);
  PutDigits(p, static_cast<unsigned>(ymd.month()), 2);
  PutDigits(p, static_cast<unsigned>(ymd.day()), 2);
  PutDigits(p, static_cast<unsigned>(hms.hours().count()), 2);
  PutDigits(p, static_cast<unsigned>(hms.minutes().count()), 2);
  PutDigits(p, static_cast<unsigned>(hms.seconds().count()), 2);
  *p++ = 'Z';
  Tlv(utc ? kUtcTime : kGeneralizedTime, ByteView(text, static_cast<size_t>(p - text)));
  return Ok();
}

std::optional<FrontElement> ReadElement(ByteView input) {
  if (input.size() < 2 || (input[0] & 0x1f) == 0x1f) return std::nullopt;
  size_t pos = 2, length = input[1];
  if (length & 0x80) {
    size_t octets = length & 0x7f;
    if (octets == 0 || octets > sizeof(size_t) || input.size() < 2 + octets || input[2] == 0)
      return std::nullopt;
    length = 0;
    for (size_t i = 0; i < octets; ++i) length = (length << 8) | input[2 + i];
    if (length < 0x80) return std::nullopt;  // not minimal
    pos += octets;
  }
  if (input.size() - pos < length) return std::nullopt;
  return FrontElement{input[0], input.subspan(pos, length), input.subspan(pos + length)};
}

}  // namespace autoseal::der
