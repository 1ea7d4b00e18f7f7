#include "smime/internal/stream.h"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

namespace autoseal::smime::internal {
namespace {

std::atomic<bool> avx2_allowed{true};  // SetAvx2ForTesting

// Decided once: the AVX2 paths run only where the CPU has AVX2 (the build targets plain x86-64).
bool HaveAvx2() {
#if defined(__x86_64__)
  static const bool have = __builtin_cpu_supports("avx2");
  return have && avx2_allowed.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// --- body scan ---------------------------------------------------------------------------------

constexpr size_t kMaxLine = 998;  // RFC 5322 §2.1.1, without the CRLF

bool IEqualsAscii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == y;
         });
}

// A line starting with "Content-Transfer-Encoding:" (any case) that does not name one of the
// encodings canonicalisation leaves intact sets may_have_binary_part.
void CheckTransferEncoding(std::string_view line, BodyScan& scan) {
  constexpr std::string_view kField = "content-transfer-encoding";
  if (line.size() < kField.size() || !IEqualsAscii(line.substr(0, kField.size()), kField)) return;
  line = line.substr(kField.size(), std::min<size_t>(line.size() - kField.size(), 64));
  line = line.substr(0, line.find('\n'));
  auto skip_blanks = [&line] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  };
  // GMime also takes "Content-Transfer-Encoding : binary"; anything odd counts as binary.
  skip_blanks();
  if (line.empty() || line.front() != ':') {
    scan.may_have_binary_part = true;
    return;
  }
  line.remove_prefix(1);
  skip_blanks();
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.remove_suffix(1);
  for (std::string_view ok : {"7bit", "8bit", "base64", "quoted-printable"})
    if (IEqualsAscii(line, ok)) return;
  scan.may_have_binary_part = true;
}

// What the start of a line at `at` says: a "From " line (GMime re-encodes a leaf that has one,
// so mbox readers cannot mangle it) or one of our boundary prefixes.
inline void LineStart(ByteView body, size_t at, BodyScan& scan) {
  std::string_view rest(reinterpret_cast<const char*>(body.data()) + at, body.size() - at);
  if (rest.starts_with("From ")) scan.seven_bit_lines = false;
  if (rest.starts_with("--=-")) scan.has_our_boundary_prefix = true;
  if (!rest.empty() && (rest[0] == 'C' || rest[0] == 'c') && !scan.may_have_binary_part)
    CheckTransferEncoding(rest, scan);
}

// A line ends at the LF at lf (its length counted with any CR, which errs on the safe side).
inline void LineEnd(ByteView body, size_t lf, bool bare, size_t& line_start, BodyScan& scan) {
  if (bare) ++scan.bare_lf_count;
  if (lf - line_start > kMaxLine) scan.seven_bit_lines = false;
  line_start = lf + 1;
  LineStart(body, line_start, scan);
}

// Bytes [from, body.size()) one at a time.
void ScanTail(ByteView body, size_t from, size_t& line_start, BodyScan& scan) {
  for (size_t i = from; i < body.size(); ++i) {
    const uint8_t b = body[i];
    if (b == 0 || b >= 0x80) scan.seven_bit_lines = false;
    // A bare CR: see BodyScan::seven_bit_lines.
    if (b == '\r' && (i + 1 == body.size() || body[i + 1] != '\n')) scan.seven_bit_lines = false;
    if (b == '\n') LineEnd(body, i, i == 0 || body[i - 1] != '\r', line_start, scan);
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) size_t ScanAvx2(ByteView body, size_t& line_start,
                                                BodyScan& scan) {
  const uint8_t* p = body.data();
  const size_t n = body.size();
  const __m256i lf_v = _mm256_set1_epi8('\n');
  const __m256i cr_v = _mm256_set1_epi8('\r');
  const __m256i zero = _mm256_setzero_si256();
  __m256i high = zero, nul = zero;
  uint32_t prev_cr = 0;  // bit 0: the byte before this block is CR
  uint32_t bare_cr = 0;  // non-zero once a CR was followed by something other than LF
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    high = _mm256_or_si256(high, v);
    nul = _mm256_or_si256(nul, _mm256_cmpeq_epi8(v, zero));
    uint32_t lf = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, lf_v)));
    const uint32_t cr = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, cr_v)));
    // The CRs of this block but the last, and the previous block's last, not before an LF.
    bare_cr |= (cr & ~(lf >> 1) & 0x7fffffffu) | (prev_cr & ~lf);
    const uint32_t after_cr = (cr << 1) | prev_cr;
    prev_cr = cr >> 31;
    while (lf != 0) {
      const unsigned bit = static_cast<unsigned>(__builtin_ctz(lf));
      LineEnd(body, i + bit, (after_cr & (1u << bit)) == 0, line_start, scan);
      lf &= lf - 1;
    }
    if (i + 32 - line_start > kMaxLine) scan.seven_bit_lines = false;
  }
  if (prev_cr != 0 && (i == n || p[i] != '\n')) bare_cr = 1;  // the last block's last CR
  if (_mm256_movemask_epi8(high) != 0 || _mm256_movemask_epi8(nul) != 0 || bare_cr != 0)
    scan.seven_bit_lines = false;
  return i;
}
#endif

