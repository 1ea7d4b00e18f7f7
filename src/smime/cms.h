#pragma once

// The CMS layer of S/MIME (RFC 5652, RFC 8551): SignedData with the "electronic postmark" (an
// RFC 3161 token over the signature value as the unsigned attribute id-aa-timeStampToken, RFC 3161
// Appendix A), EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083/5084), and the SM2
// forms of GM/T 0010 that OpenSSL 3.0 cannot produce. Output is DER written by this module with
// per-signer / per-recipient constants computed once; OpenSSL is used for digests, ciphers and
// public-key primitives only. Input is read by our own bounded BER reader (indefinite lengths and
// constructed OCTET STRINGs as `openssl cms -stream` and gpgsm write them). docs/smime-cms-format.md
// describes the exact encodings. MIME framing (multipart/signed, application/pkcs7-mime) is not
// done here: see smime/mime*.h.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "tsa/client.h"
#include "x509/certificate.h"

namespace autoseal::smime {

// ---------------------------------------------------------------------------------------------
// Algorithms and SMIMECapabilities (RFC 8551 §2.5.2)
// ---------------------------------------------------------------------------------------------

// Content-encryption algorithms. The GCM ones produce AuthEnvelopedData (RFC 5083/5084); SM4-CBC
// is used with SM2 recipients only (GM/T 0010 EnvelopedData).
enum class ContentCipher { kAes128Cbc, kAes192Cbc, kAes256Cbc, kAes128Gcm, kAes256Gcm, kSm4Cbc };
// "AES-256-CBC", "AES-256-GCM", "SM4-CBC", ...
std::string_view ContentCipherName(ContentCipher cipher);
// True for the GCM ciphers (AuthEnvelopedData, smime-type=authEnveloped-data).
bool IsAuthenticated(ContentCipher cipher);

// How a recipient's content-encryption key is protected.
enum class KeyEncryption {
  kRsaPkcs1v15,     // KTRI rsaEncryption (RFC 3370 §4.2.1): what every client reads
  kRsaOaep,         // KTRI id-RSAES-OAEP with SHA-256 / MGF1-SHA-256 (RFC 8017, RFC 4055)
  kEcdhSha256Kdf,   // KARI dhSinglePass-stdDH-sha256kdf-scheme + AES key wrap (RFC 5753); when
                    // decrypting, any ECDH KARI (see Decrypted::kdf_digest)
  kSm2,             // KTRI sm2-3 encryption (GM/T 0010, C1C3C2 DER per GM/T 0009)
};
std::string_view KeyEncryptionName(KeyEncryption alg);  // "RSA PKCS#1 v1.5", "RSA-OAEP", ...

// A peer's SMIMECapabilities attribute as parsed: what it can decrypt, in its order of
// preference. Unknown capabilities are kept as dotted OIDs.
struct Capabilities {
  std::vector<ContentCipher> ciphers;  // in the sender's order of preference
  bool rsa_oaep = false;               // id-RSAES-OAEP announced
  bool ecdh_sha256 = false;            // dhSinglePass-stdDH-sha256kdf-scheme announced
  std::vector<std::string> other_oids;
  bool Supports(ContentCipher c) const;
};

// Parses the attribute value SMIMECapabilities ::= SEQUENCE OF SMIMECapability (DER or BER).
// kParse on malformed input. Thread-safe.
Result<Capabilities> ParseSmimeCapabilities(ByteView der);

// The SMIMECapabilities value autoseal announces when it signs: AES-256-GCM, AES-128-GCM,
// AES-256-CBC, AES-128-CBC, RSA-OAEP, rsaEncryption, ECDH with the SHA-256 KDF (and SM4-CBC,
// sm2-3 for SM2 signers). DER.
Bytes OurSmimeCapabilities(bool sm2);

// The micalg parameter of multipart/signed for a digest (RFC 8551 §3.5.3.2): "sha-256",
// "sha-384", "sha-512", "sm3" (our name for SM3; OpenSSL writes "unknown").
std::string_view MicAlg(crypto::DigestAlgorithm digest);

// ---------------------------------------------------------------------------------------------
// What a CMS blob is
// ---------------------------------------------------------------------------------------------

enum class CmsType {
  kSignedData,         // id-signedData (1.2.840.113549.1.7.2)
  kEnvelopedData,      // id-envelopedData (1.2.840.113549.1.7.3)
  kAuthEnvelopedData,  // id-ct-authEnvelopedData (1.2.840.113549.1.9.16.1.23)
  kSm2SignedData,      // GM/T 0010 signedData (1.2.156.10197.6.1.4.2.2)
  kSm2EnvelopedData,   // GM/T 0010 envelopedData (1.2.156.10197.6.1.4.2.3)
};
// The smime-type parameter for a type: "signed-data", "enveloped-data", "authEnveloped-data".
std::string_view SmimeType(CmsType type);

// Reads the outer ContentInfo of DER/BER (or PEM "CMS"/"PKCS7") input and says what it holds.
// kParse for garbage, kUnsupported for a content type other than the five above.
Result<CmsType> DetectType(ByteView cms);

// Decodes PEM (-----BEGIN CMS----- or PKCS7) to DER/BER; input that is not PEM is returned as is.
Result<Bytes> Unarmor(ByteView input);

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

// Obtains an RFC 3161 TimeStampToken (DER ContentInfo) for a digest of the SignerInfo's signature
// value. The library calls it with the digest algorithm and digest; tests pass a function that
// answers from an in-process tsa::Responder.
using PostmarkFetcher =
    std::function<Result<Bytes>(crypto::DigestAlgorithm digest, ByteView hashed_signature)>;

// A fetcher that asks the TSA at url with tsa::RequestTimestampForDigest (certReq set, the
// options' timeout). Copies url and options.
PostmarkFetcher TsaPostmarkFetcher(std::string url, tsa::RequestOptions options = {});

// Who signs: the key, its certificate and the chain that goes into the message.
struct SignerConfig {
  crypto::PrivateKey key;
  // The signing certificate first, then intermediates; all of them go into `certificates`.
  std::vector<x509::Certificate> chain;
  // Digest: the key's default when unset (SHA-256 for RSA and P-256, SHA-384 for P-384, SM3 for
  // SM2; SM2 is refused with anything but SM3).
  std::optional<crypto::DigestAlgorithm> digest;
  // ESS signingCertificateV2 (RFC 5035) binding the certificate into the signed attributes.
  bool signing_certificate_v2 = true;
  // SMIMECapabilities to announce; OurSmimeCapabilities(sm2) when unset.
  std::optional<Bytes> capabilities;
  // SM2 keys only: use the GM/T 0010 OIDs (signedData 1.2.156.10197.6.1.4.2.2, data
  // 1.2.156.10197.6.1.4.2.1, sm2-1 signature) — what Chinese S/MIME implementations read. When
  // false, RFC 5652 content types with the SM2 algorithms (as newer OpenSSL writes).
  bool gm_oids = true;
};

// Per-message options.
struct SignOptions {
  // true: no eContent (multipart/signed, .p7s); false: content encapsulated ("opaque",
  // application/pkcs7-mime; smime-type=signed-data).
  bool detached = true;
  // The signingTime attribute (RFC 5652 §11.3); required (pass the injected clock's time).
  TimePoint signing_time;
  // When set, the signature is postmarked: fetched once the signature value is known and added as
  // the unsigned attribute id-aa-timeStampToken. A fetch failure fails the signing (kNetwork,
  // kTimeout, kPolicy from the fetcher) so a caller that wants "postmark if possible" retries
  // without it.
  PostmarkFetcher postmark;
  // Digest the postmark imprint uses: SHA-256, or SM3 for SM2 signers, when unset.
  std::optional<crypto::DigestAlgorithm> postmark_digest;
};

class SignStream;

// A signer prepared once (encoded certificates, algorithm identifiers, constant attributes, a
// crypto::PreparedSigner) and used for any number of messages. Immutable after Create; Sign and
// Begin are thread-safe.
class CmsSigner : public std::enable_shared_from_this<CmsSigner> {
 public:
  // Checks the key matches chain.front() and the digest suits the key (kInvalidArgument /
  // kPolicy), and precomputes the constant DER.
  static Result<std::shared_ptr<const CmsSigner>> Create(SignerConfig config);
  ~CmsSigner();

