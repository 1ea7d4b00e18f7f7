#include "smime/message.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <map>
#include <string>

#include "crypto/digest.h"
#include "tsa/client.h"
#include "tsa/messages.h"
#include "tsa/responder.h"
#include "tsa/serial.h"
#include "x509/issue.h"

namespace autoseal::smime {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;
using x509::Certificate;
using x509::CertificateSpec;
using x509::Profile;

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::string ToCrlfForTest(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

// Mailboxes of a throw-away hierarchy: root → intermediate → S/MIME leaves, plus a TSA.
struct Identity {
  PrivateKey key;
  Certificate cert;
};

class Pki {
 public:
  Pki() : now_(SystemClock::Instance().Now()) {
    root_key_ = Gen(KeyType::kEcdsaP256);
    CertificateSpec rs;
    rs.profile = Profile::kRootCa;
    rs.subject_key = root_key_->Public();
    rs.common_name = "S/MIME Test Root";
    rs.organization = "autoseal tests";
    rs.not_before = now_ - std::chrono::hours(48);
    rs.not_after = now_ + std::chrono::hours(24 * 3650);
    root_ = Must(x509::IssueCertificate(rs, nullptr, *root_key_));
    int_key_ = Gen(KeyType::kEcdsaP256);
    CertificateSpec is = rs;
    is.profile = Profile::kIntermediateCa;
    is.subject_key = int_key_->Public();
    is.common_name = "S/MIME Test Intermediate";
    is.path_length = 0;
    is.not_after = now_ + std::chrono::hours(24 * 1825);
    inter_ = Must(x509::IssueCertificate(is, &*root_, *root_key_));
  }

  Identity Mailbox(KeyType type, const std::string& email, int valid_days = 365) {
    PrivateKey key = Gen(type);
    CertificateSpec s;
    s.profile = Profile::kSmime;
    s.subject_key = key.Public();
    s.common_name = email;
    s.email_addresses = {email};
    s.not_before = now_ - std::chrono::hours(24);
    s.not_after = now_ + std::chrono::hours(24 * valid_days);
    return {key, Must(x509::IssueCertificate(s, &*inter_, *int_key_))};
  }

  // An S/MIME mailbox certificate whose extendedKeyUsage is replaced by only these purposes
  // (NIDs), re-signed by the intermediate: same names, same chain, another purpose.
  Identity MailboxWithEku(const std::string& email, std::vector<int> purposes) {
    Identity id = Mailbox(KeyType::kEcdsaP256, email);
    X509* x = X509_dup(id.cert.raw());
    CHECK(x != nullptr);
    int at = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);
    if (at >= 0) X509_EXTENSION_free(X509_delete_ext(x, at));
    EXTENDED_KEY_USAGE* eku = sk_ASN1_OBJECT_new_null();
    for (int nid : purposes) sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nid));
    CHECK(X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1);
    sk_ASN1_OBJECT_free(eku);
    CHECK(X509_sign(x, int_key_->evp(), EVP_sha256()) > 0);
    unsigned char* der = nullptr;
    int len = i2d_X509(x, &der);
    CHECK(len > 0);
    Bytes bytes(der, der + len);
    OPENSSL_free(der);
    X509_free(x);
    id.cert = Must(Certificate::FromDer(bytes));
    return id;
  }

  Identity Tsa() {
    PrivateKey key = Gen(KeyType::kEcdsaP256);
    CertificateSpec s;
    s.profile = Profile::kTimeStamping;
    s.subject_key = key.Public();
    s.common_name = "S/MIME Test TSA";
    s.not_before = now_ - std::chrono::hours(24);
    s.not_after = now_ + std::chrono::hours(24 * 365);
    return {key, Must(x509::IssueCertificate(s, &*inter_, *int_key_))};
  }

  const Certificate& root() const { return *root_; }
  const Certificate& intermediate() const { return *inter_; }
  TimePoint now() const { return now_; }

 private:
  static PrivateKey Gen(KeyType t) {
    auto k = PrivateKey::Generate(t);
    CHECK(k.has_value());
    return *k;
  }
  template <typename T>
  static T Must(Result<T> r) {
    CHECK_MSG(r.has_value(), r ? "" : r.error().message().c_str());
    return std::move(*r);
  }
  TimePoint now_;
  std::optional<PrivateKey> root_key_, int_key_;
  std::optional<Certificate> root_, inter_;
};

const std::string kMessage =
    "From: Alice <alice@example.test>\n"
    "To: Bob <bob@example.test>\n"
    "Subject: The quarterly figures\n"
    "Date: Sat, 28 Nov 2026 12:00:00 +0000\n"
    "Message-ID: <figures@example.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\n"
    "\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Revenue grew by 12 % \xe2\x80\x94 see the attachment.\n"
    "--b1\n"
    "Content-Type: application/octet-stream; name=figures.bin\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "--b1--\n";

class MessageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki();
    alice_ = new Identity(pki_->Mailbox(KeyType::kEcdsaP256, "alice@example.test"));
    bob_ = new Identity(pki_->Mailbox(KeyType::kRsa2048, "bob@example.test"));
    Identity tsa = pki_->Tsa();
    serials_ = new tsa::EpochSerialSource(7);
    tsa::ResponderOptions o{.key = tsa.key, .chain = {tsa.cert, pki_->intermediate()}};
    o.serials = serials_;
    auto r = tsa::Responder::Create(std::move(o));
    CHECK_MSG(r.has_value(), r ? "" : r.error().message().c_str());
    responder_ = r->release();
  }
  static void TearDownTestSuite() {
    delete responder_;
    delete serials_;
    delete bob_;
    delete alice_;
    delete pki_;
  }

  // The in-process TSA (RFC 3161 request → response → token).
  static PostmarkFetcher Postmark(bool corrupt_imprint = false) {
    return [corrupt_imprint](crypto::DigestAlgorithm digest, ByteView hashed) -> Result<Bytes> {
      Bytes h(hashed.begin(), hashed.end());
      if (corrupt_imprint) h[0] ^= 1;  // a token over some other signature
      Bytes req = tsa::EncodeTimeStampReq(digest, h, Bytes{1, 2, 3}, true);
      auto granted = TRY(tsa::ParseGrantedResponse(responder_->Respond(req)));
      return granted.token;
    };
  }

  static std::shared_ptr<const CmsSigner> Signer(const Identity& id) {
    auto s = CmsSigner::Create({.key = id.key, .chain = {id.cert, pki_->intermediate()}});
    CHECK_MSG(s.has_value(), s ? "" : s.error().message().c_str());
    return *s;
  }
  static std::shared_ptr<const PreparedRecipient> To(const Identity& id) {
    auto r = PreparedRecipient::Create({.certificate = id.cert});
    CHECK_MSG(r.has_value(), r ? "" : r.error().message().c_str());
    return *r;
  }
  SignMessageOptions SignWith(const Identity& id, bool postmark = true) const {
    SignMessageOptions o;
    o.signer = Signer(id);
    o.signing_time = pki_->now();
    if (postmark) o.postmark = Postmark();
    return o;
  }
  VerifyOptions Trust() const {
    VerifyOptions o;
    o.roots = {pki_->root()};
    o.at = pki_->now();
    return o;
  }
  static std::string FieldValue(const std::vector<HeaderField>& fields, std::string_view name) {
    for (const HeaderField& f : fields)
      if (f.name == name) return f.raw_value;
    return "";
  }

  static Pki* pki_;
  static Identity* alice_;
  static Identity* bob_;
  static tsa::EpochSerialSource* serials_;
  static tsa::Responder* responder_;
};
Pki* MessageTest::pki_ = nullptr;
Identity* MessageTest::alice_ = nullptr;
Identity* MessageTest::bob_ = nullptr;
tsa::EpochSerialSource* MessageTest::serials_ = nullptr;
tsa::Responder* MessageTest::responder_ = nullptr;

TEST_F(MessageTest, SignedAndPostmarkedMessageVerifiesWithEveryDetail) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_));
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  std::string text = Str(*signed_msg);
  EXPECT_NE(text.find("multipart/signed"), std::string::npos);
  EXPECT_NE(text.find("micalg=sha-256"), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos) << "LF in, LF out";
  EXPECT_TRUE(text.starts_with("From: Alice <alice@example.test>\n"));

  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
  EXPECT_EQ(r.form, SmimeForm::kMultipartSigned);
  ASSERT_EQ(r.cms.signers.size(), 1u);
  const SignerReport& s = r.cms.signers[0];
  EXPECT_EQ(s.signature, SignatureVerdict::kValid);
  EXPECT_EQ(s.chain, ChainVerdict::kValid);
  EXPECT_EQ(s.certificate->EmailAddresses(), std::vector<std::string>{"alice@example.test"});
  EXPECT_EQ(s.postmark.verdict, PostmarkVerdict::kValid);
  ASSERT_TRUE(s.postmark.time.has_value());
  EXPECT_EQ(r.protection, HeaderProtection::kClear);
  EXPECT_EQ(FieldValue(r.protected_headers, "Subject"), " The quarterly figures");
  EXPECT_EQ(r.from, "alice@example.test");
  EXPECT_TRUE(r.from_matches_signer);
}

TEST_F(MessageTest, OneChangedByteAnywhereInTheSignedPartIsDetected) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  std::string text = Str(*signed_msg);
  struct Case {
    const char* what;
    size_t search_from;  // where the signed part starts
    std::string from, to;
  } cases[] = {
      {"body", 0, "Revenue grew by 12", "Revenue grew by 13"},
      // The protected Subject is the one after hp= (the first one is outside the signature).
      {"protected header", text.find("hp="), "Subject: The quarterly figures",
       "Subject: The quarterly figurez"},
      {"attachment", 0, "AAECAwQFBgcICQoL", "AAECAwQFBgcICQoM"},
  };
  for (const Case& c : cases) {
    std::string tampered = text;
    size_t at = tampered.find(c.from, c.search_from);
    ASSERT_NE(at, std::string::npos) << c.what;
    tampered.replace(at, c.from.size(), c.to);
    MessageVerifyReport r = VerifyMessage(AsBytes(tampered), Trust());
    EXPECT_FALSE(r.ok()) << c.what;
    ASSERT_EQ(r.cms.signers.size(), 1u) << c.what;
    EXPECT_EQ(r.cms.signers[0].signature, SignatureVerdict::kContentAltered) << c.what;
  }
}

TEST_F(MessageTest, AChangedOuterHeaderDoesNotChangeWhatTheSignatureVouchesFor) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  std::string text = Str(*signed_msg);
  size_t at = text.find("Subject: The quarterly figures");
  ASSERT_EQ(at, text.rfind("Subject: The quarterly figures", at));
  text.replace(at, 30, "Subject: Wire the money today!");
  MessageVerifyReport r = VerifyMessage(AsBytes(text), Trust());
  EXPECT_TRUE(r.ok());
  // RFC 9788: a reader shows the protected Subject, not the altered outer one.
  EXPECT_EQ(FieldValue(r.protected_headers, "Subject"), " The quarterly figures");
}

TEST_F(MessageTest, AChangedSignatureByteIsDetected) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  auto mime = MimeMessage::Parse(*signed_msg);
  ASSERT_TRUE(mime.has_value());
  Bytes sig = *mime->DetachedSignature();
  // The signature value is the last thing in a SignerInfo without unsigned attributes.
  sig[sig.size() - 5] ^= 0x01;
  auto rebuilt = BuildMultipartSigned(mime->MessageHeaders(), *mime->SignedContent(), sig,
                                      "sha-256", Newline::kLf);
  ASSERT_TRUE(rebuilt.has_value());
  MessageVerifyReport r = VerifyMessage(*rebuilt, Trust());
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.cms.signers.empty());
  EXPECT_EQ(r.cms.signers[0].signature, SignatureVerdict::kBadSignature);
}