// --- base64 ------------------------------------------------------------------------------------

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr size_t kLineBytes = 57;  // 76 characters (RFC 2045 §6.8)
constexpr size_t kLineChars = 76;

// Two output characters per 12 input bits: half the table look-ups of the textbook loop.
const std::array<uint16_t, 4096>& Pairs() {
  static const auto* table = [] {
    auto* t = new std::array<uint16_t, 4096>;
    for (int i = 0; i < 4096; ++i) {
      const uint8_t pair[2] = {static_cast<uint8_t>(kAlphabet[i >> 6]),
                               static_cast<uint8_t>(kAlphabet[i & 63])};
      std::memcpy(&(*t)[i], pair, 2);
    }
    return t;
  }();
  return *table;
}

// Encodes n bytes (any count; the last group padded with '='), returns the end of the output.
uint8_t* EncodeScalar(const uint8_t* r, size_t n, uint8_t* w) {
  const auto& pairs = Pairs();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{r[i]} << 16) | (uint32_t{r[i + 1]} << 8) | r[i + 2];
    std::memcpy(w, &pairs[v >> 12], 2);
    std::memcpy(w + 2, &pairs[v & 0xfff], 2);
    w += 4;
  }
  if (i < n) {
    uint32_t v = uint32_t{r[i]} << 16;
    if (i + 1 < n) v |= uint32_t{r[i + 1]} << 8;
    w[0] = kAlphabet[v >> 18];
    w[1] = kAlphabet[(v >> 12) & 63];
    w[2] = i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    w[3] = '=';
    w += 4;
  }
  return w;
}

uint8_t* EndLine(uint8_t* w, bool crlf) {
  if (crlf) *w++ = '\r';
  *w++ = '\n';
  return w;
}

void LinesScalar(const uint8_t* r, size_t lines, uint8_t* w, bool crlf) {
  for (size_t l = 0; l < lines; ++l, r += kLineBytes) w = EndLine(EncodeScalar(r, kLineBytes, w), crlf);
}

#if defined(__x86_64__)
// 24 input bytes to 32 characters (W. Muła and D. Lemire, "Faster Base64 Encoding and Decoding
// Using AVX2 Instructions", 2018): each 128-bit lane takes 12 bytes, spread by a shuffle into
// one 3-byte group per 32-bit word, split into four 6-bit indices by two multiplies, mapped to
// the alphabet by a 16-entry offset table.
__attribute__((target("avx2"))) inline __m256i Encode24(__m256i in) {
  const __m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00));
  const __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
  const __m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0));
  const __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
  const __m256i idx = _mm256_or_si256(t1, t3);
  __m256i sel = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
  const __m256i upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx);
  sel = _mm256_or_si256(sel, _mm256_and_si256(upper, _mm256_set1_epi8(13)));
  const __m256i offsets = _mm256_setr_epi8(
      'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
      '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0, 'a' - 26, '0' - 52, '0' - 52, '0' - 52,
      '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63,
      'A', 0, 0);
  return _mm256_add_epi8(_mm256_shuffle_epi8(offsets, sel), idx);
}

// Two 16-byte loads, one per lane.
__attribute__((target("avx2"))) inline __m256i Load2x128(const uint8_t* lo, const uint8_t* hi) {
  return _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)), 1);
}

