#include "smime/mime.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace autoseal::smime {
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

Bytes StreamBytes(GMimeStream* stream) {
  GByteArray* ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
  return Bytes(ba->data, ba->data + ba->len);
}

// Writes object in canonical CRLF form. GMime's DOS newline format covers headers and what it
// encodes, not raw preambles, epilogues and 7-bit content, so a unix2dos filter makes sure.
Result<Bytes> WriteCrlf(GMimeObject* object) {
  GPtr<GMimeStream> out(g_mime_stream_mem_new());
  GPtr<GMimeStream> filtered(g_mime_stream_filter_new(out.get()));
  GPtr<GMimeFilter> unix2dos(g_mime_filter_unix2dos_new(FALSE));
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), unix2dos.get());
  if (g_mime_object_write_to_stream(object, CrlfOptions(), filtered.get()) < 0 ||
      g_mime_stream_flush(filtered.get()) < 0)
    return Fail(ErrorCode::kInternal, "cannot serialise a MIME entity");
  return StreamBytes(out.get());
}

// The decoded content of a leaf part (base64/QP undone).
Result<Bytes> DecodedContent(GMimeObject* object, std::string_view what) {
  if (!GMIME_IS_PART(object)) return Fail(ErrorCode::kParse, std::string(what) + " is not a leaf part");
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
  if (content == nullptr) return Fail(ErrorCode::kParse, std::string(what) + " has no content");
  GPtr<GMimeStream> out(g_mime_stream_mem_new());
  if (g_mime_data_wrapper_write_to_stream(content, out.get()) < 0)
    return Fail(ErrorCode::kParse, std::string(what) + " cannot be decoded");
  Bytes bytes = StreamBytes(out.get());
  if (bytes.empty()) return Fail(ErrorCode::kParse, std::string(what) + " is empty");
  return bytes;
}

// RFC 8551 §3.1.2: leaves that are not 7-bit clean get quoted-printable (mostly text) or base64.
void MakeSevenBit(GMimeObject* object) {
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart* mp = GMIME_MULTIPART(object);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; ++i) MakeSevenBit(g_mime_multipart_get_part(mp, i));
  } else if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    if (inner != nullptr && g_mime_message_get_mime_part(inner) != nullptr)
      MakeSevenBit(g_mime_message_get_mime_part(inner));
  } else if (GMIME_IS_PART(object)) {
    GMimePart* part = GMIME_PART(object);
    switch (g_mime_part_get_content_encoding(part)) {
      case GMIME_CONTENT_ENCODING_BASE64:
      case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
      case GMIME_CONTENT_ENCODING_UUENCODE:
        return;  // already 7-bit
      default:
        break;
    }
    if (g_mime_part_get_content(part) == nullptr) return;
    GMimeContentEncoding best =
        g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT);
    if (best != GMIME_CONTENT_ENCODING_7BIT) g_mime_part_set_content_encoding(part, best);
  }
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

GPtr<GMimeMessage> NewMessage(const std::vector<HeaderField>& outer) {
  GPtr<GMimeMessage> message(g_mime_message_new(FALSE));
  for (const HeaderField& f : outer)
    if (!IsBodyField(f.name)) AppendRawHeader(GMIME_OBJECT(message.get()), f);
  g_mime_object_set_header(GMIME_OBJECT(message.get()), "MIME-Version", "1.0", nullptr);
  return message;
}

Result<Bytes> WriteMessage(GMimeMessage* message, Newline newline) {
  Bytes out = TRY(WriteCrlf(GMIME_OBJECT(message)));
  if (newline == Newline::kLf) CrlfToLf(out);
  return out;
}