TEST_F(MessageTest, APostmarkOverADifferentSignatureIsDetected) {
  SignMessageOptions o = SignWith(*alice_, false);
  o.postmark = Postmark(/*corrupt_imprint=*/true);
  auto signed_msg = SignMessage(AsBytes(kMessage), o);
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.cms.signers.size(), 1u);
  EXPECT_EQ(r.cms.signers[0].signature, SignatureVerdict::kValid);
  EXPECT_EQ(r.cms.signers[0].postmark.verdict, PostmarkVerdict::kWrongSignature);
}

TEST_F(MessageTest, AnOpaqueSignatureAsTheSignaturePartDoesNotVouchForTheFirstPart) {
  // RFC 1847 §2.1: the signature part is a detached signature over the first part. An opaque
  // signed-data Alice once sent, pasted under a first part of the attacker's, must not verify.
  SignMessageOptions o = SignWith(*alice_, false);
  o.opaque = true;
  auto opaque = SignMessage(AsBytes(kMessage), o);
  ASSERT_TRUE(opaque.has_value()) << opaque.error().message();
  auto opaque_mime = MimeMessage::Parse(*opaque);
  ASSERT_TRUE(opaque_mime.has_value());
  Bytes der = *opaque_mime->Pkcs7Body();
  const std::string attacker =
      "Content-Type: text/plain\r\n\r\nPlease wire the money to account 666.\r\n";
  auto forged = BuildMultipartSigned(opaque_mime->MessageHeaders(), AsBytes(attacker), der,
                                     "sha-256", Newline::kLf);
  ASSERT_TRUE(forged.has_value());
  MessageVerifyReport r = VerifyMessage(*forged, Trust());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.malformed.has_value() || r.cms.malformed.has_value());
  EXPECT_TRUE(r.content.empty());
}

// The parts of a CRLF multipart/signed message of ours: header section (with the blank line),
// the delimiter, the signed entity and the signature part (its header fields and base64).
struct SignedPieces {
  std::string head, delimiter, entity, signature_part;
  std::string Assemble(std::string_view after_first = "", std::string_view before_second = "",
                       std::string_view padding = "") const {
    return head + delimiter + std::string(padding) + "\r\n" + std::string(after_first) + entity +
           "\r\n" + std::string(before_second) + delimiter + std::string(padding) + "\r\n" +
           signature_part + "\r\n" + delimiter + "--" + std::string(padding) + "\r\n";
  }
};
SignedPieces Split(const std::string& text) {
  SignedPieces p;
  size_t body = text.find("\r\n\r\n") + 4;
  p.head = text.substr(0, body);
  size_t line_end = text.find("\r\n", body);
  p.delimiter = text.substr(body, line_end - body);
  size_t second = text.find("\r\n" + p.delimiter + "\r\n", line_end);
  p.entity = text.substr(line_end + 2, second - line_end - 2);
  size_t sig = second + p.delimiter.size() + 4;
  size_t close = text.find("\r\n" + p.delimiter + "--", sig);
  p.signature_part = text.substr(sig, close - sig);
  return p;
}

TEST_F(MessageTest, OnlyStrictDelimitersSplitMultipartSigned) {
  SignMessageOptions o = SignWith(*alice_, false);
  auto signed_msg = SignMessage(AsBytes(ToCrlfForTest(kMessage)), o);
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  SignedPieces p = Split(Str(*signed_msg));
  ASSERT_EQ(p.Assemble(), Str(*signed_msg));
  const std::string attacker =
      "From: Alice <alice@example.test>\r\nSubject: Wire the money\r\n"
      "Content-Type: text/plain; hp=\"clear\"\r\n\r\nPay Mallory today.";

  // Transport padding after the delimiters (RFC 2046 §5.1.1) is a delimiter all the same.
  MessageVerifyReport padded = VerifyMessage(AsBytes(p.Assemble("", "", " \t ")), Trust());
  EXPECT_TRUE(padded.ok()) << ::testing::PrintToString(padded.Problems());
  EXPECT_EQ(FieldValue(padded.protected_headers, "Subject"), " The quarterly figures");

  // "--BX" in the preamble is not a delimiter: readers (GMime, Thunderbird) show the part after
  // the real one, so that is the part that must be hashed.
  std::string preamble = p.head + p.delimiter + "X\r\n" + p.entity + "\r\n" + p.delimiter + "\r\n" +
                         attacker + "\r\n" + p.delimiter + "\r\n" + p.signature_part + "\r\n" +
                         p.delimiter + "--\r\n";
  MessageVerifyReport r1 = VerifyMessage(AsBytes(preamble), Trust());
  EXPECT_FALSE(r1.ok());
  ASSERT_EQ(r1.cms.signers.size(), 1u) << ::testing::PrintToString(r1.Problems());
  EXPECT_EQ(r1.cms.signers[0].signature, SignatureVerdict::kContentAltered);
  EXPECT_NE(FieldValue(r1.protected_headers, "Subject"), " The quarterly figures");

  // "--B-x" inside the first part is content, not the end of the part.
  std::string dash = p.head + p.delimiter + "\r\n" + p.entity + "\r\n" + p.delimiter + "-x\r\n" +
                     attacker + "\r\n" + p.delimiter + "\r\n" + p.signature_part + "\r\n" +
                     p.delimiter + "--\r\n";
  MessageVerifyReport r2 = VerifyMessage(AsBytes(dash), Trust());
  EXPECT_FALSE(r2.ok());
  ASSERT_EQ(r2.cms.signers.size(), 1u) << ::testing::PrintToString(r2.Problems());
  EXPECT_EQ(r2.cms.signers[0].signature, SignatureVerdict::kContentAltered);

  // A third part, or no close delimiter, is not multipart/signed.
  std::string three = p.head + p.delimiter + "\r\n" + p.entity + "\r\n" + p.delimiter + "\r\n" +
                      p.signature_part + "\r\n" + p.delimiter + "\r\n" + attacker + "\r\n" +
                      p.delimiter + "--\r\n";
  EXPECT_TRUE(VerifyMessage(AsBytes(three), Trust()).malformed.has_value());
  std::string unclosed = p.head + p.delimiter + "\r\n" + p.entity + "\r\n" + p.delimiter + "\r\n" +
                         p.signature_part + "\r\n";
  EXPECT_TRUE(VerifyMessage(AsBytes(unclosed), Trust()).malformed.has_value());
}

