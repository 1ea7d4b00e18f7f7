#include "smime/message.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "smime/internal/stream.h"

namespace autoseal::smime {
namespace {

std::string LowerAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Signing over a body that is already signed wraps it; its signed part keeps its own header
// protection (RFC 9788 puts hp on the innermost payload, which we cannot change).
bool AlreadySigned(SmimeForm form) {
  return form == SmimeForm::kMultipartSigned || form == SmimeForm::kSignedData;
}

Result<Bytes> EncryptEntity(ByteView entity, const EncryptMessageOptions& options,
                            EncryptionPlan* plan) {
  if (options.recipients.empty())
    return Fail(ErrorCode::kInvalidArgument, "no recipients to encrypt to");
  auto stream = TRY(BeginEncrypt(options.recipients, options.cms, entity.size()));
  Bytes der;
  der.reserve(entity.size() + 4096);
  TRY(stream->Update(entity, &der));
  TRY(stream->Finish(&der));
  *plan = stream->plan();
  return der;
}

// The detached SignedData over the payload.
Result<Bytes> SignDetached(ByteView entity, const SignMessageOptions& options) {
  SignOptions so;
  so.detached = true;
  so.signing_time = options.signing_time;
  so.postmark = options.postmark;
  return options.signer->Sign(entity, so);
}

// The signed entity as a message: with protected header fields (RFC 9788 §4) they replace the
// outer ones (trace fields stay); sets the report's protection and protected_headers.
Bytes SignedEntityAsMessage(const MimeMessage& mime, ByteView entity, MessageVerifyReport& report) {
  std::vector<HeaderField> headers = mime.MessageHeaders();
  auto inner = MimeMessage::ParseHeaderSection(entity);
  if (inner && inner->PayloadProtection() != HeaderProtection::kNone) {
    report.protection = inner->PayloadProtection();
    report.protected_headers = inner->ProtectedHeaders();
    headers = TraceFields(headers);
  }
  return ComposeMessage(headers, entity, mime.newline());
}

// SignAndEncryptMessage without copies of the message: one pass hashes the canonical payload as
// it is produced piece by piece from the input; a second runs the multipart/signed entity (frame,
// payload, signature part) through the cipher in cache-sized pieces and base64 straight into the
// output. The envelope is DER as before: the signature is known before the second pass, so the
// plaintext length is. nullopt when a part was re-encoded (GMime must write the body).
Result<std::optional<EncryptedMessage>> SignAndEncryptStreamed(MimeMessage& mime,
                                                               HeaderProtection protect,
                                                               const SignMessageOptions& sign,
                                                               const EncryptMessageOptions& encrypt) {
  std::optional<StreamedPayload> payload =
      TRY(mime.StreamPayload({.seven_bit = true, .protect = protect}));
  if (!payload) return std::optional<EncryptedMessage>();
  if (encrypt.recipients.empty())
    return Fail(ErrorCode::kInvalidArgument, "no recipients to encrypt to");
  auto each_piece = [&payload](const std::function<void(ByteView)>& fn) {
    internal::ForEachCanonicalPiece(AsBytes(payload->head), payload->body, payload->bare_lf_count,
                                    fn);
  };

  std::unique_ptr<SignStream> signer =
      sign.signer->Begin({.detached = true, .signing_time = sign.signing_time,
                          .postmark = sign.postmark});
  Bytes signature;
  each_piece([&](ByteView piece) { signer->Update(piece, &signature); });
  TRY(signer->Finish(&signature));
  // The multipart/signed entity (no message header fields) is what gets encrypted.
  MultipartSignedFrame frame = TRY(BuildMultipartSignedFrame(
      {}, signature, MicAlg(sign.signer->digest()),
      [&payload](std::string_view b) { return payload->MayContainDelimiter(b); }));

  const size_t plaintext = frame.prefix.size() + payload->size() + frame.suffix.size();
  auto cipher = TRY(BeginEncrypt(encrypt.recipients, encrypt.cms, plaintext));
  EncryptedMessage out;
  out.plan = cipher->plan();
  const Newline newline = mime.newline();
  Bytes head = Pkcs7MimeHead(mime.OuterHeaders(protect), SmimeType(out.plan.type), newline);
  // The DER around the ciphertext: the RecipientInfos (an RSA-4096 one is under 700 bytes, an
  // ECDH one under 300) and at most a block of padding and a GCM tag; a guess too low only
  // costs one reallocation.
  const size_t der_estimate = plaintext + 1024 + 1024 * encrypt.recipients.size();
  out.message.reserve(head.size() + internal::Base64Lines::EncodedSize(der_estimate));
  internal::AdviseHugePages(out.message);
  out.message.insert(out.message.end(), head.begin(), head.end());

  internal::Base64Lines base64(newline == Newline::kCrlf);
  Bytes block;
  block.reserve(internal::kCanonicalPiece + 4096);
  Status status = Ok();
  auto encrypt_piece = [&](ByteView piece) {
    if (!status) return;
    block.clear();
    status = cipher->Update(piece, &block);
    if (status) base64.Append(block, out.message);
  };
  encrypt_piece(frame.prefix);
  each_piece(encrypt_piece);
  encrypt_piece(frame.suffix);
  TRY(status);
  block.clear();
  TRY(cipher->Finish(&block));
  base64.Append(block, out.message);
  base64.Finish(out.message);
  return std::optional<EncryptedMessage>(std::move(out));
}

}  // namespace

Result<Bytes> SignMessage(ByteView message, const SignMessageOptions& options) {
  if (!options.signer) return Fail(ErrorCode::kInvalidArgument, "no signer");
  MimeMessage mime = TRY(MimeMessage::ParseToProtect(message, !options.opaque));
  PayloadOptions payload;
  // RFC 8551 §3.1.2: multipart/signed travels as is, so its first part must be 7-bit safe; an
  // opaque signature is binary CMS and carries 8-bit content unharmed.
  payload.seven_bit = !options.opaque;
  payload.protect = options.protect_headers && !AlreadySigned(mime.Form())
                        ? HeaderProtection::kClear
                        : HeaderProtection::kNone;
  std::vector<HeaderField> outer = mime.OuterHeaders(HeaderProtection::kNone);
  if (options.opaque) {
    Bytes entity = TRY(mime.Payload(payload));
    SignOptions so;
    so.detached = false;
    so.signing_time = options.signing_time;
    so.postmark = options.postmark;
    Bytes der = TRY(options.signer->Sign(entity, so));
    return BuildPkcs7Mime(outer, "signed-data", der, mime.newline());
  }
  Bytes entity = TRY(mime.Payload(payload));
  Bytes der = TRY(SignDetached(entity, options));
  return BuildMultipartSigned(outer, entity, der, MicAlg(options.signer->digest()),
                              mime.newline());
}

Result<EncryptedMessage> EncryptMessage(ByteView message, const EncryptMessageOptions& options) {
  MimeMessage mime = TRY(MimeMessage::ParseToProtect(message, /*seven_bit=*/false));
  HeaderProtection protect = options.protect_headers && !AlreadySigned(mime.Form())
                                 ? HeaderProtection::kCipher
                                 : HeaderProtection::kNone;
  Bytes entity = TRY(mime.Payload({.seven_bit = false, .protect = protect}));
  EncryptedMessage out;
  Bytes der = TRY(EncryptEntity(entity, options, &out.plan));
  out.message = TRY(BuildPkcs7Mime(mime.OuterHeaders(protect), SmimeType(out.plan.type), der,
                                   mime.newline()));
  return out;
}

Result<EncryptedMessage> SignAndEncryptMessage(ByteView message, const SignMessageOptions& sign,
                                               const EncryptMessageOptions& encrypt) {
  if (!sign.signer) return Fail(ErrorCode::kInvalidArgument, "no signer");
  MimeMessage mime = TRY(MimeMessage::ParseToProtect(message, /*seven_bit=*/true));
  // RFC 9788 §2: the signed part is the Cryptographic Payload; hp="cipher" because the whole
  // is encrypted, and the outer Subject is obscured.
  HeaderProtection protect = (sign.protect_headers || encrypt.protect_headers) &&
                                     !AlreadySigned(mime.Form())
                                 ? HeaderProtection::kCipher
                                 : HeaderProtection::kNone;
  std::optional<EncryptedMessage> streamed =
      TRY(SignAndEncryptStreamed(mime, protect, sign, encrypt));
  if (streamed) return std::move(*streamed);
  // A part was re-encoded: GMime writes the payload, which is signed and encrypted in memory.
  Bytes entity = TRY(mime.Payload({.seven_bit = true, .protect = protect}));
  Bytes der = TRY(SignDetached(entity, sign));
  // The multipart/signed entity (no message header fields) is what gets encrypted.
  Bytes signed_entity = TRY(BuildMultipartSigned({}, entity, der, MicAlg(sign.signer->digest()),
                                                 Newline::kCrlf));
  entity = Bytes();
  EncryptedMessage out;
  Bytes envelope = TRY(EncryptEntity(signed_entity, encrypt, &out.plan));
  signed_entity = Bytes();
  out.message = TRY(BuildPkcs7Mime(mime.OuterHeaders(protect), SmimeType(out.plan.type), envelope,
                                   mime.newline()));
  return out;
}

Result<DecryptedMessage> DecryptMessage(ByteView message, const x509::Certificate& certificate,
                                        const crypto::PrivateKey& key) {
  MimeMessage mime = TRY(MimeMessage::ParseHeaderSection(message));
  SmimeForm form = mime.Form();
  if (form != SmimeForm::kEnvelopedData && form != SmimeForm::kAuthEnvelopedData &&
      form != SmimeForm::kPkcs7Unknown)
    return Fail(ErrorCode::kParse, "the message is not encrypted (its body is " +
                                       std::string(SmimeFormName(form)) + ")");
  Bytes der = TRY(mime.Pkcs7Body());
  DecryptedMessage out;
  out.info = TRY(Decrypt(der, certificate, key));
  std::vector<HeaderField> outer = mime.MessageHeaders();
  std::vector<HeaderField> headers;
  // RFC 9788 §4: with protected header fields inside, they replace the outer ones.
  auto inner = MimeMessage::ParseHeaderSection(out.info.content);
  if (inner && inner->PayloadProtection() != HeaderProtection::kNone) {
    out.protection = inner->PayloadProtection();
    headers = TraceFields(outer);
    // The payload root is the entity itself (its fields are already on top) or the first part
    // of a multipart/signed (its fields are lifted to the top).
    if (inner->MessageHeaders().empty()) {
      for (HeaderField& f : inner->ProtectedHeaders()) headers.push_back(std::move(f));
    }
  } else {
    headers = std::move(outer);
  }
  out.message = ComposeMessage(headers, out.info.content, mime.newline());
  return out;
}

bool MessageVerifyReport::ok() const {
  return !malformed && cms.ok() && from_matches_signer;
}

std::vector<std::string> MessageVerifyReport::Problems() const {
  std::vector<std::string> out;
  if (malformed) {
    out.push_back(*malformed);
    return out;
  }
  out = cms.Problems();
  if (!cms.signers.empty() && cms.signers.front().certificate && !from_matches_signer) {
    std::vector<std::string> emails = cms.signers.front().certificate->EmailAddresses();
    std::string list;
    for (const std::string& e : emails) list += (list.empty() ? "" : ", ") + e;
    out.push_back(from.empty()
                      ? "the message has no From address to match the signer"
                      : "From address " + from +
                            " is not (all) in the signer certificate (RFC 8550 §3; it has " +
                            (list.empty() ? std::string("none") : list) + ")");
  }
  return out;
}

MessageVerifyReport VerifyMessage(ByteView message, const VerifyOptions& verify_options) {
  MessageVerifyReport report;
  // RFC 8550 §4.4: a message signer's certificate must be one for S/MIME signing, unless the
  // caller explicitly says otherwise.
  VerifyOptions options = verify_options;
  if (!options.check_signer_purpose) options.check_signer_purpose = true;
  auto mime = MimeMessage::ParseHeaderSection(message);
  if (!mime) {
    report.malformed = mime.error().message();
    return report;
  }
  report.form = mime->Form();
  std::optional<std::string> from = mime->Header("From");
  switch (report.form) {
    case SmimeForm::kMultipartSigned: {
      auto content = mime->SignedContent();
      if (!content) {
        report.malformed = content.error().message();
        return report;
      }
      auto signature = mime->DetachedSignature();
      if (!signature) {
        report.malformed = signature.error().message();
        return report;
      }
      report.cms = Verify(*signature, ByteView(*content), options);
      // RFC 1847 §2.1 / RFC 8551 §3.5.3: the second part is a detached signature over the first.
      // An opaque SignedData there would vouch for its own eContent, not for the first part.
      if (!report.cms.malformed && !report.cms.detached) {
        report.malformed =
            "the signature part of multipart/signed encapsulates content: it must be a detached "
            "signature over the first part (RFC 8551 §3.5.3)";
        return report;
      }
      if (report.cms.malformed) break;
      // What the signature covers is the extracted (hashed) entity: its header fields, hp and
      // From are read from those bytes, never from GMime's view of the first part.
      report.content = SignedEntityAsMessage(*mime, *content, report);
      break;
    }
    case SmimeForm::kSignedData:
    case SmimeForm::kPkcs7Unknown: {
      auto der = mime->Pkcs7Body();
      if (!der) {
        report.malformed = der.error().message();
        return report;
      }
      auto type = DetectType(*der);
      if (type && *type != CmsType::kSignedData && *type != CmsType::kSm2SignedData) {
        report.malformed = "the message is encrypted: decrypt it first";
        return report;
      }
      report.cms = Verify(*der, std::nullopt, options);
      if (report.cms.malformed) break;
      report.content = SignedEntityAsMessage(*mime, report.cms.content, report);
      break;
    }
    case SmimeForm::kEnvelopedData:
    case SmimeForm::kAuthEnvelopedData:
      report.malformed = "the message is encrypted: decrypt it first";
      return report;
    default:
      report.malformed = "the message is not signed (its body is " + mime->ContentType() + ")";
      return report;
  }
  // RFC 9788 §4: the protected From is the one the signature vouches for.
  for (const HeaderField& f : report.protected_headers) {
    if (LowerAscii(f.name) == "from") {
      from = f.raw_value;
      break;
    }
  }
  // RFC 8550 §3: every mailbox in From must be one of the signer's; with "From: alice, mallory"
  // checking only the first would let the signature vouch for mallory too.
  std::vector<std::string> addrs;
  if (from) {
    addrs = ParseAddresses(*from);
    if (addrs.empty() && !from->empty()) addrs.push_back(*from);
  }
  for (const std::string& a : addrs) report.from.append(report.from.empty() ? "" : ", ").append(a);
  if (!report.cms.signers.empty() && report.cms.signers.front().certificate && !addrs.empty()) {
    std::vector<std::string> emails = report.cms.signers.front().certificate->EmailAddresses();
    report.from_matches_signer = std::all_of(addrs.begin(), addrs.end(), [&](const std::string& a) {
      return std::any_of(emails.begin(), emails.end(),
                         [&](const std::string& e) { return LowerAscii(e) == LowerAscii(a); });
    });
  }
  return report;
}

}  // namespace autoseal::smime
