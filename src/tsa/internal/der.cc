#include "tsa/internal/der.h"

#include <algorithm>
#include <cstring>

namespace autoseal::tsa::der {
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

}  // namespace autoseal::tsa::der