TEST_F(MessageTest, VerifiedMultipartSignedContentIsTheHashedEntity) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.Problems());
  std::string content = Str(r.content);
  EXPECT_NE(content.find("Revenue grew by 12"), std::string::npos);
  EXPECT_NE(content.find("hp=clear"), std::string::npos) << content;
  EXPECT_EQ(content.find("pkcs7-signature"), std::string::npos);
}

TEST_F(MessageTest, OpaqueSignatureCarriesTheContent) {
  SignMessageOptions o = SignWith(*alice_);
  o.opaque = true;
  auto signed_msg = SignMessage(AsBytes(kMessage), o);
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  EXPECT_NE(Str(*signed_msg).find("smime-type=signed-data"), std::string::npos);
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
  EXPECT_EQ(r.form, SmimeForm::kSignedData);
  std::string content = Str(r.content);
  // 8-bit content travels unchanged inside CMS.
  EXPECT_NE(content.find("Revenue grew by 12 % \xe2\x80\x94"), std::string::npos);
  EXPECT_NE(content.find("Subject: The quarterly figures"), std::string::npos);
}

TEST_F(MessageTest, EncryptedMessageHidesTheSubjectAndDecryptsToTheOriginal) {
  EncryptMessageOptions o;
  o.recipients = {To(*bob_)};
  auto enc = EncryptMessage(AsBytes(kMessage), o);
  ASSERT_TRUE(enc.has_value()) << enc.error().message();
  // What every client reads: EnvelopedData, AES-256-CBC, RSA PKCS#1 v1.5.
  EXPECT_EQ(enc->plan.type, CmsType::kEnvelopedData);
  EXPECT_EQ(enc->plan.cipher, ContentCipher::kAes256Cbc);
  EXPECT_EQ(enc->plan.key_encryption, std::vector<KeyEncryption>{KeyEncryption::kRsaPkcs1v15});
  std::string text = Str(enc->message);
  EXPECT_NE(text.find("Subject: [...]\n"), std::string::npos);
  EXPECT_EQ(text.find("quarterly"), std::string::npos);
  EXPECT_NE(text.find("smime-type=enveloped-data"), std::string::npos);
  EXPECT_NE(text.find("Message-ID: <figures@example.test>"), std::string::npos);

  auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
  ASSERT_TRUE(dec.has_value()) << dec.error().message();
  EXPECT_EQ(dec->protection, HeaderProtection::kCipher);
  std::string plain = Str(dec->message);
  auto m = MimeMessage::Parse(dec->message);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->Header("Subject"), "The quarterly figures");
  EXPECT_EQ(m->Header("From"), "Alice <alice@example.test>");
  EXPECT_NE(plain.find("Revenue grew by 12 % \xe2\x80\x94 see the attachment.\n"), std::string::npos);
  EXPECT_NE(plain.find("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), std::string::npos);
}

TEST_F(MessageTest, DecryptingWithTheWrongKeyOrDamagedInputSaysWhy) {
  EncryptMessageOptions o;
  o.recipients = {To(*bob_)};
  auto enc = EncryptMessage(AsBytes(kMessage), o);
  ASSERT_TRUE(enc.has_value());
  // Alice is not a recipient.
  auto wrong = DecryptMessage(enc->message, alice_->cert, alice_->key);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kNotFound) << wrong.error().message();
  // Bob's certificate with another RSA key.
  Identity other = pki_->Mailbox(KeyType::kRsa2048, "bob@example.test");
  auto bad_key = DecryptMessage(enc->message, bob_->cert, other.key);
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_NE(bad_key.error().code(), ErrorCode::kInternal);
  // Truncated CMS inside a well-formed MIME wrapper.
  auto mime = MimeMessage::Parse(enc->message);
  Bytes der = *mime->Pkcs7Body();
  der.resize(der.size() / 2);
  auto cut = BuildPkcs7Mime(mime->MessageHeaders(), "enveloped-data", der, Newline::kLf);
  auto truncated = DecryptMessage(*cut, bob_->cert, bob_->key);
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code(), ErrorCode::kParse) << truncated.error().message();
  // Garbage.
  Bytes junk(300, 0x41);
  auto garbage = BuildPkcs7Mime(mime->MessageHeaders(), "enveloped-data", junk, Newline::kLf);
  auto g = DecryptMessage(*garbage, bob_->cert, bob_->key);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), ErrorCode::kParse);
  // A message that is not encrypted.
  auto plain = DecryptMessage(AsBytes(kMessage), bob_->cert, bob_->key);
  ASSERT_FALSE(plain.has_value());
  EXPECT_NE(plain.error().message().find("not encrypted"), std::string::npos);
  // Verify on garbage says it is malformed rather than crashing.
  MessageVerifyReport r = VerifyMessage(*garbage, Trust());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.Problems().empty());
}

TEST_F(MessageTest, SignedThenEncryptedMessageDecryptsAndVerifies) {
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_), To(*alice_)};
  auto enc = SignAndEncryptMessage(AsBytes(kMessage), SignWith(*alice_), eo);
  ASSERT_TRUE(enc.has_value()) << enc.error().message();
  EXPECT_EQ(enc->plan.key_encryption,
            (std::vector<KeyEncryption>{KeyEncryption::kRsaPkcs1v15, KeyEncryption::kEcdhSha256Kdf}));
  for (const Identity* who : {bob_, alice_}) {
    auto dec = DecryptMessage(enc->message, who->cert, who->key);
    ASSERT_TRUE(dec.has_value()) << dec.error().message();
    EXPECT_EQ(dec->protection, HeaderProtection::kCipher);
    MessageVerifyReport r = VerifyMessage(dec->message, Trust());
    ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
    EXPECT_EQ(r.protection, HeaderProtection::kCipher);
    EXPECT_EQ(FieldValue(r.protected_headers, "Subject"), " The quarterly figures");
    EXPECT_EQ(r.cms.signers[0].postmark.verdict, PostmarkVerdict::kValid);
    auto m = MimeMessage::Parse(dec->message);
    EXPECT_EQ(m->Header("Subject"), "The quarterly figures");
  }
}