  // Signs content in one go and returns the DER ContentInfo (SignedData). kCrypto if signing
  // fails, or the fetcher's error.
  Result<Bytes> Sign(ByteView content, const SignOptions& options) const;

  // Starts a streaming signature: feed the content in chunks, collect output as it is produced.
  // Detached: output is the DER .p7s, all of it from Finish. Opaque: BER with indefinite lengths
  // (the form `openssl cms -sign -stream` writes), the content emitted as it is fed. The stream
  // holds a reference to this signer.
  std::unique_ptr<SignStream> Begin(const SignOptions& options) const;

  crypto::DigestAlgorithm digest() const;
  const x509::Certificate& certificate() const;
  bool is_sm2() const;

  struct State;  // internal

 private:
  explicit CmsSigner(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One message being signed. Not thread-safe; keeps its CmsSigner alive.
class SignStream {
 public:
  virtual ~SignStream() = default;
  // Hashes chunk; for opaque signatures appends the encoded content to *out.
  virtual void Update(ByteView chunk, Bytes* out) = 0;
  // Signs, postmarks when asked, and appends the rest of the encoding to *out. Once only.
  virtual Status Finish(Bytes* out) = 0;
  // The content digest, valid after Finish (e.g. for logging or tests).
  virtual const Bytes& content_digest() const = 0;
};

// Convenience: CmsSigner::Create + Sign.
Result<Bytes> Sign(ByteView content, const SignerConfig& config, const SignOptions& options);

// ---------------------------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------------------------

struct VerifyOptions {
  std::vector<x509::Certificate> roots;      // trust anchors for signers
  std::vector<x509::Certificate> untrusted;  // extra intermediates beyond those in the message
  TimePoint at;                              // when the chain must be valid (required)
  // Trust anchors for postmark TSAs; `roots` when empty.
  std::vector<x509::Certificate> tsa_roots;
  // Checks the signer certificate against x509 Profile::kSmime too (the CA/B Forum strict
  // profile: EKU emailProtection only, keyUsage per key type, validity limits).
  bool check_smime_profile = false;
  // RFC 8550 §4.4.2 / §4.4.4: the signer certificate's keyUsage (when present) has
  // digitalSignature or nonRepudiation, and its extendedKeyUsage (when present) has
  // emailProtection or anyExtendedKeyUsage; otherwise the chain verdict is kWrongPurpose. Unset:
  // Verify does not check, VerifyMessage does (a message signer is an S/MIME signer).
  std::optional<bool> check_signer_purpose;
};

// The verdict on one signature (content + signed attributes + signature value).
enum class SignatureVerdict {
  kValid,
  kContentAltered,        // messageDigest does not match the content (RFC 5652 §11.2)
  kBadSignature,          // the signature over the signed attributes does not verify
  kSignerNotFound,        // no certificate in the message or `untrusted` matches the sid
  kUnsupportedAlgorithm,  // digest or signature algorithm we do not implement
  kMalformed,             // attributes missing or malformed (contentType, messageDigest)
};
std::string_view SignatureVerdictName(SignatureVerdict v);  // "valid", "content altered", ...

// The verdict on the signer's certificate chain at VerifyOptions::at.
enum class ChainVerdict {
  kValid,
  kExpired,       // the signer certificate's notAfter is before `at`
  kNotYetValid,   // notBefore after `at`
  kUntrusted,     // no path to the roots, or any other path validation problem
  kWrongPurpose,  // valid chain, but the certificate is not for S/MIME signing (RFC 8550 §4.4)
  kNotChecked,    // no signer certificate to check
};
std::string_view ChainVerdictName(ChainVerdict v);

enum class PostmarkVerdict {
  kAbsent,
  kValid,
  kWrongSignature,  // the token's messageImprint is not the hash of this SignerInfo's signature
  kInvalidToken,    // the token does not verify (signature, TSA chain, EKU) or is malformed
};
std::string_view PostmarkVerdictName(PostmarkVerdict v);

struct PostmarkReport {
  PostmarkVerdict verdict = PostmarkVerdict::kAbsent;
  std::optional<TimePoint> time;        // TSTInfo genTime, when the token could be read
  std::string gen_time_text;            // as encoded
  std::optional<x509::Certificate> tsa; // the TSA certificate, when found
  std::vector<std::string> problems;    // from tsa::VerifyToken and the imprint check
  Bytes token;                          // the TimeStampToken DER as found
};

struct SignerReport {
  SignatureVerdict signature = SignatureVerdict::kMalformed;
  std::string signature_detail;  // a sentence saying why, for anything but kValid
  ChainVerdict chain = ChainVerdict::kNotChecked;
  std::vector<std::string> chain_problems;   // from x509::VerifyChain (and profile checks)
  std::optional<x509::Certificate> certificate;
  std::vector<x509::Certificate> path;       // signer to trust anchor, when built
  crypto::DigestAlgorithm digest = crypto::DigestAlgorithm::kNone;
  std::string signature_algorithm;           // "ECDSA with SHA-256", "SM2 with SM3", ...
  std::optional<TimePoint> signing_time;
  std::optional<Capabilities> capabilities;  // the signer's SMIMECapabilities, when present
  Bytes signature_value;
  PostmarkReport postmark;
  // Valid signature, valid chain, and a postmark (if any) that is valid.
  bool ok() const;
};

struct VerifyReport {
  // Set when the input is not a readable SignedData (garbage, truncated, wrong type); then signers
  // is empty. A sentence naming where parsing stopped.
  std::optional<std::string> malformed;
  CmsType type = CmsType::kSignedData;
  bool detached = false;          // no eContent in the message
  std::string content_type;       // eContentType, dotted
  Bytes content;                  // the encapsulated content (opaque signatures)
  std::vector<x509::Certificate> certificates;  // as carried in the message
  std::vector<SignerReport> signers;
  // At least one signer, and every signer ok().
  bool ok() const;
  // One line per problem, for logs and the CLI.
  std::vector<std::string> Problems() const;
};

// Verifies a SignedData (DER/BER/PEM). detached_content is the signed content for a detached
// signature; a SignedData with eContent given detached_content is malformed (it would otherwise
// be verified over its own content, not the bytes the caller means). Never fails: every problem
// is in the report. Thread-safe.
VerifyReport Verify(ByteView cms, std::optional<ByteView> detached_content,
                    const VerifyOptions& options);

// ---------------------------------------------------------------------------------------------
// Encrypting
// ---------------------------------------------------------------------------------------------

// One recipient: the certificate to encrypt to, and what the recipient announced (from a signed
// message we verified), if anything.
struct Recipient {
  x509::Certificate certificate;
  std::optional<Capabilities> capabilities;
};

// A recipient prepared once (RecipientIdentifier DER, public key context): for agents that send
// to the same people often. Immutable; thread-safe.
class PreparedRecipient {
 public:
  // kUnsupported for keys we cannot encrypt to (Ed25519, P-384 KARI is supported, RSA < 2048 is
  // refused with kPolicy).
  static Result<std::shared_ptr<const PreparedRecipient>> Create(const Recipient& recipient);
  ~PreparedRecipient();
  const Recipient& recipient() const;
  struct State;  // internal
  const State& state() const { return *state_; }

 private:
  explicit PreparedRecipient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

struct EncryptOptions {
  // Force the content cipher; otherwise ChooseAlgorithms decides.
  std::optional<ContentCipher> cipher;
  // Force the key encryption for RSA recipients (kRsaPkcs1v15 or kRsaOaep); otherwise per
  // recipient capabilities.
  std::optional<KeyEncryption> rsa_key_encryption;
  // SM2 recipients: GM/T 0010 envelopedData / data OIDs (default) or RFC 5652 ones.
  bool gm_oids = true;
};

// The algorithms a message to these recipients will use.
struct EncryptionPlan {
  ContentCipher cipher = ContentCipher::kAes256Cbc;
  std::vector<KeyEncryption> key_encryption;  // one per recipient, same order
  CmsType type = CmsType::kEnvelopedData;
};

// Chooses the algorithms (RFC 8551 §2.7 adapted to what clients read, email-anchors §0):
// - content: AES-256-GCM (AuthEnvelopedData) only if every recipient announced it, else
//   AES-256-CBC; SM4-CBC when every recipient is SM2 (mixing SM2 and others is kPolicy).
// - RSA: OAEP only for recipients that announced id-RSAES-OAEP, else PKCS#1 v1.5.
// - EC (P-256/P-384): ECDH KARI with the SHA-256 KDF, AES key wrap sized to the content cipher.
// kInvalidArgument with no recipients.
Result<EncryptionPlan> ChooseAlgorithms(
    const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
    const EncryptOptions& options);

class EncryptStream;

// Starts a streaming encryption: a fresh content-encryption key, the RecipientInfos written at
// once. With content_length known, the output is DER (definite lengths, computed ahead); without,
// BER with indefinite lengths and the ciphertext as one OCTET STRING segment per Update (as
// `openssl cms -stream` writes it). Errors: as ChooseAlgorithms, kCrypto for a failed key encryption.
Result<std::unique_ptr<EncryptStream>> BeginEncrypt(
    const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
    const EncryptOptions& options, std::optional<uint64_t> content_length);

// One message being encrypted. Not thread-safe.
class EncryptStream {
 public:
  virtual ~EncryptStream() = default;
  // Appends the header (ContentInfo .. encryptedContent start, RecipientInfos included) on the
  // first call, then ciphertext for the chunk.
  virtual Status Update(ByteView chunk, Bytes* out) = 0;
  // Appends the last block (padding), the GCM tag for AuthEnvelopedData, and closes the
  // encoding. kInvalidArgument if fewer or more bytes than the announced content_length came.
  virtual Status Finish(Bytes* out) = 0;
  virtual const EncryptionPlan& plan() const = 0;
};

// Encrypts content in one go; returns the DER ContentInfo (EnvelopedData, AuthEnvelopedData or
// GM/T 0010 envelopedData).
Result<Bytes> Encrypt(ByteView content,
                      const std::vector<std::shared_ptr<const PreparedRecipient>>& recipients,
                      const EncryptOptions& options = {});
// As above, preparing the recipients on the fly.
Result<Bytes> Encrypt(ByteView content, const std::vector<Recipient>& recipients,
                      const EncryptOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Decrypting
// ---------------------------------------------------------------------------------------------

struct Decrypted {
  Bytes content;
  CmsType type = CmsType::kEnvelopedData;
  ContentCipher cipher = ContentCipher::kAes256Cbc;
  // For KARI, key_encryption is kEcdhSha256Kdf whatever the KDF; kdf_digest says which one the
  // sender used (SHA-1 for OpenSSL 3.0's default). kNone for key transport.
  KeyEncryption key_encryption = KeyEncryption::kRsaPkcs1v15;
  crypto::DigestAlgorithm kdf_digest = crypto::DigestAlgorithm::kNone;
  std::string content_type;  // encryptedContentInfo.contentType, dotted
};

// Decrypts an EnvelopedData / AuthEnvelopedData / GM/T 0010 envelopedData (DER, BER or PEM) with
// our certificate and key: KTRI RSA PKCS#1 v1.5 and OAEP, KARI ECDH (SHA-1/224/256/384/512 KDFs,
// AES key wrap), SM2; AES-CBC/GCM, SM4-CBC. Errors, each with a precise message:
// kParse (truncated/garbage), kNotFound (no RecipientInfo for this certificate), kInvalidArgument
// (key and certificate differ), kCrypto (bad padding, GCM tag mismatch: altered, or a key
// transport that did not decrypt, reported alike per RFC 3218 §2.3.2), kUnsupported (an algorithm
// we do not implement, named by OID). Never crashes. Thread-safe.
Result<Decrypted> Decrypt(ByteView cms, const x509::Certificate& certificate,
                          const crypto::PrivateKey& key);

}  // namespace autoseal::smime
