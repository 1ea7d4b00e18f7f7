#include "smime/mime.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>

#include "smime/internal/stream.h"

namespace autoseal::smime {

// Receives serialised output chunk by chunk. Must not throw.
using ChunkSink = std::function<void(ByteView chunk)>;

namespace {

// Owners for GObject-derived GMime objects (g_object_unref drops the one reference we hold).
template <typename T>
struct GObjectUnref {
  void operator()(T* p) const {
    if (p != nullptr) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref<T>>;

struct FormatOptionsFree {
  void operator()(GMimeFormatOptions* p) const { g_mime_format_options_free(p); }
};

void InitGmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// CRLF output options, created once (GMimeFormatOptions is read-only while writing).
GMimeFormatOptions* CrlfOptions() {
  static GMimeFormatOptions* options = [] {
    GMimeFormatOptions* o = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(o, GMIME_NEWLINE_FORMAT_DOS);
    return o;
  }();
  return options;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header fields that describe the body (RFC 2045 §9: Content-*; MIME-Version).
bool IsBodyField(std::string_view name) {
  return IStartsWith(name, "Content-") || IEquals(name, "MIME-Version");
}

// Transport fields added on the way (RFC 5321 §4.4 trace fields and their kin). They are not the
// author's and are neither protected nor hidden.
bool IsTraceField(std::string_view name) {
  return IEquals(name, "Received") || IEquals(name, "Return-Path") ||
         IEquals(name, "Delivered-To") || IEquals(name, "DKIM-Signature") ||
         IEquals(name, "Authentication-Results") || IStartsWith(name, "ARC-");
}

// RFC 9788 §2.2: the field that records an outer header field inside an encrypted payload.
constexpr std::string_view kHpOuter = "HP-Outer";

std::string StripLineEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Every bare LF becomes CRLF; existing CRLF stays.
std::string ToCrlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out.push_back('\r');
    out.push_back(s[i]);
  }
  return out;
}

// CRLF → LF in place (the rest untouched).
void CrlfToLf(Bytes& data) {
  size_t w = 0;
  for (size_t r = 0; r < data.size(); ++r) {
    if (data[r] == '\r' && r + 1 < data.size() && data[r + 1] == '\n') continue;
    data[w++] = data[r];
  }
  data.resize(w);
}

std::vector<HeaderField> FieldsOf(GMimeObject* object) {
  std::vector<HeaderField> out;
  GMimeHeaderList* list = g_mime_object_get_header_list(object);
  if (list == nullptr) return out;
  int n = g_mime_header_list_get_count(list);
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
    const char* name = g_mime_header_get_name(h);
    const char* raw = g_mime_header_get_raw_value(h);
    out.push_back({name ? name : "", StripLineEnd(raw ? raw : "")});
  }
  return out;
}

// A read-only GMime memory stream over bytes the caller keeps alive (no copy).
struct BorrowedStream {
  GByteArray* array = nullptr;
  GPtr<GMimeStream> stream;
  explicit BorrowedStream(ByteView data) {
    array = g_byte_array_new();
    // GByteArray's data/len are public; the stream is told not to own (or free) them.
    array->data = const_cast<uint8_t*>(data.data());
    array->len = static_cast<guint>(data.size());
    stream.reset(g_mime_stream_mem_new_with_byte_array(array));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream.get()), FALSE);
  }
  BorrowedStream(const BorrowedStream&) = delete;
  BorrowedStream& operator=(const BorrowedStream&) = delete;
  ~BorrowedStream() {
    stream.reset();
    // Frees the GByteArray header only; the bytes belong to the caller.
    if (array != nullptr) g_byte_array_free(array, FALSE);
  }
};

}  // namespace
}  // namespace autoseal::smime

// A write-only GMimeStream that hands every chunk to a ChunkSink: GMime serialises straight into
// a hasher, an encryptor or a pre-sized buffer, with no GByteArray growing and copied in between.
extern "C" {
struct AutosealSinkStream {
  GMimeStream parent;
  const autoseal::smime::ChunkSink* sink;
};
struct AutosealSinkStreamClass {
  GMimeStreamClass parent_class;
};
}
G_DEFINE_TYPE(AutosealSinkStream, autoseal_sink_stream, GMIME_TYPE_STREAM)

static ssize_t SinkWrite(GMimeStream* stream, const char* buf, size_t len) {
  auto* self = reinterpret_cast<AutosealSinkStream*>(stream);
  (*self->sink)(autoseal::ByteView(reinterpret_cast<const uint8_t*>(buf), len));
  stream->position += static_cast<gint64>(len);
  return static_cast<ssize_t>(len);
}
static ssize_t SinkRead(GMimeStream*, char*, size_t) { return -1; }
static int SinkFlush(GMimeStream*) { return 0; }
static int SinkClose(GMimeStream*) { return 0; }
static gboolean SinkEos(GMimeStream*) { return TRUE; }
static int SinkReset(GMimeStream*) { return -1; }
static gint64 SinkSeek(GMimeStream*, gint64, GMimeSeekWhence) { return -1; }
static gint64 SinkTell(GMimeStream* stream) { return stream->position; }
static gint64 SinkLength(GMimeStream*) { return -1; }
static GMimeStream* SinkSubstream(GMimeStream*, gint64, gint64) { return nullptr; }