TEST_F(MessageTest, Sm2MailboxesSignAndEncrypt) {
  Identity carol = pki_->Mailbox(KeyType::kSm2, "carol@example.test");
  Identity dave = pki_->Mailbox(KeyType::kSm2, "dave@example.test");
  std::string msg = kMessage;
  msg.replace(msg.find("Alice <alice@example.test>"), 26, "Carol <carol@example.test>");
  auto signed_msg = SignMessage(AsBytes(msg), SignWith(carol));
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  EXPECT_NE(Str(*signed_msg).find("micalg=sm3"), std::string::npos);
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
  EXPECT_EQ(r.cms.signers[0].digest, crypto::DigestAlgorithm::kSm3);

  EncryptMessageOptions eo;
  eo.recipients = {To(dave)};
  auto enc = EncryptMessage(*signed_msg, eo);
  ASSERT_TRUE(enc.has_value()) << enc.error().message();
  EXPECT_EQ(enc->plan.cipher, ContentCipher::kSm4Cbc);
  auto dec = DecryptMessage(enc->message, dave.cert, dave.key);
  ASSERT_TRUE(dec.has_value()) << dec.error().message();
  MessageVerifyReport r2 = VerifyMessage(dec->message, Trust());
  EXPECT_TRUE(r2.ok()) << (r2.Problems().empty() ? "" : r2.Problems().front());
}

TEST_F(MessageTest, ExpiredOrUntrustedSignersFail) {
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  VerifyOptions later = Trust();
  later.at = pki_->now() + std::chrono::hours(24 * 400);
  MessageVerifyReport expired = VerifyMessage(*signed_msg, later);
  EXPECT_FALSE(expired.ok());
  EXPECT_EQ(expired.cms.signers[0].chain, ChainVerdict::kExpired);

  Pki other;
  VerifyOptions stranger = Trust();
  stranger.roots = {other.root()};
  MessageVerifyReport untrusted = VerifyMessage(*signed_msg, stranger);
  EXPECT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.cms.signers[0].chain, ChainVerdict::kUntrusted);
  EXPECT_EQ(untrusted.cms.signers[0].signature, SignatureVerdict::kValid);
}

TEST_F(MessageTest, ACertificateNotForEmailDoesNotSignMessages) {
  // RFC 8550 §4.4.4: under the same root, with Alice's address, but issued for TLS clients only.
  Identity client = pki_->MailboxWithEku("alice@example.test", {NID_client_auth});
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(client, false));
  ASSERT_TRUE(signed_msg.has_value()) << signed_msg.error().message();
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.cms.signers.size(), 1u);
  EXPECT_EQ(r.cms.signers[0].signature, SignatureVerdict::kValid);
  EXPECT_EQ(r.cms.signers[0].chain, ChainVerdict::kWrongPurpose);
  EXPECT_TRUE(r.from_matches_signer);
  std::string problems = ::testing::PrintToString(r.Problems());
  EXPECT_NE(problems.find("emailProtection"), std::string::npos) << problems;

  // The caller can opt out explicitly; the CMS level does not check unless asked.
  VerifyOptions lax = Trust();
  lax.check_signer_purpose = false;
  EXPECT_TRUE(VerifyMessage(*signed_msg, lax).ok());
  // With emailProtection among other purposes it is an S/MIME signer.
  Identity both = pki_->MailboxWithEku("alice@example.test", {NID_client_auth, NID_email_protect});
  auto ok_msg = SignMessage(AsBytes(kMessage), SignWith(both, false));
  ASSERT_TRUE(ok_msg.has_value());
  MessageVerifyReport r2 = VerifyMessage(*ok_msg, Trust());
  EXPECT_TRUE(r2.ok()) << ::testing::PrintToString(r2.Problems());
}

TEST_F(MessageTest, AFromAddressNotInTheSignerCertificateFails) {
  std::string msg = kMessage;
  msg.replace(msg.find("Alice <alice@example.test>"), 26, "Mallory <ceo@example.test>");
  auto signed_msg = SignMessage(AsBytes(msg), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
  EXPECT_TRUE(r.cms.ok());
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.Problems().empty());
  EXPECT_NE(r.Problems().back().find("ceo@example.test"), std::string::npos);
}

TEST_F(MessageTest, EveryFromAddressMustBeTheSigners) {
  // "From: alice, mallory" signed by Alice does not vouch for mallory (RFC 8550 §3).
  for (const char* from : {"Alice <alice@example.test>, Mallory <ceo@example.test>",
                           "Mallory <ceo@example.test>, Alice <alice@example.test>",
                           "Team: Alice <alice@example.test>, Mallory <ceo@example.test>;"}) {
    std::string msg = kMessage;
    msg.replace(msg.find("Alice <alice@example.test>"), 26, from);
    auto signed_msg = SignMessage(AsBytes(msg), SignWith(*alice_, false));
    ASSERT_TRUE(signed_msg.has_value());
    MessageVerifyReport r = VerifyMessage(*signed_msg, Trust());
    EXPECT_TRUE(r.cms.ok()) << from;
    EXPECT_FALSE(r.from_matches_signer) << from;
    EXPECT_FALSE(r.ok()) << from;
    EXPECT_NE(r.from.find("ceo@example.test"), std::string::npos) << r.from;
  }
  // The same address twice is still only Alice.
  std::string msg = kMessage;
  msg.replace(msg.find("Alice <alice@example.test>"), 26,
              "Alice <alice@example.test>, alice@EXAMPLE.test");
  auto signed_msg = SignMessage(AsBytes(msg), SignWith(*alice_, false));
  ASSERT_TRUE(signed_msg.has_value());
  EXPECT_TRUE(VerifyMessage(*signed_msg, Trust()).ok());
}

