#pragma once

// The passes a large message goes through on its way to S/MIME, written to stream over the data
// in cache-sized pieces: scanning a body for what canonicalisation and 7-bit transport need,
// producing the canonical (CRLF) form piece by piece without materialising it, and base64 in
// RFC 2045 lines. Private to smime/.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::smime::internal {

// What one pass over a message body found.
struct BodyScan {
  // How many LFs are not preceded by CR: canonical form (RFC 8551 §3.1.1) puts a CR before each,
  // so the canonical body is body.size() + bare_lf_count bytes. A count, not their offsets: a
  // body of bare LFs would need eight bytes of offset per byte of input.
  size_t bare_lf_count = 0;
  // Every line is 7-bit text no longer than 998 octets (RFC 5322 §2.1.1) with no NUL, no CR
  // outside a CRLF and no line starting "From ": then no leaf of the body needs re-encoding for
  // multipart/signed (RFC 8551 §3.1.2) whatever its Content-Transfer-Encoding. GMime's
  // best-encoding filter decides on the same counts, except that it lets a bare CR pass; we do
  // not (see PrepareLeaves in mime.cc).
  bool seven_bit_lines = true;
  // Some line starts with "--=-", the prefix of the multipart boundaries this module makes: only
  // then can a new boundary collide with the content (RFC 2046 §5.1.1), so only then must it be
  // searched for.
  bool has_our_boundary_prefix = false;
  // Some line is a Content-Transfer-Encoding field that does not plainly say 7bit, 8bit, base64
  // or quoted-printable (binary, or something folded): a part that canonicalisation must not
  // touch may be there, so the MIME structure has to be read.
  bool may_have_binary_part = false;
};

// Scans body once (AVX2 when the CPU has it).
BodyScan ScanBody(ByteView body);

// Calls emit with the canonical form of head followed by body (a CR before each bare LF; there
// are bare_lf_count of them, which must be ScanBody(body).bare_lf_count), in order, in pieces of
// at most kCanonicalPiece bytes. Long runs are passed as views into body (no copy); short lines
// are gathered into one buffer. Past the last bare LF the body is not searched again.
inline constexpr size_t kCanonicalPiece = size_t{64} << 10;
void ForEachCanonicalPiece(ByteView head, ByteView body, size_t bare_lf_count,
                           const std::function<void(ByteView)>& emit);

// RFC 2045 §6.8 base64 in lines of 76 characters ended by CRLF (or LF, for messages kept in Unix
// line endings), fed in pieces of any size: a line is written as soon as its 57 bytes are there.
class Base64Lines {
 public:
  explicit Base64Lines(bool crlf = true) : crlf_(crlf) {}
  // Appends the lines completed by in to out.
  void Append(ByteView in, Bytes& out);
  // Appends the last, partial line (if any) with its padding. Once, after the last Append.
  void Finish(Bytes& out);
  // The size of the encoding of n bytes.
  static size_t EncodedSize(size_t n, bool crlf = true);

 private:
  bool crlf_;
  uint8_t carry_[57];
  size_t carry_len_ = 0;
};

// Decodes a base64 body as MIME readers do (RFC 2045 §6.8: characters outside the alphabet,
// line breaks among them, are ignored; decoding ends at the first '='). kParse when base64
// characters follow that '=' (as OpenSSL); other damage decodes to something the CMS parser
// then refuses.
Result<Bytes> DecodeBase64Body(ByteView text);

// A large buffer is a fresh mapping (glibc's mmap threshold tops out at 32 MB) whose every 4 KB
// page faults on first write: a sixth of the time of a 25 MB message. This asks for transparent
// huge pages over buffer's capacity (one fault per 2 MB); call it right after reserving. Advice
// only: a kernel without them ignores it.
void AdviseHugePages(const Bytes& buffer);

// Base64Lines over all of in, appended to out.
void AppendBase64Lines(Bytes& out, ByteView in, bool crlf = true);

// Test hook: with false, the base64 encoder and ScanBody take their scalar paths even on a CPU
// with AVX2 (the choice is otherwise made once per process), so a test run on such a machine
// checks both; true restores the default. Takes effect for calls that start afterwards.
void SetAvx2ForTesting(bool allowed);

}  // namespace autoseal::smime::internal