static void autoseal_sink_stream_class_init(AutosealSinkStreamClass* klass) {
  GMimeStreamClass* c = GMIME_STREAM_CLASS(klass);
  c->read = SinkRead;
  c->write = SinkWrite;
  c->flush = SinkFlush;
  c->close = SinkClose;
  c->eos = SinkEos;
  c->reset = SinkReset;
  c->seek = SinkSeek;
  c->tell = SinkTell;
  c->length = SinkLength;
  c->substream = SinkSubstream;
}
static void autoseal_sink_stream_init(AutosealSinkStream* self) { self->sink = nullptr; }

namespace autoseal::smime {
namespace {

// A new sink stream over sink (which must outlive it).
GPtr<GMimeStream> NewSinkStream(const ChunkSink& sink) {
  auto* s = static_cast<AutosealSinkStream*>(g_object_new(autoseal_sink_stream_get_type(), nullptr));
  s->sink = &sink;
  g_mime_stream_construct(GMIME_STREAM(s), 0, -1);
  return GPtr<GMimeStream>(GMIME_STREAM(s));
}

// RFC 2046 prologues and epilogues are kept raw by GMime and written without newline
// conversion; make them CRLF so the DOS newline format covers everything.
void CrlfEdges(GMimeObject* object) {
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart* mp = GMIME_MULTIPART(object);
    for (auto [get, set] : {std::pair{&g_mime_multipart_get_prologue, &g_mime_multipart_set_prologue},
                            std::pair{&g_mime_multipart_get_epilogue, &g_mime_multipart_set_epilogue}}) {
      const char* text = get(mp);
      if (text != nullptr && std::strchr(text, '\n') != nullptr) {
        std::string fixed = ToCrlf(text);
        if (fixed != text) set(mp, fixed.c_str());
      }
    }
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; ++i) CrlfEdges(g_mime_multipart_get_part(mp, i));
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    if (inner != nullptr && g_mime_message_get_mime_part(inner) != nullptr)
      CrlfEdges(g_mime_message_get_mime_part(inner));
  }
}

// Writes object in canonical CRLF form to sink.
Status WriteCrlfTo(GMimeObject* object, const ChunkSink& sink) {
  CrlfEdges(object);
  GPtr<GMimeStream> out = NewSinkStream(sink);
  if (g_mime_object_write_to_stream(object, CrlfOptions(), out.get()) < 0)
    return Fail(ErrorCode::kInternal, "cannot serialise a MIME entity");
  return Ok();
}

// Collects what a writer produces into one buffer reserved up front.
ChunkSink Collect(Bytes& out) {
  return [&out](ByteView chunk) { out.insert(out.end(), chunk.begin(), chunk.end()); };
}

Result<Bytes> WriteCrlf(GMimeObject* object, size_t expected_size = 0) {
  Bytes out;
  out.reserve(expected_size + expected_size / 16 + 256);
  ChunkSink sink = Collect(out);
  TRY(WriteCrlfTo(object, sink));
  return out;
}

// The decoded content of a leaf part (base64/QP undone).
Result<Bytes> DecodedContent(GMimeObject* object, std::string_view what) {
  if (!GMIME_IS_PART(object)) return Fail(ErrorCode::kParse, std::string(what) + " is not a leaf part");
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
  if (content == nullptr) return Fail(ErrorCode::kParse, std::string(what) + " has no content");
  Bytes bytes;
  GMimeStream* raw = g_mime_data_wrapper_get_stream(content);
  gint64 raw_length = raw != nullptr ? g_mime_stream_length(raw) : -1;
  if (raw_length > 0) bytes.reserve(static_cast<size_t>(raw_length) * 3 / 4 + 64);
  ChunkSink sink = Collect(bytes);
  GPtr<GMimeStream> out = NewSinkStream(sink);
  if (g_mime_data_wrapper_write_to_stream(content, out.get()) < 0)
    return Fail(ErrorCode::kParse, std::string(what) + " cannot be decoded");
  if (bytes.empty()) return Fail(ErrorCode::kParse, std::string(what) + " is empty");
  return bytes;
}

// Whether the part's content as stored (still encoded) has a CR that does not start a CRLF.
bool HasBareCr(GMimePart* part) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  GMimeStream* raw = content != nullptr ? g_mime_data_wrapper_get_stream(content) : nullptr;
  if (raw == nullptr || g_mime_stream_reset(raw) < 0) return false;
  Bytes buffer(internal::kCanonicalPiece);
  char* data = reinterpret_cast<char*>(buffer.data());
  bool found = false, cr_last = false;  // cr_last: the previous piece ended in CR
  for (ssize_t n; !found && (n = g_mime_stream_read(raw, data, buffer.size())) > 0;) {
    if (cr_last && data[0] != '\n') found = true;
    for (const char* cr = data; !found;) {
      cr = static_cast<const char*>(std::memchr(cr, '\r', static_cast<size_t>(data + n - cr)));
      if (cr == nullptr) break;
      if (cr + 1 < data + n && cr[1] != '\n') found = true;
      ++cr;
    }
    cr_last = data[n - 1] == '\r';
  }
  g_mime_stream_reset(raw);
  return found || cr_last;
}