TEST_F(MessageTest, LargeAttachmentRoundTrips) {
  // 3 MiB of binary data, base64 in 76-column lines, as a client attaches it.
  Bytes blob(3 << 20);
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::string b64 = Base64Encode(blob);
  std::string wrapped;
  for (size_t i = 0; i < b64.size(); i += 76) wrapped += b64.substr(i, 76) + "\r\n";
  std::string msg =
      "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
      "see attached\r\n--zz\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      wrapped + "--zz--\r\n";
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  auto enc = SignAndEncryptMessage(AsBytes(msg), SignWith(*alice_, false), eo);
  ASSERT_TRUE(enc.has_value()) << enc.error().message();
  auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
  ASSERT_TRUE(dec.has_value()) << dec.error().message();
  MessageVerifyReport r = VerifyMessage(dec->message, Trust());
  ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
  EXPECT_NE(Str(dec->message).find(wrapped), std::string::npos) << "attachment changed";
}

}  // namespace
}  // namespace autoseal::smime

namespace autoseal::smime {
namespace {

// A text/plain message whose body is exactly n bytes of printable lines ended by CRLF or (with
// lf_only, or at random) bare LF, optionally ending in a bare CR.
std::string TextMessage(size_t n, bool lf_only, bool trailing_cr, uint64_t seed) {
  std::string body(n, 'x');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (x % 61 == 0) {
      if (!lf_only && x % 2 == 0 && i + 1 < n) body[i++] = '\r';
      body[i] = '\n';
    } else {
      body[i] = static_cast<char>('a' + x % 26);
    }
  }
  if (trailing_cr && n > 0) body[n - 1] = '\r';
  return "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: sizes\r\n"
         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
         body;
}

// Whether s has a CR that does not start a CRLF.
bool HasBareCr(std::string_view s) {
  for (size_t i = s.find('\r'); i != std::string_view::npos; i = s.find('\r', i + 1))
    if (i + 1 == s.size() || s[i + 1] != '\n') return true;
  return false;
}

TEST_F(MessageTest, StreamedSignAndEncryptSignsTheSamePayloadAtEveryBlockBoundary) {
  // The streamed writer reads the body in 64 KB pieces (internal::kCanonicalPiece); the signed
  // entity it encrypts must be the payload a full GMime parse gives, at sizes around the
  // pieces, with CRLF split across them, bare LFs, a trailing bare CR (which makes the part
  // quoted-printable) and an empty body.
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  const size_t block = 64 << 10;
  std::vector<size_t> sizes = {0, 1, 2, block - 1, block, block + 1, 2 * block + 7};
  for (uint64_t seed = 1; seed <= 3; ++seed) sizes.push_back((seed * 48271) % (3 * block));
  for (size_t n : sizes) {
    for (int variant = 0; variant < 3; ++variant) {
      const std::string msg = TextMessage(n, variant == 1, variant == 2, n + variant);
      auto full = MimeMessage::Parse(AsBytes(msg));
      ASSERT_TRUE(full.has_value());
      auto want = full->Payload({.seven_bit = true, .protect = HeaderProtection::kCipher});
      ASSERT_TRUE(want.has_value()) << want.error().message();

      auto enc = SignAndEncryptMessage(AsBytes(msg), SignWith(*alice_, false), eo);
      ASSERT_TRUE(enc.has_value()) << enc.error().message();
      auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
      ASSERT_TRUE(dec.has_value()) << dec.error().message();
      MessageVerifyReport r = VerifyMessage(dec->message, Trust());
      ASSERT_TRUE(r.ok()) << "n=" << n << " variant=" << variant << ": "
                          << (r.Problems().empty() ? "" : r.Problems().front());
      auto signed_part = MimeMessage::Parse(dec->message)->SignedContent();
      ASSERT_TRUE(signed_part.has_value()) << signed_part.error().message();
      EXPECT_TRUE(*signed_part == *want) << "n=" << n << " variant=" << variant;
      // The trailing bare CR travels as quoted-printable "=0D" (RFC 8551 §3.1.2): `openssl cms
      // -verify` strips the CRs that end a line, so as it was it would not verify there.
      EXPECT_FALSE(HasBareCr(Str(*signed_part))) << "n=" << n << " variant=" << variant;
    }
  }
}

TEST_F(MessageTest, StreamedSignAndEncryptKeepsUnixLineEndingsOutside) {
  std::string msg = kMessage;  // LF line endings, an 8-bit part: GMime re-encodes it
  std::string clean = TextMessage(5000, true, false, 9);
  std::string lf;
  for (char c : clean)
    if (c != '\r') lf.push_back(c);
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  for (const std::string& m : {msg, lf}) {
    auto enc = SignAndEncryptMessage(AsBytes(m), SignWith(*alice_, false), eo);
    ASSERT_TRUE(enc.has_value()) << enc.error().message();
    EXPECT_EQ(Str(enc->message).find('\r'), std::string::npos);
    auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
    ASSERT_TRUE(dec.has_value()) << dec.error().message();
    EXPECT_TRUE(VerifyMessage(dec->message, Trust()).ok());
  }
}

TEST_F(MessageTest, HeaderOnlyParseGivesTheSamePayloadAsAFullParse) {
  const std::vector<std::string> messages = {
      kMessage,                                              // 8-bit part: full parse
      TextMessage(3000, false, false, 5),                    // clean text
      TextMessage(3000, true, true, 6),                      // bare LFs, trailing CR
      "Subject: no body\r\n\r\n",                            // empty body
      "Subject: no blank line\r\n",                          // no body at all
      "Subject: x\r\nContent-Type: text/plain\r\n\r\nFrom here\r\n",  // a "From " line
      "Subject: x\r\nnot a header\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n",
      "Subject: x\r\nContent-Type: text/plain\r\n\r\n" + std::string(1200, 'y') + "\r\n",
      "Subject: x\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\npre\r\n--q\r\n"
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nhi\r\n--q--\r\n",
      "Subject: x\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
      "Content-Transfer-Encoding : binary\r\n\r\na\nb\r\n--q--\r\n",
      "Subject: x\r\nContent-Transfer-Encoding: binary\r\n\r\na\nb\n",
  };
  for (const std::string& msg : messages) {
    for (bool seven_bit : {true, false}) {
      for (HeaderProtection hp : {HeaderProtection::kNone, HeaderProtection::kCipher}) {
        auto full = MimeMessage::Parse(AsBytes(msg));
        auto fast = MimeMessage::ParseToProtect(AsBytes(msg), seven_bit);
        ASSERT_EQ(full.has_value(), fast.has_value()) << msg;
        if (!full) continue;
        EXPECT_EQ(full->Form(), fast->Form());
        EXPECT_EQ(full->ContentType(), fast->ContentType());
        auto a = full->Payload({.seven_bit = seven_bit, .protect = hp});
        auto b = fast->Payload({.seven_bit = seven_bit, .protect = hp});
        ASSERT_EQ(a.has_value(), b.has_value()) << msg;
        if (a) {
          EXPECT_EQ(Str(*a), Str(*b)) << msg;
        }
        EXPECT_EQ(full->OuterHeaders(hp).size(), fast->OuterHeaders(hp).size());
      }
    }
  }
}

}  // namespace
}  // namespace autoseal::smime

