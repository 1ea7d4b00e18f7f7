#pragma once

// The message-level S/MIME API (RFC 8551): an RFC 5322 message in, the same message signed,
// encrypted, decrypted or verified out. MIME handling is smime/mime.h (GMime); cryptography is
// smime/cms.h. Header protection follows RFC 9788 on the way out and is honoured on the way in.
// The input is never modified; every function returns a new message or a report.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "smime/cms.h"
#include "smime/mime.h"

namespace autoseal::smime {

// How SignMessage signs.
struct SignMessageOptions {
  std::shared_ptr<const CmsSigner> signer;  // required
  // false: multipart/signed (RFC 8551 §3.5.3, readable without S/MIME); true: opaque
  // application/pkcs7-mime; smime-type=signed-data (RFC 8551 §3.5.2).
  bool opaque = false;
  // The signingTime attribute; pass the injected clock's now.
  TimePoint signing_time;
  // When set, the electronic postmark: an RFC 3161 token over the signature value, added as the
  // unsigned attribute id-aa-timeStampToken (RFC 3161 Appendix A).
  PostmarkFetcher postmark;
  // RFC 9788: copy the header fields into the signed part with hp="clear".
  bool protect_headers = true;
};

// Signs the body of an RFC 5322 message. The output keeps the message's header fields and line
// endings. Errors: kParse for input that is not a message, the signer's or fetcher's errors.
// Thread-safe (the signer is shared, everything else is per call).
Result<Bytes> SignMessage(ByteView message, const SignMessageOptions& options);

// How EncryptMessage encrypts.
struct EncryptMessageOptions {
  std::vector<std::shared_ptr<const PreparedRecipient>> recipients;  // at least one
  EncryptOptions cms;
  // RFC 9788: copy the header fields into the encrypted part with hp="cipher" and obscure the
  // outer Subject ("[...]"). Skipped for a body that is already signed (its signed part cannot
  // change; its own protection stands).
  bool protect_headers = true;
};

// What an encryption did, for logs and the CLI.
struct EncryptedMessage {
  Bytes message;
  EncryptionPlan plan;
};

// Encrypts the body as application/pkcs7-mime enveloped-data (or authEnveloped-data when every
// recipient announced AES-GCM). Errors: kParse, ChooseAlgorithms' and the encryptor's errors.
Result<EncryptedMessage> EncryptMessage(ByteView message, const EncryptMessageOptions& options);

// Signs (multipart/signed, postmarked when asked) and then encrypts, with RFC 9788 hp="cipher" in
// the signed part: what the mail agent sends. Unless a part must be re-encoded, the body is not
// copied: it is read twice from the input (hashed, then encrypted and base64-encoded in 64 KB
// pieces straight into the output).
Result<EncryptedMessage> SignAndEncryptMessage(ByteView message, const SignMessageOptions& sign,
                                               const EncryptMessageOptions& encrypt);

// The message a decryption reveals.
struct DecryptedMessage {
  Bytes message;  // header fields + the decrypted entity, in the input's line endings
  Decrypted info;
  // RFC 9788: kCipher/kClear when the decrypted payload carried protected header fields, which
  // then replace the outer ones in `message` (trace fields such as Received stay).
  HeaderProtection protection = HeaderProtection::kNone;
};

// Decrypts an application/pkcs7-mime enveloped-data or authEnveloped-data message. Errors: kParse
// for a message that is not encrypted or is damaged (MIME or CMS), and Decrypt's errors
// (kNotFound: not for this certificate; kCrypto: wrong key or altered content; kUnsupported).
Result<DecryptedMessage> DecryptMessage(ByteView message, const x509::Certificate& certificate,
                                        const crypto::PrivateKey& key);

// The verdict on a signed message: the CMS report plus what the message layer checks.
struct MessageVerifyReport {
  SmimeForm form = SmimeForm::kPlain;
  // A sentence when the message is not a signed S/MIME message or its MIME structure is broken;
  // then `cms` holds nothing useful.
  std::optional<std::string> malformed;
  VerifyReport cms;
  HeaderProtection protection = HeaderProtection::kNone;
  std::vector<HeaderField> protected_headers;  // RFC 9788: what the signature covers
  // The (protected, if present) From addresses, ", "-separated.
  std::string from;
  // RFC 8550 §3: every From address must be one of the signer certificate's email addresses.
  bool from_matches_signer = false;
  // The signed entity (the encapsulated content, or the first part of multipart/signed exactly
  // as hashed) as a message, with the (protected) header fields. Meaningful only when ok().
  Bytes content;
  // Signature, chain, postmark and From address all hold.
  bool ok() const;
  // One sentence per problem.
  std::vector<std::string> Problems() const;
};

// Verifies a multipart/signed or opaque signed-data message. Unless options.check_signer_purpose
// is explicitly false, the signer certificate must be one for S/MIME signing (RFC 8550 §4.4.2,
// §4.4.4). Never fails: problems are in the report. Thread-safe.
MessageVerifyReport VerifyMessage(ByteView message, const VerifyOptions& options);

}  // namespace autoseal::smime