// Prepares the leaves for signing or encryption; returns whether any part was re-encoded.
// RFC 8551 §3.1.1 canonicalises line breaks to CRLF, which is right for text only: a part with
// Content-Transfer-Encoding binary would have its bare LF bytes changed, so it is re-encoded as
// base64 (same content, and a form that canonicalisation cannot touch) on every path. With
// seven_bit, RFC 8551 §3.1.2: leaves that are not 7-bit clean get quoted-printable (mostly text)
// or base64. So do leaves with a CR outside a CRLF (RFC 5322 §2.3 allows none), which GMime
// counts as 7-bit: a writer in Unix line endings would fold it into the next line break, and
// `openssl cms -verify` strips the CRs at the end of each line before hashing, so either changes
// the signed bytes; quoted-printable carries it as "=0D" (RFC 2045 §6.7).
// A multipart/signed entity (the body, or one nested anywhere, forwarded as message/rfc822 for
// one) is left exactly as it is: its first part is covered by a signature, and any re-encoding
// inside it would break that signature (RFC 1847 §2.1: the signed part must not change).
bool PrepareLeaves(GMimeObject* object, bool seven_bit) {
  bool changed = false;
  if (GMIME_IS_MULTIPART_SIGNED(object)) return false;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart* mp = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; ++i) changed |= PrepareLeaves(g_mime_multipart_get_part(mp, i), seven_bit);
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    if (inner != nullptr && g_mime_message_get_mime_part(inner) != nullptr)
      changed |= PrepareLeaves(g_mime_message_get_mime_part(inner), seven_bit);
  } else if (GMIME_IS_PART(object)) {
    GMimePart* part = GMIME_PART(object);
    switch (g_mime_part_get_content_encoding(part)) {
      case GMIME_CONTENT_ENCODING_BASE64:
      case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
      case GMIME_CONTENT_ENCODING_UUENCODE:
        // Already 7-bit, unless a stray CR sits among the encoded lines: GMime decodes the part
        // and writes it again as base64 (its decoded content unchanged).
        if (!seven_bit || !HasBareCr(part)) return false;
        g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
        return true;
      case GMIME_CONTENT_ENCODING_BINARY:
        g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
        return true;
      default:
        break;
    }
    if (!seven_bit || g_mime_part_get_content(part) == nullptr) return false;
    GMimeContentEncoding best =
        g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT);
    // GMime answers DEFAULT (not 7BIT) for content that is fine as it is: no NUL, no 8-bit
    // byte, no line over 998 octets, no "From " line.
    if (best == GMIME_CONTENT_ENCODING_7BIT || best == GMIME_CONTENT_ENCODING_DEFAULT) {
      if (!HasBareCr(part)) return false;
      best = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    }
    g_mime_part_set_content_encoding(part, best);
    changed = true;
  }
  return changed;
}

// Appends in to out in canonical form: every bare LF becomes CRLF (RFC 8551 §3.1.1). memchr per
// line instead of GMime's byte-at-a-time newline filter: this runs over whole attachments.
void AppendCanonical(Bytes& out, ByteView in) {
  const uint8_t* data = in.data();
  size_t n = in.size(), i = 0;
  while (i < n) {
    const auto* lf = static_cast<const uint8_t*>(std::memchr(data + i, '\n', n - i));
    if (lf == nullptr) {
      out.insert(out.end(), data + i, data + n);
      break;
    }
    size_t j = static_cast<size_t>(lf - data);
    if (j > 0 && data[j - 1] == '\r') {
      out.insert(out.end(), data + i, data + j + 1);
    } else {
      out.insert(out.end(), data + i, data + j);
      out.push_back('\r');
      out.push_back('\n');
    }
    i = j + 1;
  }
}

std::string HeadersText(GMimeObject* object) {
  char* text = g_mime_object_get_headers(object, CrlfOptions());
  std::string out = text ? text : "";
  g_free(text);
  return out;
}

void Append(Bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

// The message's own header fields as written, then MIME-Version (RFC 2045 §4).
void AppendOuterHeaders(Bytes& out, const std::vector<HeaderField>& outer) {
  for (const HeaderField& f : outer) {
    if (IsBodyField(f.name)) continue;
    Append(out, f.name);
    Append(out, ":");
    Append(out, ToCrlf(f.raw_value));
    Append(out, "\r\n");
  }
  Append(out, "MIME-Version: 1.0\r\n");
}

// "Content-Type: type/subtype; name=value..." encoded (quoted, folded) by GMime.
void AppendContentType(Bytes& out, const char* type, const char* subtype,
                       std::initializer_list<std::pair<std::string, std::string>> params) {
  GPtr<GMimeContentType> ct(g_mime_content_type_new(type, subtype));
  for (const auto& [name, value] : params)
    g_mime_content_type_set_parameter(ct.get(), name.c_str(), value.c_str());
  char* encoded = g_mime_content_type_encode(ct.get(), CrlfOptions());
  Append(out, "Content-Type:");
  Append(out, encoded != nullptr ? encoded : " application/octet-stream\r\n");
  g_free(encoded);
}

// A fresh multipart boundary: "=-" and 24 random letters and digits (uniqueness, not secrecy).
std::string NewBoundary() {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string b = "=-";
  for (int i = 0; i < 24; ++i) b.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  return b;
}

// The root of the Cryptographic Payload below object: through multipart/signed first parts.
GMimeObject* PayloadRoot(GMimeObject* object) {
  while (object != nullptr && GMIME_IS_MULTIPART_SIGNED(object) &&
         g_mime_multipart_get_count(GMIME_MULTIPART(object)) >= 1)
    object = g_mime_multipart_get_part(GMIME_MULTIPART(object), 0);
  return object;
}

void AppendRawHeader(GMimeObject* object, const HeaderField& field) {
  // Added with an empty value, then given the raw text as written (no re-encoding or folding).
  g_mime_object_append_header(object, field.name.c_str(), "", nullptr);
  GMimeHeaderList* list = g_mime_object_get_header_list(object);
  GMimeHeader* h = g_mime_header_list_get_header_at(list, g_mime_header_list_get_count(list) - 1);
  std::string raw = field.raw_value + "\n";
  g_mime_header_set_raw_value(h, raw.c_str());
}

}  // namespace