// A 57-byte line as three overlapping 24-byte steps at input offsets 0, 24 and 33 (output 0, 32
// and 44: the third rewrites characters 44..63 with the same values). Every load stays inside
// the line: the last step takes its upper lane from 8 bytes further and shuffles from byte 4.
__attribute__((target("avx2"))) void LinesAvx2(const uint8_t* r, size_t lines, uint8_t* w,
                                               bool crlf) {
  // Per 32-bit word of a lane holding bytes o..o+11: [b1, b0, b2, b1] of group j at o + 3j.
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                          1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  const __m256i spread_hi4 = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                              5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14);
  for (size_t l = 0; l < lines; ++l, r += kLineBytes) {
    const __m256i a = _mm256_shuffle_epi8(Load2x128(r, r + 12), spread);
    const __m256i b = _mm256_shuffle_epi8(Load2x128(r + 24, r + 36), spread);
    const __m256i c = _mm256_shuffle_epi8(Load2x128(r + 33, r + 41), spread_hi4);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w), Encode24(a));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w + 32), Encode24(b));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w + 44), Encode24(c));
    w = EndLine(w + kLineChars, crlf);
  }
}
#endif

void EncodeLines(const uint8_t* r, size_t lines, Bytes& out, bool crlf) {
  const size_t at = out.size();
  out.resize(at + lines * (kLineChars + (crlf ? 2 : 1)));
#if defined(__x86_64__)
  if (HaveAvx2()) {
    LinesAvx2(r, lines, out.data() + at, crlf);
    return;
  }
#endif
  LinesScalar(r, lines, out.data() + at, crlf);
}

}  // namespace

BodyScan ScanBody(ByteView body) {
  BodyScan scan;
  size_t line_start = 0;
  LineStart(body, 0, scan);
  size_t done = 0;
#if defined(__x86_64__)
  if (HaveAvx2()) done = ScanAvx2(body, line_start, scan);
#endif
  ScanTail(body, done, line_start, scan);
  if (body.size() - line_start > kMaxLine) scan.seven_bit_lines = false;
  return scan;
}

void ForEachCanonicalPiece(ByteView head, ByteView body, size_t bare_lf_count,
                           const std::function<void(ByteView)>& emit) {
  // Runs at least this long go to emit as views; shorter ones are gathered so that a Unix
  // mailbox (every line break bare) still reaches the hash and cipher in large pieces.
  constexpr size_t kDirect = 4096;
  Bytes staging;
  staging.reserve(kCanonicalPiece);
  auto flush = [&] {
    if (staging.empty()) return;
    emit(staging);
    staging.clear();
  };
  auto add = [&](ByteView run) {
    if (run.size() >= kDirect) {
      flush();
      for (size_t i = 0; i < run.size(); i += kCanonicalPiece)
        emit(run.subspan(i, std::min(kCanonicalPiece, run.size() - i)));
      return;
    }
    if (staging.size() + run.size() > kCanonicalPiece) flush();
    staging.insert(staging.end(), run.begin(), run.end());
  };
  static constexpr uint8_t kCrlf[] = {'\r', '\n'};
  add(head);
  const uint8_t* data = body.data();
  size_t from = 0;  // the start of the run not yet added
  size_t at = 0;    // where the search for the next LF goes on
  for (size_t left = bare_lf_count; left > 0;) {
    const auto* lf = static_cast<const uint8_t*>(std::memchr(data + at, '\n', body.size() - at));
    CHECK(lf != nullptr);  // fewer bare LFs than bare_lf_count: not the count of this body
    const size_t i = static_cast<size_t>(lf - data);
    at = i + 1;
    if (i > 0 && data[i - 1] == '\r') continue;
    add(body.subspan(from, i - from));
    add(ByteView(kCrlf, 2));
    from = at;
    --left;
  }
  add(body.subspan(from));
  flush();
}

void Base64Lines::Append(ByteView in, Bytes& out) {
  // An empty view may have a null data(), which memcpy must not get even for 0 bytes.
  if (in.empty()) return;
  size_t at = 0;
  if (carry_len_ > 0) {
    at = std::min(kLineBytes - carry_len_, in.size());
    std::memcpy(carry_ + carry_len_, in.data(), at);
    carry_len_ += at;
    if (carry_len_ < kLineBytes) return;
    EncodeLines(carry_, 1, out, crlf_);
    carry_len_ = 0;
  }
  const size_t lines = (in.size() - at) / kLineBytes;
  if (lines > 0) EncodeLines(in.data() + at, lines, out, crlf_);
  at += lines * kLineBytes;
  carry_len_ = in.size() - at;
  if (carry_len_ > 0) std::memcpy(carry_, in.data() + at, carry_len_);
}