namespace autoseal::smime {
namespace {

std::string WithoutLineBreaks(std::string s) {
  std::erase_if(s, [](char c) { return c == '\r' || c == '\n'; });
  return s;
}

TEST_F(MessageTest, BinaryPartsReachTheRecipientByteForByteOnEveryPath) {
  // RFC 8551 §3.1.1 canonicalises text; a Content-Transfer-Encoding: binary part is data, and
  // its bare LF, CR and NUL bytes must survive (it travels as base64 inside the CMS object).
  std::string data = std::string("line\nbare CR\r here\r\nNUL\0 and \xff\xfe 8-bit\n\n", 39);
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>((i * 37) & 0xff));
  std::string seven_bit_data = "a\nb\nc\r\nd\n";  // 7-bit, but bare LFs are data too
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  for (const std::string& bytes : {data, seven_bit_data}) {
    const std::string single =
        "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
        bytes;
    const std::string nested =
        "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
        "see attached\r\n--zz\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\n" +
        bytes + "\r\n--zz--\r\n";
    const std::string b64 = Base64Encode(AsBytes(bytes));

    // Encryption, and sign-then-encrypt.
    auto enc = EncryptMessage(AsBytes(single), eo);
    ASSERT_TRUE(enc.has_value()) << enc.error().message();
    auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
    ASSERT_TRUE(dec.has_value()) << dec.error().message();
    auto body = MimeMessage::Parse(dec->message)->Pkcs7Body();  // decodes any leaf body
    ASSERT_TRUE(body.has_value()) << body.error().message();
    EXPECT_EQ(Str(*body), bytes);

    for (bool sign_too : {false, true}) {
      auto e = sign_too ? SignAndEncryptMessage(AsBytes(nested), SignWith(*alice_, false), eo)
                        : EncryptMessage(AsBytes(nested), eo);
      ASSERT_TRUE(e.has_value()) << e.error().message();
      auto d = DecryptMessage(e->message, bob_->cert, bob_->key);
      ASSERT_TRUE(d.has_value()) << d.error().message();
      EXPECT_NE(WithoutLineBreaks(Str(d->message)).find(b64), std::string::npos) << sign_too;
      if (sign_too) {
        EXPECT_TRUE(VerifyMessage(d->message, Trust()).ok());
      }
    }

    // Opaque and multipart/signed signatures.
    for (bool opaque : {true, false}) {
      SignMessageOptions so = SignWith(*alice_, false);
      so.opaque = opaque;
      auto s = SignMessage(AsBytes(nested), so);
      ASSERT_TRUE(s.has_value()) << s.error().message();
      MessageVerifyReport r = VerifyMessage(*s, Trust());
      ASSERT_TRUE(r.ok()) << (r.Problems().empty() ? "" : r.Problems().front());
      EXPECT_NE(WithoutLineBreaks(Str(r.content)).find(b64), std::string::npos) << opaque;
      EXPECT_EQ(Str(r.content).find("Content-Transfer-Encoding: binary"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace autoseal::smime

namespace autoseal::smime {
namespace {

TEST_F(MessageTest, HeaderSectionParseReadsSignedAndEncryptedMessagesLikeAFullParse) {
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  auto signed_msg = SignMessage(AsBytes(kMessage), SignWith(*alice_, false));
  SignMessageOptions opaque = SignWith(*alice_, false);
  opaque.opaque = true;
  auto opaque_msg = SignMessage(AsBytes(kMessage), opaque);
  auto enc = EncryptMessage(AsBytes(kMessage), eo);
  ASSERT_TRUE(signed_msg && opaque_msg && enc);
  // The same envelope in quoted-printable: ParseHeaderSection hands that encoding to GMime.
  std::string qp_msg = Str(enc->message);
  auto der = MimeMessage::Parse(enc->message)->Pkcs7Body();
  ASSERT_TRUE(der.has_value());
  std::string qp;
  for (uint8_t b : *der) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "=%02X", b);
    qp += hex;
    if (qp.size() % 72 == 0) qp += "=\n";
  }
  qp_msg = qp_msg.substr(0, qp_msg.find("Content-Transfer-Encoding")) +
           "Content-Transfer-Encoding: quoted-printable\n\n" + qp;
  for (const std::string& m : {Str(*signed_msg), Str(*opaque_msg), Str(enc->message), qp_msg}) {
    auto full = MimeMessage::Parse(AsBytes(m));
    auto head = MimeMessage::ParseHeaderSection(AsBytes(m));
    ASSERT_TRUE(full && head);
    EXPECT_EQ(full->Form(), head->Form());
    EXPECT_EQ(full->Header("From"), head->Header("From"));
    auto a = full->SignedContent(), b = head->SignedContent();
    ASSERT_EQ(a.has_value(), b.has_value());
    if (a) {
      EXPECT_TRUE(*a == *b);
      EXPECT_TRUE(*full->DetachedSignature() == *head->DetachedSignature());
    }
    auto p = full->Pkcs7Body(), q = head->Pkcs7Body();
    ASSERT_EQ(p.has_value(), q.has_value());
    if (p) {
      EXPECT_TRUE(*p == *q);
    }
    EXPECT_FALSE(head->Payload({}).has_value());  // reading only: no payload from it
  }
  auto dec = DecryptMessage(AsBytes(qp_msg), bob_->cert, bob_->key);
  ASSERT_TRUE(dec.has_value()) << dec.error().message();
}

}  // namespace
}  // namespace autoseal::smime

namespace autoseal::smime {
namespace {

TEST_F(MessageTest, EncryptingASignedMessageLeavesItsSignatureIntact) {
  // RFC 1847 §2.1: the signed part must reach the verifier byte for byte. Parts inside it that
  // encrypting or multipart/signing would otherwise re-encode: binary (with a CRLF that
  // canonicalisation must not touch) and 8-bit text.
  const std::string entity =
      "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n"
      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "caf\xc3\xa9\r\n--in\r\n"
      "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
      "AB\r\nCD\r\n--in--\r\n";
  auto der =
      Signer(*alice_)->Sign(AsBytes(entity), {.detached = true, .signing_time = pki_->now()});
  ASSERT_TRUE(der.has_value()) << der.error().message();
  auto signed_msg = BuildMultipartSigned(
      {{"From", " alice@example.test"}, {"To", " bob@example.test"}, {"Subject", " signed"}},
      AsBytes(entity), *der, "sha-256", Newline::kCrlf);
  ASSERT_TRUE(signed_msg.has_value());
  ASSERT_TRUE(VerifyMessage(*signed_msg, Trust()).ok());
  // The same message forwarded inside another, beside a binary part of its own.
  const std::string forwarded =
      "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=OUT\r\n\r\n--OUT\r\n"
      "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
      "x\ny\r\n--OUT\r\nContent-Type: message/rfc822\r\n\r\n" +
      Str(*signed_msg) + "\r\n--OUT--\r\n";
  // The signed message inside what was decrypted: all of it, or the forwarded part.
  auto inner = [](const std::string& text) {
    size_t from = text.find("From: alice@example.test\r\nTo: bob@example.test\r\nSubject: signed");
    size_t to = text.rfind("\r\n--OUT--");
    if (from == std::string::npos) return std::string();
    return text.substr(from, to == std::string::npos || to < from ? std::string::npos : to - from);
  };
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  for (const std::string& msg : {Str(*signed_msg), forwarded}) {
    for (bool sign_too : {false, true}) {
      auto enc = sign_too ? SignAndEncryptMessage(AsBytes(msg), SignWith(*alice_, false), eo)
                          : EncryptMessage(AsBytes(msg), eo);
      ASSERT_TRUE(enc.has_value()) << enc.error().message();
      auto dec = DecryptMessage(enc->message, bob_->cert, bob_->key);
      ASSERT_TRUE(dec.has_value()) << dec.error().message();
      std::string plain = Str(dec->message);
      if (sign_too) {
        MessageVerifyReport outer = VerifyMessage(dec->message, Trust());
        ASSERT_TRUE(outer.ok()) << (outer.Problems().empty() ? "" : outer.Problems().front());
        plain = Str(ComposeMessage(
            {{"From", " alice@example.test"}, {"To", " bob@example.test"}, {"Subject", " signed"}},
            outer.content, Newline::kCrlf));
        if (msg == forwarded) plain = Str(outer.content);
      }
      MessageVerifyReport r = VerifyMessage(AsBytes(inner(plain)), Trust());
      EXPECT_TRUE(r.ok()) << "forwarded=" << (msg == forwarded) << " sign_too=" << sign_too << ": "
                          << (r.Problems().empty() ? "" : r.Problems().front());
    }
  }
}

TEST_F(MessageTest, ABareCrIsSignedAsQuotedPrintableAndVerifies) {
  // RFC 5322 §2.3 allows CR only in CRLF. Signed as it was, a bare CR breaks the signature: LF
  // output merges "\r\r\n" into "\r\n" and a trailing CR with the delimiter's line break, and
  // openssl strips the CRs that end a line before hashing.
  EncryptMessageOptions eo;
  eo.recipients = {To(*bob_)};
  for (bool crlf : {false, true}) {
    for (std::string body : {std::string("hello\r\r\nworld\n"), std::string("hello\nworld\r")}) {
      std::string head =
          "From: alice@example.test\nTo: bob@example.test\nSubject: t\n"
          "MIME-Version: 1.0\nContent-Type: text/plain\n\n";
      if (crlf) {
        head = ToCrlfForTest(head);
        if (body.back() == '\n') body.replace(body.size() - 1, 1, "\r\n");
      }
      const std::string msg = head + body;
      const std::string what = std::string(crlf ? "CRLF" : "LF") + " body=" + body;
      auto s = SignMessage(AsBytes(msg), SignWith(*alice_, false));
      ASSERT_TRUE(s.has_value()) << s.error().message();
      EXPECT_NE(Str(*s).find("=0D"), std::string::npos) << what;
      MessageVerifyReport r = VerifyMessage(*s, Trust());
      ASSERT_TRUE(r.ok()) << what << ": " << (r.Problems().empty() ? "" : r.Problems().front());
      EXPECT_FALSE(HasBareCr(Str(r.content))) << what;
      // The reader decodes the CR back (the content comes in the message's line endings).
      auto decoded = MimeMessage::Parse(r.content)->Pkcs7Body();  // decodes any leaf body
      ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
      const std::string eol = crlf ? "\r\n" : "\n";
      EXPECT_EQ(Str(*decoded),
                body.back() == '\r' ? "hello" + eol + "world\r" : "hello\r" + eol + "world" + eol)
          << what;

      auto e = SignAndEncryptMessage(AsBytes(msg), SignWith(*alice_, false), eo);
      ASSERT_TRUE(e.has_value()) << e.error().message();
      auto d = DecryptMessage(e->message, bob_->cert, bob_->key);
      ASSERT_TRUE(d.has_value()) << d.error().message();
      MessageVerifyReport r2 = VerifyMessage(d->message, Trust());
      ASSERT_TRUE(r2.ok()) << what << ": " << (r2.Problems().empty() ? "" : r2.Problems().front());
      EXPECT_FALSE(HasBareCr(Str(r2.content))) << what;
    }
  }
}

}  // namespace
}  // namespace autoseal::smime
