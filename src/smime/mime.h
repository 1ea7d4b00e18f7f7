#pragma once

// The MIME side of S/MIME (RFC 8551 §3): parsing a message with GMime, producing the canonical
// (CRLF) bytes that get signed or encrypted, RFC 9788 header protection, and building
// multipart/signed and application/pkcs7-mime messages. No cryptography here: smime/cms.h signs
// and encrypts the bytes this file produces. GMime objects never leave this file's implementation;
// every GMime object is held by an owner that drops its reference.

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::smime {

// The largest message the S/MIME layer accepts (every input is bounded).
inline constexpr size_t kMaxMessageBytes = size_t{512} << 20;

// Line endings of a message on the wire or in a file. Canonical form is always CRLF (RFC 8551
// §3.1.1); output follows the input's convention so a Unix mbox stays LF.
enum class Newline { kLf, kCrlf };

// One header field as written: the name and the raw value after the colon (leading white space
// and folding kept, the final line break dropped).
struct HeaderField {
  std::string name;
  std::string raw_value;
};

// What a message's top-level body is in S/MIME terms (RFC 8551 §3.2 smime-type, §3.5).
enum class SmimeForm {
  kPlain,              // not S/MIME
  kMultipartSigned,    // multipart/signed; protocol="application/pkcs7-signature"
  kSignedData,         // application/pkcs7-mime; smime-type=signed-data
  kEnvelopedData,      // ... smime-type=enveloped-data
  kAuthEnvelopedData,  // ... smime-type=authEnveloped-data (RFC 5083)
  kCertsOnly,          // ... smime-type=certs-only
  kCompressedData,     // ... smime-type=compressed-data
  kPkcs7Unknown,       // application/pkcs7-mime without a usable smime-type (structure decides)
};
std::string_view SmimeFormName(SmimeForm form);

// RFC 9788 §2.1: the hp parameter on the Cryptographic Payload's Content-Type says whether the
// injected header fields were encrypted ("cipher") or only signed ("clear").
enum class HeaderProtection { kNone, kClear, kCipher };
std::string_view HeaderProtectionName(HeaderProtection hp);

// RFC 9788 §3.2.1 hcp_baseline: the outer Subject becomes "[...]", Keywords and Comments are
// dropped; every other field is copied. Applied only when encrypting.
inline constexpr std::string_view kObscuredSubject = "[...]";

// How the body of a message becomes the entity that is signed or encrypted.
struct PayloadOptions {
  // RFC 8551 §3.1.2: re-encode 8-bit and binary leaves as quoted-printable (text) or base64 so
  // the signed bytes survive 7-bit transport. Needed for multipart/signed; CMS envelopes are
  // binary-safe, so encryption and opaque signing leave 8-bit parts as they are. Parts with
  // Content-Transfer-Encoding binary become base64 either way: canonicalisation to CRLF (RFC 8551
  // §3.1.1) is for text and would change their bytes. Nothing inside a multipart/signed entity is
  // re-encoded: its signature covers those bytes.
  bool seven_bit = false;
  // RFC 9788 §2: copy the message's header fields into the payload root and mark it with hp.
  HeaderProtection protect = HeaderProtection::kNone;
};

// Payload() in the pieces a streaming writer reads, without the copy: `head` is the body's header
// fields as GMime writes them (with anything injected) and the blank line, CRLF; then comes
// `body`, the input after the message's header section, whose canonical form has a CR before
// each of its `bare_lf_count` bare LFs (RFC 8551 §3.1.1; internal::ForEachCanonicalPiece
// produces it).
// `body` borrows the parsed input.
struct StreamedPayload {
  std::string head;
  ByteView body;
  size_t bare_lf_count = 0;
  // Some body line starts "--=-" (the prefix of our boundaries, see MayContainDelimiter).
  bool has_our_boundary_prefix = false;
  // The size of the canonical payload.
  size_t size() const { return head.size() + body.size() + bare_lf_count; }
  // Whether dash_boundary ("--" and a boundary of ours) may occur in the payload (RFC 2046
  // §5.1.1: then it cannot delimit it). Searches the body only when a line starts like ours.
  bool MayContainDelimiter(std::string_view dash_boundary) const;
};

// A parsed RFC 5322 message. Move-only; not thread-safe (GMime objects are not). Parse borrows
// the input bytes, which must outlive the MimeMessage (no copy of a large message is made).
class MimeMessage {
 public:
  // Parses the message. kParse when it has no header section or is larger than
  // kMaxMessageBytes; GMime accepts most damaged MIME, so structure problems surface later as
  // precise errors of the accessors below.
  static Result<MimeMessage> Parse(ByteView data);

  // Parses a message whose body is about to be signed or encrypted: for Payload, StreamPayload,
  // Form, OuterHeaders, MessageHeaders and Header. When the body is not S/MIME already and (with
  // seven_bit, for multipart/signed) every body line is 7-bit text of at most 998 octets, no
  // part can need re-encoding (RFC 8551 §3.1.2), so the body is taken as received and GMime
  // reads only the header section: its scan of a large body for part boundaries was most of
  // the parsing time. SignedContent, DetachedSignature, Pkcs7Body and the RFC 9788 readers need
  // Parse. Errors as Parse.
  static Result<MimeMessage> ParseToProtect(ByteView data, bool seven_bit);
  // Parses a message to be read, not rewritten: GMime reads only the header section, and the
  // accessors work from the input bytes (SignedContent and DetachedSignature split multipart/signed
  // themselves, Pkcs7Body decodes base64 itself and asks GMime for any other encoding), which
  // spares GMime's scan of a large body. Not for Payload/StreamPayload (kInternal). Errors as
  // Parse.
  static Result<MimeMessage> ParseHeaderSection(ByteView data);

  MimeMessage(MimeMessage&&) noexcept;
  MimeMessage& operator=(MimeMessage&&) noexcept;
  ~MimeMessage();

  Newline newline() const { return newline_; }

  // The top-level header fields that are not about the body (everything except Content-* and
  // MIME-Version), in order.
  std::vector<HeaderField> MessageHeaders() const;
  // The decoded, unfolded value of the first header field of that name (RFC 2047 words decoded).
  std::optional<std::string> Header(std::string_view name) const;

  SmimeForm Form() const;
  // "type/subtype" of the body, lower case.
  std::string ContentType() const;
  // A parameter of the body's Content-Type (micalg, protocol, smime-type, hp), or nullopt.
  std::optional<std::string> ContentTypeParameter(std::string_view name) const;

  // multipart/signed: the first part as it must be hashed, i.e. the input's bytes between the
  // first two delimiter lines canonicalised to CRLF (RFC 1847 §2.1, RFC 8551 §3.1.1), and the
  // decoded signature part. Delimiters are found strictly by RFC 2046 §5.1.1 (line break, "--"
  // boundary, optional spaces and tabs, line break), exactly two body parts and then the close
  // delimiter; anything else is kParse. Readers of the signed content must parse these bytes
  // (not GMime's view of the message) so that what is shown is what was hashed.
  Result<Bytes> SignedContent() const;
  Result<Bytes> DetachedSignature() const;
  // application/pkcs7-mime: the decoded (DER) body. kParse for a missing or undecodable body.
  Result<Bytes> Pkcs7Body() const;

  // The body as a MIME entity (its Content-* header fields, a blank line, the content) in
  // canonical CRLF form, prepared as options say. The first call changes the parsed body
  // (re-encoded parts, injected fields); later calls must pass the same options and give the same
  // bytes. kInvalidArgument when asked to protect the headers of a body that is already signed.
  Result<Bytes> Payload(const PayloadOptions& options);
  // Payload as pieces for streaming (same preparation and bytes as Payload), or nullopt when a
  // part was re-encoded and only GMime can write the body (then use Payload).
  Result<std::optional<StreamedPayload>> StreamPayload(const PayloadOptions& options);
  // The size of the parsed input (for buffer estimates).
  size_t input_size() const;

  // The header fields that stay outside once the body is protected: MessageHeaders() with the
  // RFC 9788 hcp_baseline applied when protect is kCipher.
  std::vector<HeaderField> OuterHeaders(HeaderProtection protect) const;

  // RFC 9788 §4: the Cryptographic Payload's root is the body itself, or for multipart/signed
  // its first part (recursively), read from the SignedContent bytes. Its hp parameter, and the
  // header fields it carries (HP-Outer fields excluded) when hp is present.
  HeaderProtection PayloadProtection() const;
  std::vector<HeaderField> ProtectedHeaders() const;

 private:
  struct State;
  explicit MimeMessage(std::unique_ptr<State> state);
  // GMime parses `parsed`, a prefix of data (all of it, or the header section).
  static Result<MimeMessage> ParseRange(ByteView data, ByteView parsed);
  Status Prepare(const PayloadOptions& options);
  // The input after the message's header section and its blank line.
  ByteView RawBody() const;
  // The payload root's hp and (when fields is given) its header fields, HP-Outer excluded.
  void PayloadRootFields(int depth, HeaderProtection* hp, std::vector<HeaderField>* fields) const;
  // multipart/signed: the raw bytes of its two body parts (RFC 2046 §5.1.1, strictly).
  Result<std::array<std::string_view, 2>> SignedParts() const;
  std::unique_ptr<State> state_;
  Newline newline_ = Newline::kLf;
};

// Builds a multipart/signed message (RFC 8551 §3.5.3): outer header fields, then the signed
// entity byte for byte (it must be canonical CRLF as hashed), then the DER signature as
// application/pkcs7-signature (smime.p7s, base64). micalg per RFC 8551 §3.5.3.2 ("sha-256",
// "sm3"). Written with the given line endings. With no outer fields the result is the
// multipart/signed entity (MIME-Version and Content-Type only), ready to be encrypted.
Result<Bytes> BuildMultipartSigned(const std::vector<HeaderField>& outer, ByteView signed_entity,
                                   ByteView signature_der, std::string_view micalg,
                                   Newline newline);

// BuildMultipartSigned in the two pieces around the signed entity, for writers that stream the
// entity: prefix + entity + suffix is the message (CRLF). occurs is asked whether a candidate
// "--boundary" occurs in the entity.
struct MultipartSignedFrame {
  Bytes prefix, suffix;
};
Result<MultipartSignedFrame> BuildMultipartSignedFrame(
    const std::vector<HeaderField>& outer, ByteView signature_der, std::string_view micalg,
    const std::function<bool(std::string_view dash_boundary)>& occurs);

// The header section of BuildPkcs7Mime's message (with its blank line), in the given line
// endings: what precedes the base64 body.
Bytes Pkcs7MimeHead(const std::vector<HeaderField>& outer, std::string_view smime_type,
                    Newline newline);

// Builds an application/pkcs7-mime message (RFC 8551 §3.2) carrying der base64-encoded, with
// smime-type (e.g. "enveloped-data", "authEnveloped-data", "signed-data") and name=smime.p7m.
Result<Bytes> BuildPkcs7Mime(const std::vector<HeaderField>& outer, std::string_view smime_type,
                             ByteView der, Newline newline);

// Joins header fields and a MIME entity (CRLF) into a message with the given line endings, adding
// MIME-Version when the fields lack it. Used for what decryption and opaque verification reveal.
Bytes ComposeMessage(const std::vector<HeaderField>& headers, ByteView entity, Newline newline);

// The addr-specs (local@domain) of an RFC 5322 address-list value, groups flattened; invalid
// entries are skipped.
std::vector<std::string> ParseAddresses(std::string_view header_value);

// The trace fields (Received, Return-Path, DKIM-Signature, ...) among fields: added in transit,
// they stay outside any protection and survive decryption.
std::vector<HeaderField> TraceFields(const std::vector<HeaderField>& fields);

// Converts CRLF output to the message's line endings in place (nothing to do for kCrlf).
void ConvertLineEndings(Bytes& data, Newline newline);

// Replaces or adds a header field (by name, case-insensitive), keeping the order of the others.
void SetHeader(std::vector<HeaderField>& headers, std::string_view name, std::string_view value);

}  // namespace autoseal::smime