// A leaf part whose content is bytes (kept as they are, written base64-encoded).
GPtr<GMimePart> Base64Part(const char* type, const char* subtype, BorrowedStream& content) {
  GPtr<GMimePart> part(g_mime_part_new_with_type(type, subtype));
  GPtr<GMimeDataWrapper> wrapper(
      g_mime_data_wrapper_new_with_stream(content.stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(part.get(), wrapper.get());
  g_mime_part_set_content_encoding(part.get(), GMIME_CONTENT_ENCODING_BASE64);
  return part;
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

Result<MimeMessage> MimeMessage::Parse(ByteView data) {
  InitGmime();
  if (data.empty()) return Fail(ErrorCode::kParse, "the message is empty");
  if (data.size() > kMaxMessageBytes)
    return Fail(ErrorCode::kParse, "the message is larger than the limit of " +
                                       std::to_string(kMaxMessageBytes) + " bytes");
  auto state = std::make_unique<State>();
  state->input = std::make_unique<BorrowedStream>(data);
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

Result<Bytes> MimeMessage::SignedContent() const {
  GMimeObject* body = state_->body();
  if (body == nullptr || !GMIME_IS_MULTIPART(body) ||
      g_mime_multipart_get_count(GMIME_MULTIPART(body)) != 2)
    return Fail(ErrorCode::kParse,
                "multipart/signed must have exactly two parts (RFC 1847 §2.1)");
  return WriteCrlf(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0));
}

Result<Bytes> MimeMessage::DetachedSignature() const {
  GMimeObject* body = state_->body();
  if (body == nullptr || !GMIME_IS_MULTIPART(body) ||
      g_mime_multipart_get_count(GMIME_MULTIPART(body)) != 2)
    return Fail(ErrorCode::kParse,
                "multipart/signed must have exactly two parts (RFC 1847 §2.1)");
  GMimeObject* sig = g_mime_multipart_get_part(GMIME_MULTIPART(body), 1);
  GMimeContentType* ct = g_mime_object_get_content_type(sig);
  std::string subtype = Lower(ct ? (g_mime_content_type_get_media_subtype(ct) ?: "") : "");
  if (subtype != "pkcs7-signature" && subtype != "x-pkcs7-signature")
    return Fail(ErrorCode::kParse, "the second part of multipart/signed is not application/pkcs7-signature");
  return DecodedContent(sig, "the signature part");
}

Result<Bytes> MimeMessage::Pkcs7Body() const {
  GMimeObject* body = state_->body();
  if (body == nullptr) return Fail(ErrorCode::kParse, "the message has no body");
  return DecodedContent(body, "the application/pkcs7-mime body");
}

Result<Bytes> MimeMessage::Payload(const PayloadOptions& options) {
  GMimeObject* body = state_->body();
  if (body == nullptr) return Fail(ErrorCode::kParse, "the message has no body");
  if (options.seven_bit) MakeSevenBit(body);
  if (options.protect != HeaderProtection::kNone) {
    GMimeObject* root = PayloadRoot(body);
    if (root != body)
      return Fail(ErrorCode::kInvalidArgument,
                  "the body is already signed; its header protection cannot be changed");
    // RFC 9788 §2.1: the payload root carries hp and a copy of the message's header fields.
    GMimeHeaderList* list = g_mime_object_get_header_list(root);
    while (g_mime_header_list_contains(list, kHpOuter.data()))
      g_mime_header_list_remove(list, kHpOuter.data());
    std::vector<HeaderField> fields = MessageHeaders();
    for (const HeaderField& f : fields)
      if (!IsTraceField(f.name)) AppendRawHeader(root, f);
    g_mime_object_set_content_type_parameter(
        root, "hp", std::string(HeaderProtectionName(options.protect)).c_str());
    if (options.protect == HeaderProtection::kCipher) {
      // RFC 9788 §2.2: one HP-Outer field per field left outside (removed ones get none).
      for (const HeaderField& f : OuterHeaders(options.protect)) {
        if (IsTraceField(f.name)) continue;
        std::string value = " ";
        value.append(f.name).append(":").append(f.raw_value);
        AppendRawHeader(root, {std::string(kHpOuter), std::move(value)});
      }
    }
  }
  return WriteCrlf(body);
}

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
  GMimeObject* root = PayloadRoot(state_->body());
  if (root == nullptr) return HeaderProtection::kNone;
  const char* hp = g_mime_object_get_content_type_parameter(root, "hp");
  if (hp == nullptr) return HeaderProtection::kNone;
  std::string v = Lower(hp);
  if (v == "cipher") return HeaderProtection::kCipher;
  if (v == "clear") return HeaderProtection::kClear;
  return HeaderProtection::kNone;
}

std::vector<HeaderField> MimeMessage::ProtectedHeaders() const {
  GMimeObject* root = PayloadRoot(state_->body());
  if (root == nullptr || PayloadProtection() == HeaderProtection::kNone) return {};
  std::vector<HeaderField> fields = FieldsOf(root);
  std::erase_if(fields, [](const HeaderField& f) {
    return IsBodyField(f.name) || IEquals(f.name, kHpOuter);
  });
  return fields;
}

Result<Bytes> BuildMultipartSigned(const std::vector<HeaderField>& outer, ByteView signed_entity,
                                   ByteView signature_der, std::string_view micalg,
                                   Newline newline) {
  InitGmime();
  // Borrowed streams first: everything GMime builds below refers to them.
  BorrowedStream entity_stream(signed_entity);
  BorrowedStream sig_stream(signature_der);
  GPtr<GMimeMessage> message = NewMessage(outer);
  GPtr<GMimeMultipartSigned> mps(g_mime_multipart_signed_new());
  GMimeObject* mpo = GMIME_OBJECT(mps.get());
  // RFC 8551 §3.5.3: protocol and micalg are required parameters.
  g_mime_object_set_content_type_parameter(mpo, "protocol", "application/pkcs7-signature");
  g_mime_object_set_content_type_parameter(mpo, "micalg", std::string(micalg).c_str());
  g_mime_multipart_set_boundary(GMIME_MULTIPART(mpo), nullptr);

  // The signed entity, re-read from the exact bytes that were hashed; GMime writes a parsed
  // entity back byte for byte.
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(entity_stream.stream.get()));
  GPtr<GMimeObject> content(g_mime_parser_construct_part(parser.get(), nullptr));
  if (!content) return Fail(ErrorCode::kInternal, "the signed entity does not parse back");
  g_mime_multipart_add(GMIME_MULTIPART(mpo), content.get());

  GPtr<GMimePart> sig = Base64Part("application", "pkcs7-signature", sig_stream);
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(sig.get()), "name", "smime.p7s");
  g_mime_object_set_content_disposition(
      GMIME_OBJECT(sig.get()), GPtr<GMimeContentDisposition>(g_mime_content_disposition_parse(
                                   nullptr, "attachment; filename=smime.p7s"))
                                   .get());
  g_mime_multipart_add(GMIME_MULTIPART(mpo), GMIME_OBJECT(sig.get()));
  g_mime_message_set_mime_part(message.get(), mpo);
  return WriteMessage(message.get(), newline);
}

Result<Bytes> BuildPkcs7Mime(const std::vector<HeaderField>& outer, std::string_view smime_type,
                             ByteView der, Newline newline) {
  InitGmime();
  BorrowedStream der_stream(der);
  GPtr<GMimeMessage> message = NewMessage(outer);
  GPtr<GMimePart> part = Base64Part("application", "pkcs7-mime", der_stream);
  GMimeObject* po = GMIME_OBJECT(part.get());
  g_mime_object_set_content_type_parameter(po, "smime-type", std::string(smime_type).c_str());
  g_mime_object_set_content_type_parameter(po, "name", "smime.p7m");
  g_mime_object_set_content_disposition(
      po, GPtr<GMimeContentDisposition>(
              g_mime_content_disposition_parse(nullptr, "attachment; filename=smime.p7m"))
              .get());
  g_mime_message_set_mime_part(message.get(), po);
  return WriteMessage(message.get(), newline);
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