void Base64Lines::Finish(Bytes& out) {
  if (carry_len_ == 0) return;
  const size_t at = out.size();
  out.resize(at + (carry_len_ + 2) / 3 * 4 + (crlf_ ? 2 : 1));
  EndLine(EncodeScalar(carry_, carry_len_, out.data() + at), crlf_);
  carry_len_ = 0;
}

size_t Base64Lines::EncodedSize(size_t n, bool crlf) {
  const size_t eol = crlf ? 2 : 1;
  const size_t rest = n % kLineBytes;
  return n / kLineBytes * (kLineChars + eol) + (rest > 0 ? (rest + 2) / 3 * 4 + eol : 0);
}

Result<Bytes> DecodeBase64Body(ByteView text) {
  static const auto* kValues = [] {
    auto* t = new std::array<uint8_t, 256>;
    t->fill(0xff);
    for (uint8_t i = 0; i < 64; ++i) (*t)[static_cast<uint8_t>(kAlphabet[i])] = i;
    return t;
  }();
  const auto& values = *kValues;
  Bytes out;
  out.reserve(text.size() / 4 * 3 + 3);
  AdviseHugePages(out);
  out.resize(text.size() / 4 * 3 + 3);
  uint8_t* w = out.data();
  const uint8_t* r = text.data();
  const uint8_t* end = r + text.size();
  uint32_t acc = 0;
  int have = 0;
  while (r < end) {
    // Whole groups of four alphabet characters, the common case inside a line.
    while (have == 0 && end - r >= 4) {
      const uint32_t a = values[r[0]], b = values[r[1]], c = values[r[2]], d = values[r[3]];
      if ((a | b | c | d) & 0x80) break;
      const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
      w[0] = static_cast<uint8_t>(v >> 16);
      w[1] = static_cast<uint8_t>(v >> 8);
      w[2] = static_cast<uint8_t>(v);
      w += 3;
      r += 4;
    }
    if (r == end) break;
    const uint8_t c = *r++;
    if (c == '=') {
      // Padding ends the data; more base64 after it is a damaged or spliced body, which OpenSSL
      // refuses too (RFC 2045 §6.8: "=" only at the end of the encoded data).
      if (std::any_of(r, end, [&values](uint8_t x) { return (values[x] & 0x80) == 0; }))
        return Fail(ErrorCode::kParse, "base64 body has data after its '=' padding");
      break;
    }
    const uint8_t v = values[c];
    if (v & 0x80) continue;
    acc = (acc << 6) | v;
    if (++have == 4) {
      w[0] = static_cast<uint8_t>(acc >> 16);
      w[1] = static_cast<uint8_t>(acc >> 8);
      w[2] = static_cast<uint8_t>(acc);
      w += 3;
      have = 0;
      acc = 0;
    }
  }
  // A last group of 2 or 3 characters holds 1 or 2 bytes; a single character holds none.
  if (have == 2) *w++ = static_cast<uint8_t>(acc >> 4);
  if (have == 3) {
    *w++ = static_cast<uint8_t>(acc >> 10);
    *w++ = static_cast<uint8_t>(acc >> 2);
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return out;
}

void AdviseHugePages(const Bytes& buffer) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<uintptr_t>(buffer.data());
  const uintptr_t start = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (begin + buffer.capacity()) & ~(kHuge - 1);
  if (end > start) (void)madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
#else
  (void)buffer;
#endif
}

void SetAvx2ForTesting(bool allowed) { avx2_allowed.store(allowed, std::memory_order_relaxed); }

void AppendBase64Lines(Bytes& out, ByteView in, bool crlf) {
  out.reserve(out.size() + Base64Lines::EncodedSize(in.size(), crlf));
  Base64Lines lines(crlf);
  lines.Append(in, out);
  lines.Finish(out);
}

}  // namespace autoseal::smime::internal