std::string_view SmimeFormName(SmimeForm form) {
  switch (form) {
    case SmimeForm::kPlain: return "plain";
    case SmimeForm::kMultipartSigned: return "multipart/signed";
    case SmimeForm::kSignedData: return "signed-data";
    case SmimeForm::kEnvelopedData: return "enveloped-data";
    case SmimeForm::kAuthEnvelopedData: return "authEnveloped-data";
    case SmimeForm::kCertsOnly: return "certs-only";
    case SmimeForm::kCompressedData: return "compressed-data";
    case SmimeForm::kPkcs7Unknown: return "application/pkcs7-mime";
  }
  return "?";
}

std::string_view HeaderProtectionName(HeaderProtection hp) {
  switch (hp) {
    case HeaderProtection::kNone: return "none";
    case HeaderProtection::kClear: return "clear";
    case HeaderProtection::kCipher: return "cipher";
  }
  return "?";
}

struct MimeMessage::State {
  std::unique_ptr<BorrowedStream> input;
  size_t input_size = 0;
  ByteView input_bytes;
  std::optional<PayloadOptions> prepared;
  bool reencoded = false;  // PrepareLeaves changed a part: GMime must write the body
  // ParseToProtect: GMime read only the header section; the body's scan says why that is enough.
  bool headers_only = false;
  std::optional<internal::BodyScan> scan;
  GPtr<GMimeParser> parser;
  GPtr<GMimeMessage> message;
  ~State() {
    message.reset();
    parser.reset();
    input.reset();
  }
  GMimeObject* body() const { return g_mime_message_get_mime_part(message.get()); }
};

MimeMessage::MimeMessage(std::unique_ptr<State> state) : state_(std::move(state)) {}
MimeMessage::MimeMessage(MimeMessage&&) noexcept = default;
MimeMessage& MimeMessage::operator=(MimeMessage&&) noexcept = default;
MimeMessage::~MimeMessage() = default;

Result<MimeMessage> MimeMessage::Parse(ByteView data) { return ParseRange(data, data); }

namespace {

// The end of the header section: the offset after its empty line (RFC 5322 §2.1), or nullopt.
std::optional<size_t> HeaderSectionEnd(ByteView data) {
  for (size_t line = 0; line < data.size();) {
    if (data[line] == '\n') return line + 1;
    if (data[line] == '\r' && line + 1 < data.size() && data[line + 1] == '\n') return line + 2;
    const auto* lf =
        static_cast<const uint8_t*>(std::memchr(data.data() + line, '\n', data.size() - line));
    if (lf == nullptr) return std::nullopt;
    line = static_cast<size_t>(lf - data.data()) + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<MimeMessage> MimeMessage::ParseHeaderSection(ByteView data) {
  std::optional<size_t> end = HeaderSectionEnd(data);
  if (!end || data.size() > kMaxMessageBytes) return Parse(data);
  MimeMessage m = TRY(ParseRange(data, data.subspan(0, *end)));
  // GMime must have ended the header section where we did (it reads a line without a colon,
  // for one, as the start of the body).
  const size_t blank = *end >= 2 && data[*end - 2] == '\r' ? 2 : 1;
  const gint64 gmime_end = g_mime_parser_get_headers_end(m.state_->parser.get());
  if (gmime_end < 0 || static_cast<size_t>(gmime_end) != *end - blank) return Parse(data);
  m.state_->headers_only = true;
  return m;
}

Result<MimeMessage> MimeMessage::ParseToProtect(ByteView data, bool seven_bit) {
  std::optional<size_t> end = HeaderSectionEnd(data);
  if (!end || data.size() > kMaxMessageBytes) return Parse(data);
  internal::BodyScan scan = internal::ScanBody(data.subspan(*end));
  if ((seven_bit && !scan.seven_bit_lines) || scan.may_have_binary_part) return Parse(data);
  MimeMessage m = TRY(ParseHeaderSection(data));
  if (!m.state_->headers_only) return m;
  // A body that is S/MIME already, or is itself binary, is read in full.
  GMimeObject* body = m.state_->body();
  if (m.Form() != SmimeForm::kPlain || m.ContentType() == "multipart/signed" ||
      (body != nullptr && GMIME_IS_PART(body) &&
       g_mime_part_get_content_encoding(GMIME_PART(body)) == GMIME_CONTENT_ENCODING_BINARY))
    return Parse(data);
  m.state_->scan = std::move(scan);
  return m;
}

Result<MimeMessage> MimeMessage::ParseRange(ByteView data, ByteView parsed) {
  InitGmime();
  if (data.empty()) return Fail(ErrorCode::kParse, "the message is empty");
  if (data.size() > kMaxMessageBytes)
    return Fail(ErrorCode::kParse, "the message is larger than the limit of " +
                                       std::to_string(kMaxMessageBytes) + " bytes");
  auto state = std::make_unique<State>();
  state->input = std::make_unique<BorrowedStream>(parsed);
  state->input_size = data.size();
  state->input_bytes = data;
  state->parser.reset(g_mime_parser_new_with_stream(state->input->stream.get()));
  g_mime_parser_set_format(state->parser.get(), GMIME_FORMAT_MESSAGE);
  g_mime_parser_set_persist_stream(state->parser.get(), TRUE);
  state->message.reset(g_mime_parser_construct_message(state->parser.get(), nullptr));
  if (!state->message) return Fail(ErrorCode::kParse, "not an RFC 5322 message");
  GMimeHeaderList* list = g_mime_object_get_header_list(GMIME_OBJECT(state->message.get()));
  GMimeObject* body = state->body();
  int fields = (list ? g_mime_header_list_get_count(list) : 0) +
               (body && g_mime_object_get_header_list(body)
                    ? g_mime_header_list_get_count(g_mime_object_get_header_list(body))
                    : 0);
  if (fields == 0) return Fail(ErrorCode::kParse, "not an RFC 5322 message: no header fields");
  MimeMessage m(std::move(state));
  const auto* lf = static_cast<const uint8_t*>(std::memchr(data.data(), '\n', data.size()));
  m.newline_ = (lf != nullptr && lf > data.data() && lf[-1] == '\r') ? Newline::kCrlf : Newline::kLf;
  return m;
}

std::vector<HeaderField> MimeMessage::MessageHeaders() const {
  std::vector<HeaderField> all = FieldsOf(GMIME_OBJECT(state_->message.get()));
  std::erase_if(all, [](const HeaderField& f) { return IsBodyField(f.name); });
  return all;
}

std::optional<std::string> MimeMessage::Header(std::string_view name) const {
  std::string n(name);
  const char* v = g_mime_object_get_header(GMIME_OBJECT(state_->message.get()), n.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string MimeMessage::ContentType() const {
  GMimeObject* body = state_->body();
  if (body == nullptr) return "text/plain";
  GMimeContentType* ct = g_mime_object_get_content_type(body);
  if (ct == nullptr) return "text/plain";
  return Lower(std::string(g_mime_content_type_get_media_type(ct) ?: "text") + "/" +
               (g_mime_content_type_get_media_subtype(ct) ?: "plain"));
}

std::optional<std::string> MimeMessage::ContentTypeParameter(std::string_view name) const {
  GMimeObject* body = state_->body();
  if (body == nullptr) return std::nullopt;
  std::string n(name);
  const char* v = g_mime_object_get_content_type_parameter(body, n.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

SmimeForm MimeMessage::Form() const {
  std::string type = ContentType();
  if (type == "multipart/signed") {
    std::string protocol = Lower(ContentTypeParameter("protocol").value_or(""));
    if (protocol == "application/pkcs7-signature" || protocol == "application/x-pkcs7-signature")
      return SmimeForm::kMultipartSigned;
    return SmimeForm::kPlain;
  }
  if (type != "application/pkcs7-mime" && type != "application/x-pkcs7-mime") return SmimeForm::kPlain;
  std::string smime_type = Lower(ContentTypeParameter("smime-type").value_or(""));
  if (smime_type == "signed-data") return SmimeForm::kSignedData;
  if (smime_type == "enveloped-data") return SmimeForm::kEnvelopedData;
  if (smime_type == "authenveloped-data") return SmimeForm::kAuthEnvelopedData;
  if (smime_type == "certs-only") return SmimeForm::kCertsOnly;
  if (smime_type == "compressed-data") return SmimeForm::kCompressedData;
  return SmimeForm::kPkcs7Unknown;
}

namespace {

// One delimiter line of a multipart body (RFC 2046 §5.1.1): [line, end) is "--" boundary, optional
// "--" (close delimiter), transport padding and the line break.
struct DelimiterLine {
  size_t line = 0;  // where "--boundary" starts (a line start)
  size_t end = 0;   // after its line break (or the end of the input)
  bool close = false;
};

// The first delimiter line starting at or after from (from must be a line start). Only the
// grammar's delimiters count: "--" boundary, then "--" for the close delimiter, then nothing but
// spaces and tabs up to CRLF or LF (LF alone for Unix mailboxes). A line that merely starts with
// the boundary ("--BX", "--B-x") is content, as it is for GMime and Thunderbird: otherwise the
// bytes hashed and the part a reader shows could differ.
std::optional<DelimiterLine> NextDelimiter(std::string_view raw, std::string_view dash_boundary,
                                           size_t from) {
  // Candidates are the occurrences of "--boundary" (memmem skips through a large part far faster
  // than a look at every line); one counts only at a line start.
  for (size_t line = from; line < raw.size();) {
    const void* hit = memmem(raw.data() + line, raw.size() - line, dash_boundary.data(),
                             dash_boundary.size());
    if (hit == nullptr) break;
    line = static_cast<size_t>(static_cast<const char*>(hit) - raw.data());
    if (line != from && raw[line - 1] != '\n') {
      ++line;
      continue;
    }
    DelimiterLine d{.line = line};
    size_t p = line + dash_boundary.size();
    if (raw.substr(p).starts_with("--")) {
      d.close = true;
      p += 2;
    }
    while (p < raw.size() && (raw[p] == ' ' || raw[p] == '\t')) ++p;
    if (p == raw.size()) {
      d.end = p;
      return d;
    }
    if (raw[p] == '\n') {
      d.end = p + 1;
      return d;
    }
    if (raw[p] == '\r' && p + 1 < raw.size() && raw[p + 1] == '\n') {
      d.end = p + 2;
      return d;
    }
    size_t lf = raw.find('\n', line);
    if (lf == std::string_view::npos) break;
    line = lf + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<std::array<std::string_view, 2>> MimeMessage::SignedParts() const {
  GMimeObject* body = state_->body();
  // After ParseHeaderSection GMime has not seen the parts; the strict split below counts them.
  if (body == nullptr || !GMIME_IS_MULTIPART(body) ||
      (!state_->headers_only && g_mime_multipart_get_count(GMIME_MULTIPART(body)) != 2))
    return Fail(ErrorCode::kParse,
                "multipart/signed must have exactly two parts (RFC 1847 §2.1)");
  // RFC 1847 §2.1 / RFC 2046 §5.1.1: the signed bytes are the first part exactly as received
  // between its delimiter lines (the line break before the next delimiter belongs to the
  // delimiter). Taken from the input rather than re-serialised: GMime does not reproduce every
  // structure byte for byte (it adds a line after a nested closing delimiter, for one).
  const char* b = g_mime_multipart_get_boundary(GMIME_MULTIPART(body));
  if (b == nullptr || *b == '\0')
    return Fail(ErrorCode::kParse, "multipart/signed without a boundary");
  const std::string dash_boundary = std::string("--") + b;
  std::string_view raw = AsString(RawBody());
  std::optional<DelimiterLine> d = NextDelimiter(raw, dash_boundary, 0);
  if (!d || d->close) return Fail(ErrorCode::kParse, "multipart/signed delimiter not found");
  std::array<std::string_view, 2> parts;
  for (size_t i = 0;; ++i) {
    std::optional<DelimiterLine> next = NextDelimiter(raw, dash_boundary, d->end);
    if (!next) return Fail(ErrorCode::kParse, "multipart/signed is truncated (no close delimiter)");
    // The CRLF (or LF) before the delimiter is part of the delimiter (RFC 2046 §5.1.1).
    if (next->line == d->end)
      return Fail(ErrorCode::kParse, "multipart/signed has an empty body part");
    size_t end = next->line - 1;
    if (end > d->end && raw[end - 1] == '\r') --end;
    if (i >= parts.size())
      return Fail(ErrorCode::kParse,
                  "multipart/signed must have exactly two parts (RFC 1847 §2.1)");
    parts[i] = raw.substr(d->end, end - d->end);
    d = next;
    if (d->close) {
      if (i + 1 != parts.size())
        return Fail(ErrorCode::kParse,
                    "multipart/signed must have exactly two parts (RFC 1847 §2.1)");
      return parts;
    }
  }
}

Result<Bytes> MimeMessage::SignedContent() const {
  auto parts = TRY(SignedParts());
  Bytes out;
  out.reserve(parts[0].size() + parts[0].size() / 32 + 64);
  internal::AdviseHugePages(out);
  AppendCanonical(out, AsBytes(parts[0]));
  return out;
}

ByteView MimeMessage::RawBody() const {
  gint64 end = g_mime_parser_get_headers_end(state_->parser.get());
  ByteView in = state_->input_bytes;
  size_t start = end < 0 ? in.size() : std::min(in.size(), static_cast<size_t>(end));
  if (start < in.size() && in[start] == '\r') ++start;
  if (start < in.size() && in[start] == '\n') ++start;
  return in.subspan(start);
}

Result<Bytes> MimeMessage::DetachedSignature() const {
  // The second part of the same split as SignedContent, so both come from one reading.
  auto parts = TRY(SignedParts());
  auto sig = MimeMessage::Parse(AsBytes(parts[1]));
  if (!sig) return Fail(ErrorCode::kParse, "the signature part has no header fields");
  std::string type = sig->ContentType();
  if (type != "application/pkcs7-signature" && type != "application/x-pkcs7-signature")
    return Fail(ErrorCode::kParse,
                "the second part of multipart/signed is not application/pkcs7-signature");
  return DecodedContent(sig->state_->body(), "the signature part");
}

Result<Bytes> MimeMessage::Pkcs7Body() const {
  GMimeObject* body = state_->body();
  if (body == nullptr) return Fail(ErrorCode::kParse, "the message has no body");
  if (state_->headers_only) {
    // GMime has not read the body: base64 (what every S/MIME writer uses, RFC 8551 §3.2) is
    // decoded here, in one pass over the input; anything else goes through GMime.
    if (!GMIME_IS_PART(body) ||
        g_mime_part_get_content_encoding(GMIME_PART(body)) != GMIME_CONTENT_ENCODING_BASE64) {
      MimeMessage full = TRY(Parse(state_->input_bytes));
      return full.Pkcs7Body();
    }
    Bytes der = TRY(internal::DecodeBase64Body(RawBody()));
    if (der.empty()) return Fail(ErrorCode::kParse, "the application/pkcs7-mime body is empty");
    return der;
  }
  return DecodedContent(body, "the application/pkcs7-mime body");
}

Status MimeMessage::Prepare(const PayloadOptions& options) {
  GMimeObject* body = state_->body();
  if (body == nullptr) return Fail(ErrorCode::kParse, "the message has no body");
  if (state_->prepared) {
    if (state_->prepared->seven_bit != options.seven_bit ||
        state_->prepared->protect != options.protect)
      return Fail(ErrorCode::kInternal, "the payload was already prepared differently");
    return Ok();
  }
  if (options.protect != HeaderProtection::kNone && PayloadRoot(body) != body)
    return Fail(ErrorCode::kInvalidArgument,
                "the body is already signed; its header protection cannot be changed");
  if (state_->headers_only && !state_->scan)
    return Fail(ErrorCode::kInternal, "the payload needs a message parsed with its body");
  if (state_->headers_only) {
    // The scan showed no binary part and (for seven_bit) every line 7-bit and short:
    // PrepareLeaves would change nothing.
    if (options.seven_bit && !state_->scan->seven_bit_lines)
      return Fail(ErrorCode::kInternal, "the message was parsed for another payload");
  } else {
    state_->reencoded = PrepareLeaves(body, options.seven_bit);
  }
  if (options.protect != HeaderProtection::kNone) {
    // RFC 9788 §2.1: the payload root carries hp and a copy of the message's header fields.
    GMimeHeaderList* list = g_mime_object_get_header_list(body);
    while (g_mime_header_list_contains(list, kHpOuter.data()))
      g_mime_header_list_remove(list, kHpOuter.data());
    // Bcc is never copied inside: every recipient of the payload would read it.
    for (const HeaderField& f : MessageHeaders())
      if (!IsTraceField(f.name) && !IEquals(f.name, "Bcc")) AppendRawHeader(body, f);
    g_mime_object_set_content_type_parameter(
        body, "hp", std::string(HeaderProtectionName(options.protect)).c_str());
    if (options.protect == HeaderProtection::kCipher) {
      // RFC 9788 §2.2: one HP-Outer field per field left outside (removed ones get none).
      for (const HeaderField& f : OuterHeaders(options.protect)) {
        if (IsTraceField(f.name) || IEquals(f.name, "Bcc")) continue;
        std::string value = " ";
        value.append(f.name).append(":").append(f.raw_value);
        AppendRawHeader(body, {std::string(kHpOuter), std::move(value)});
      }
    }
  }
  state_->prepared = options;
  return Ok();
}

Result<std::optional<StreamedPayload>> MimeMessage::StreamPayload(const PayloadOptions& options) {
  TRY(Prepare(options));
  if (state_->reencoded) return std::optional<StreamedPayload>();
  // No part was re-encoded: the entity is the body's header fields as GMime writes them (with
  // anything injected) and the body exactly as received, canonicalised.
  StreamedPayload p;
  p.head = HeadersText(state_->body()) + "\r\n";
  p.body = RawBody();
  if (!state_->scan) state_->scan = internal::ScanBody(p.body);
  p.bare_lf_count = state_->scan->bare_lf_count;
  p.has_our_boundary_prefix = state_->scan->has_our_boundary_prefix;
  return std::optional<StreamedPayload>(std::move(p));
}

Result<Bytes> MimeMessage::Payload(const PayloadOptions& options) {
  std::optional<StreamedPayload> p = TRY(StreamPayload(options));
  if (!p) return WriteCrlf(state_->body(), state_->input_size);
  Bytes out;
  out.reserve(p->size());
  internal::AdviseHugePages(out);
  internal::ForEachCanonicalPiece(AsBytes(p->head), p->body, p->bare_lf_count,
                                  [&out](ByteView piece) { out.insert(out.end(), piece.begin(), piece.end()); });
  return out;
}

bool StreamedPayload::MayContainDelimiter(std::string_view dash_boundary) const {
  if (head.find(dash_boundary) != std::string::npos) return true;
  if (!has_our_boundary_prefix && dash_boundary.starts_with("--=-")) return false;
  return AsString(body).find(dash_boundary) != std::string_view::npos;
}

size_t MimeMessage::input_size() const { return state_->input_size; }

std::vector<HeaderField> MimeMessage::OuterHeaders(HeaderProtection protect) const {
  std::vector<HeaderField> fields = MessageHeaders();
  if (protect != HeaderProtection::kCipher) return fields;
  // RFC 9788 §3.2.1 hcp_baseline.
  std::erase_if(fields, [](const HeaderField& f) {
    return IEquals(f.name, "Keywords") || IEquals(f.name, "Comments");
  });
  for (HeaderField& f : fields)
    if (IEquals(f.name, "Subject")) f.raw_value = std::string(" ").append(kObscuredSubject);
  return fields;
}

HeaderProtection MimeMessage::PayloadProtection() const {
  HeaderProtection hp = HeaderProtection::kNone;
  PayloadRootFields(0, &hp, nullptr);
  return hp;
}

std::vector<HeaderField> MimeMessage::ProtectedHeaders() const {
  HeaderProtection hp = HeaderProtection::kNone;
  std::vector<HeaderField> fields;
  PayloadRootFields(0, &hp, &fields);
  if (hp == HeaderProtection::kNone) return {};
  return fields;
}

void MimeMessage::PayloadRootFields(int depth, HeaderProtection* hp,
                                    std::vector<HeaderField>* fields) const {
  GMimeObject* body = state_->body();
  if (body == nullptr) return;
  if (GMIME_IS_MULTIPART_SIGNED(body)) {
    // RFC 9788 §4: the payload root is the signed part. Read from the bytes that are hashed
    // (SignedContent), not from GMime's first part: the two can differ on a crafted message, and
    // what is shown must be what the signature covers. Nesting is bounded (each level re-parses).
    constexpr int kMaxNesting = 8;
    if (depth >= kMaxNesting) return;
    auto content = SignedContent();
    if (!content) return;
    auto inner = MimeMessage::ParseHeaderSection(*content);
    if (!inner) return;
    inner->PayloadRootFields(depth + 1, hp, fields);
    return;
  }
  const char* value = g_mime_object_get_content_type_parameter(body, "hp");
  std::string v = Lower(value != nullptr ? value : "");
  *hp = v == "cipher"  ? HeaderProtection::kCipher
        : v == "clear" ? HeaderProtection::kClear
                       : HeaderProtection::kNone;
  if (fields == nullptr) return;
  // At the top of a parsed message GMime keeps only the Content-* fields on the body; the
  // others are the message's.
  *fields = FieldsOf(GMIME_OBJECT(state_->message.get()));
  std::erase_if(*fields, [](const HeaderField& f) {
    return IsBodyField(f.name) || IEquals(f.name, kHpOuter);
  });
}

Result<MultipartSignedFrame> BuildMultipartSignedFrame(
    const std::vector<HeaderField>& outer, ByteView signature_der, std::string_view micalg,
    const std::function<bool(std::string_view dash_boundary)>& occurs) {
  InitGmime();
  // RFC 2046 §5.1.1: the boundary must not occur in the parts (ours are random; make sure).
  std::string boundary = NewBoundary();
  for (int tries = 0; occurs("--" + boundary); ++tries) {
    if (tries == 8) return Fail(ErrorCode::kInternal, "no usable multipart boundary");
    boundary = NewBoundary();
  }
  const std::string delimiter = "\r\n--" + boundary;
  // The header fields are copied as written; GMime encodes the Content-Type. The RFC 1847 frame
  // is written around the signed entity so that it appears byte for byte as it was hashed.
  MultipartSignedFrame frame;
  AppendOuterHeaders(frame.prefix, outer);
  // RFC 8551 §3.5.3: protocol and micalg are required parameters.
  AppendContentType(frame.prefix, "multipart", "signed",
                    {{"protocol", "application/pkcs7-signature"},
                     {"micalg", std::string(micalg)},
                     {"boundary", boundary}});
  Append(frame.prefix, delimiter + "\r\n");
  Bytes& out = frame.suffix;
  out.reserve(signature_der.size() * 4 / 3 + 512);
  Append(out, delimiter + "\r\n");
  AppendContentType(out, "application", "pkcs7-signature", {{"name", "smime.p7s"}});
  Append(out,
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n");
  internal::AppendBase64Lines(out, signature_der);
  Append(out, delimiter + "--\r\n");
  return frame;
}

Result<Bytes> BuildMultipartSigned(const std::vector<HeaderField>& outer, ByteView signed_entity,
                                   ByteView signature_der, std::string_view micalg,
                                   Newline newline) {
  std::string_view entity = AsString(signed_entity);
  MultipartSignedFrame frame = TRY(BuildMultipartSignedFrame(
      outer, signature_der, micalg,
      [entity](std::string_view b) { return entity.find(b) != std::string_view::npos; }));
  Bytes out;
  out.reserve(frame.prefix.size() + signed_entity.size() + frame.suffix.size());
  out.insert(out.end(), frame.prefix.begin(), frame.prefix.end());
  out.insert(out.end(), signed_entity.begin(), signed_entity.end());
  out.insert(out.end(), frame.suffix.begin(), frame.suffix.end());
  if (newline == Newline::kLf) CrlfToLf(out);
  return out;
}

Bytes Pkcs7MimeHead(const std::vector<HeaderField>& outer, std::string_view smime_type,
                    Newline newline) {
  InitGmime();
  Bytes out;
  AppendOuterHeaders(out, outer);
  AppendContentType(out, "application", "pkcs7-mime",
                    {{"smime-type", std::string(smime_type)}, {"name", "smime.p7m"}});
  Append(out,
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=smime.p7m\r\n\r\n");
  if (newline == Newline::kLf) CrlfToLf(out);
  return out;
}

Result<Bytes> BuildPkcs7Mime(const std::vector<HeaderField>& outer, std::string_view smime_type,
                             ByteView der, Newline newline) {
  Bytes out = Pkcs7MimeHead(outer, smime_type, newline);
  internal::AppendBase64Lines(out, der, newline == Newline::kCrlf);
  return out;
}

Bytes ComposeMessage(const std::vector<HeaderField>& headers, ByteView entity, Newline newline) {
  std::string head;
  // The entity's own header section may already say MIME-Version.
  std::string_view text = AsString(entity);
  size_t end = text.find("\r\n\r\n");
  std::string entity_head = Lower(text.substr(0, end == std::string_view::npos ? 0 : end + 2));
  bool has_version = entity_head.starts_with("mime-version:") ||
                     entity_head.find("\nmime-version:") != std::string::npos;
  for (const HeaderField& f : headers) {
    if (IEquals(f.name, "MIME-Version")) has_version = true;
    head.append(f.name).append(":").append(ToCrlf(f.raw_value)).append("\r\n");
  }
  if (!has_version) head += "MIME-Version: 1.0\r\n";
  Bytes out;
  out.reserve(head.size() + entity.size());
  internal::AdviseHugePages(out);
  out.insert(out.end(), head.begin(), head.end());
  out.insert(out.end(), entity.begin(), entity.end());
  if (newline == Newline::kLf) CrlfToLf(out);
  return out;
}

namespace {
void CollectAddresses(InternetAddressList* list, std::vector<std::string>& out) {
  if (list == nullptr) return;
  int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      if (addr != nullptr && std::strchr(addr, '@') != nullptr) out.emplace_back(addr);
    } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
      CollectAddresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out);
    }
  }
}
}  // namespace

std::vector<std::string> ParseAddresses(std::string_view header_value) {
  InitGmime();
  std::vector<std::string> out;
  std::string value(header_value);
  GPtr<InternetAddressList> list(internet_address_list_parse(nullptr, value.c_str()));
  CollectAddresses(list.get(), out);
  return out;
}

std::vector<HeaderField> TraceFields(const std::vector<HeaderField>& fields) {
  std::vector<HeaderField> out;
  for (const HeaderField& f : fields)
    if (IsTraceField(f.name)) out.push_back(f);
  return out;
}

void ConvertLineEndings(Bytes& data, Newline newline) {
  if (newline == Newline::kLf) CrlfToLf(data);
}

void SetHeader(std::vector<HeaderField>& headers, std::string_view name, std::string_view value) {
  for (HeaderField& f : headers) {
    if (IEquals(f.name, name)) {
      f.raw_value = std::string(" ").append(value);
      return;
    }
  }
  headers.push_back({std::string(name), std::string(" ").append(value)});
}

}  // namespace autoseal::smime
