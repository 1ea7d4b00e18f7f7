#include "smime/mime.h"

#include <gtest/gtest.h>

#include <string>

namespace autoseal::smime {
namespace {

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// A message with LF line endings, an 8-bit text part, a binary attachment and a nested
// multipart/alternative: what a client hands the agent.
const std::string kMixed =
    "From: Alice <alice@example.test>\n"
    "To: Bob <bob@example.test>\n"
    "Cc: carol@example.test\n"
    "Bcc: secret@example.test\n"
    "Subject: =?utf-8?q?Quartalsbericht_f=C3=BCr_Q3?=\n"
    "Keywords: finance\n"
    "Date: Sat, 28 Nov 2026 12:00:00 +0000\n"
    "Message-ID: <q3@example.test>\n"
    "Received: from mx by example.test\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "preamble\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\n"
    "\n"
    "--alt\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen\n"
    "From the start of a line\n"
    "--alt\n"
    "Content-Type: text/html; charset=us-ascii\n"
    "\n"
    "<p>hello</p>\n"
    "--alt--\n"
    "--outer\n"
    "Content-Type: application/octet-stream; name=data.bin\n"
    "Content-Disposition: attachment; filename=data.bin\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODw==\n"
    "--outer--\n"
    "epilogue\n";

// MimeMessage borrows its input: text must outlive the result.
MimeMessage ParseOk(const std::string& text) {
  auto m = MimeMessage::Parse(AsBytes(text));
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message());
  return std::move(*m);
}

TEST(MimeTest, SevenBitPayloadIsCanonicalCrlfAndKeepsStructure) {
  MimeMessage m = ParseOk(kMixed);
  EXPECT_EQ(m.newline(), Newline::kLf);
  EXPECT_EQ(m.Form(), SmimeForm::kPlain);
  auto payload = m.Payload({.seven_bit = true});
  ASSERT_TRUE(payload.has_value()) << payload.error().message();
  std::string p = Str(*payload);
  // Every line ends in CRLF (RFC 8551 §3.1.1) and nothing is 8-bit any more (§3.1.2).
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\n') {
      ASSERT_TRUE(i > 0 && p[i - 1] == '\r') << "bare LF at " << i;
    }
    ASSERT_LT(static_cast<unsigned char>(p[i]), 0x80) << "8-bit byte at " << i;
  }
  EXPECT_NE(p.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);
  EXPECT_NE(p.find("Gr=C3=BC=C3=9Fe aus M=C3=BCnchen"), std::string::npos);
  // The base64 attachment and the HTML part are untouched.
  EXPECT_NE(p.find("AAECAwQFBgcICQoLDA0ODw==\r\n"), std::string::npos);
  EXPECT_NE(p.find("<p>hello</p>\r\n"), std::string::npos);
  // The message's own header fields stay outside.
  EXPECT_EQ(p.find("Subject:"), std::string::npos);
  EXPECT_TRUE(p.starts_with("Content-Type: multipart/mixed"));
}

TEST(MimeTest, MultipartSignedRoundTripsTheSignedBytesExactly) {
  MimeMessage m = ParseOk(kMixed);
  Bytes entity = *m.Payload({.seven_bit = true, .protect = HeaderProtection::kClear});
  Bytes sig = {0x30, 0x03, 0x02, 0x01, 0x01, 0xff, 0x00, 0x80};
  for (Newline nl : {Newline::kLf, Newline::kCrlf}) {
    auto built = BuildMultipartSigned(m.OuterHeaders(HeaderProtection::kNone), entity, sig,
                                      "sha-256", nl);
    ASSERT_TRUE(built.has_value()) << built.error().message();
    std::string text = Str(*built);
    MimeMessage back = ParseOk(text);
    EXPECT_EQ(back.newline(), nl);
    EXPECT_EQ(back.Form(), SmimeForm::kMultipartSigned);
    EXPECT_EQ(back.ContentTypeParameter("micalg"), "sha-256");
    EXPECT_EQ(back.ContentTypeParameter("protocol"), "application/pkcs7-signature");
    auto content = back.SignedContent();
    ASSERT_TRUE(content.has_value()) << content.error().message();
    EXPECT_EQ(Str(*content), Str(entity));
    EXPECT_EQ(*back.DetachedSignature(), sig);
    EXPECT_EQ(back.Header("Message-ID"), "<q3@example.test>");
    EXPECT_EQ(back.Header("Subject"), "Quartalsbericht für Q3");
    // RFC 9788: the signed part carries the header fields, marked hp="clear".
    EXPECT_EQ(back.PayloadProtection(), HeaderProtection::kClear);
    bool has_subject = false;
    for (const HeaderField& f : back.ProtectedHeaders()) {
      EXPECT_NE(f.name, "Received") << "trace fields are not the author's";
      if (f.name == "Subject") has_subject = f.raw_value == " =?utf-8?q?Quartalsbericht_f=C3=BCr_Q3?=";
    }
    EXPECT_TRUE(has_subject);
  }
}

TEST(MimeTest, SignedContentFollowsOnlyRfc2046Delimiters) {
  // LF line endings, transport padding after real delimiters, and lines that merely start with
  // the boundary: "--BX" in the preamble and "--B-x" inside the first part are content.
  const std::string text =
      "From: a@example.test\n"
      "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"B\"\n"
      "\n"
      "--BX\n"
      "preamble\n"
      "--B \t\n"
      "Content-Type: text/plain\n"
      "\n"
      "shown\n"
      "--B-x\n"
      "still the first part\n"
      "--B\n"
      "Content-Type: application/pkcs7-signature\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "MAA=\n"
      "--B--  \n"
      "epilogue\n";
  MimeMessage m = ParseOk(text);
  auto content = m.SignedContent();
  ASSERT_TRUE(content.has_value()) << content.error().message();
  EXPECT_EQ(Str(*content),
            "Content-Type: text/plain\r\n\r\nshown\r\n--B-x\r\nstill the first part");
  EXPECT_EQ(*m.DetachedSignature(), (Bytes{0x30, 0x00}));
  // Without the close delimiter, or with a third part, it is not multipart/signed.
  std::string open = text.substr(0, text.find("--B--"));
  EXPECT_FALSE(ParseOk(open).SignedContent().has_value());
  std::string three = text;
  three.replace(three.find("--B--"), 5, "--B\nContent-Type: text/plain\n\nthird\n--B--");
  EXPECT_FALSE(ParseOk(three).SignedContent().has_value());
}

TEST(MimeTest, PayloadIsStableAndTheSignedMessageCarriesItExactly) {
  for (bool seven_bit : {false, true}) {
    MimeMessage m = ParseOk(kMixed);
    PayloadOptions options{.seven_bit = seven_bit, .protect = HeaderProtection::kClear};
    Bytes first = *m.Payload(options);
    // A second call gives the same bytes (nothing injected twice).
    EXPECT_EQ(Str(*m.Payload(options)), Str(first));
    EXPECT_FALSE(m.Payload({.seven_bit = !seven_bit}).has_value()) << "prepared differently";
    // The raw-body path (nothing re-encoded) keeps the 8-bit text as it came.
    EXPECT_EQ(Str(first).find("M\xc3\xbcnchen") != std::string::npos, !seven_bit);
    Bytes sig = {0x30, 0x00};
    auto out = BuildMultipartSigned(m.OuterHeaders(HeaderProtection::kNone), first, sig, "sha-256",
                                    Newline::kCrlf);
    ASSERT_TRUE(out.has_value());
    std::string text = Str(*out);
    MimeMessage back = ParseOk(text);
    EXPECT_EQ(back.Form(), SmimeForm::kMultipartSigned);
    EXPECT_EQ(Str(*back.SignedContent()), Str(first));
    EXPECT_EQ(*back.DetachedSignature(), sig);
  }
}

TEST(MimeTest, CipherProtectionObscuresTheOuterSubjectAndRecordsHpOuter) {
  MimeMessage m = ParseOk(kMixed);
  auto payload = m.Payload({.protect = HeaderProtection::kCipher});
  ASSERT_TRUE(payload.has_value());
  std::string p = Str(*payload);
  EXPECT_NE(p.find("hp=cipher"), std::string::npos);
  EXPECT_NE(p.find("\r\nSubject: =?utf-8?q?Quartalsbericht_f=C3=BCr_Q3?=\r\n"), std::string::npos);
  EXPECT_NE(p.find("\r\nKeywords: finance\r\n"), std::string::npos);
  EXPECT_NE(p.find("\r\nHP-Outer: Subject: [...]\r\n"), std::string::npos);
  EXPECT_NE(p.find("\r\nHP-Outer: From: Alice <alice@example.test>\r\n"), std::string::npos);
  // Removed fields get no HP-Outer line (RFC 9788 §2.2).
  EXPECT_EQ(p.find("HP-Outer: Keywords"), std::string::npos);
  // Bcc never goes inside, where every recipient reads it.
  EXPECT_EQ(p.find("Bcc"), std::string::npos);
  // Not encrypting, the 8-bit text stays 8-bit.
  EXPECT_NE(p.find("M\xc3\xbcnchen"), std::string::npos);

  std::vector<HeaderField> outer = m.OuterHeaders(HeaderProtection::kCipher);
  bool subject_seen = false;
  for (const HeaderField& f : outer) {
    EXPECT_NE(f.name, "Keywords");
    if (f.name == "Subject") {
      subject_seen = true;
      EXPECT_EQ(f.raw_value, " [...]");
    }
  }
  EXPECT_TRUE(subject_seen);
  // Reading the payload back as a message presents the protected fields, HP-Outer excluded.
  MimeMessage inner = ParseOk(p);
  EXPECT_EQ(inner.PayloadProtection(), HeaderProtection::kCipher);
  bool inner_subject = false;
  for (const HeaderField& f : inner.ProtectedHeaders()) {
    EXPECT_NE(f.name, "HP-Outer");
    if (f.name == "Subject") inner_subject = true;
  }
  EXPECT_TRUE(inner_subject) << "the payload's own header fields are the protected ones";
}

TEST(MimeTest, Pkcs7MimeCarriesTheDerAndSmimeType) {
  MimeMessage m = ParseOk(kMixed);
  Bytes der(5000);
  for (size_t i = 0; i < der.size(); ++i) der[i] = static_cast<uint8_t>(i * 7);
  auto built = BuildPkcs7Mime(m.OuterHeaders(HeaderProtection::kCipher), "enveloped-data", der,
                              Newline::kLf);
  ASSERT_TRUE(built.has_value());
  std::string text = Str(*built);
  EXPECT_EQ(text.find('\r'), std::string::npos) << "LF in, LF out";
  MimeMessage back = ParseOk(text);
  EXPECT_EQ(back.Form(), SmimeForm::kEnvelopedData);
  EXPECT_EQ(back.ContentTypeParameter("name"), "smime.p7m");
  EXPECT_EQ(*back.Pkcs7Body(), der);
  EXPECT_EQ(back.Header("Subject"), "[...]");
  EXPECT_EQ(back.Header("Keywords"), std::nullopt);
  for (const char* t : {"authEnveloped-data", "signed-data"}) {
    auto b = BuildPkcs7Mime({}, t, der, Newline::kCrlf);
    ASSERT_TRUE(b.has_value());
    std::string bt = Str(*b);
    EXPECT_EQ(ParseOk(bt).Form(),
              std::string(t) == "signed-data" ? SmimeForm::kSignedData : SmimeForm::kAuthEnvelopedData);
  }
}

TEST(MimeTest, Pkcs7BodyDecodesToTheSameBytesForEveryLengthModulo57) {
  for (size_t n = 1; n <= 130; ++n) {
    Bytes der(n);
    for (size_t i = 0; i < n; ++i) der[i] = static_cast<uint8_t>(255 - i * 13);
    auto built = BuildPkcs7Mime({{"From", " a@example.test"}}, "enveloped-data", der, Newline::kLf);
    ASSERT_TRUE(built.has_value());
    std::string text = Str(*built);
    // RFC 2045 §6.8: no line longer than 76 characters.
    size_t body = text.find("\n\n") + 2, line = 0;
    for (size_t i = body; i < text.size(); ++i) {
      if (text[i] == '\n') line = 0;
      else ASSERT_LE(++line, 76u) << n;
    }
    MimeMessage m = ParseOk(text);
    EXPECT_EQ(*m.Pkcs7Body(), der) << n;
  }
}

TEST(MimeTest, CrlfInputGivesCrlfOutput) {
  std::string crlf;
  for (char c : std::string("From: a@example.test\nSubject: x\n\nbody\n")) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  MimeMessage m = ParseOk(crlf);
  EXPECT_EQ(m.newline(), Newline::kCrlf);
  Bytes entity = *m.Payload({.seven_bit = true});
  auto built = BuildPkcs7Mime(m.OuterHeaders(HeaderProtection::kNone), "signed-data", entity, m.newline());
  std::string text = Str(*built);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      ASSERT_EQ(text[i - 1], '\r');
    }
  }
}

TEST(MimeTest, BrokenStructuresGivePreciseErrors) {
  EXPECT_FALSE(MimeMessage::Parse(AsBytes(std::string())).has_value());
  // multipart/signed with only one part.
  MimeMessage one = ParseOk(
      "From: a@example.test\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
      " micalg=sha-256; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n");
  EXPECT_EQ(one.Form(), SmimeForm::kMultipartSigned);
  auto sc = one.SignedContent();
  ASSERT_FALSE(sc.has_value());
  EXPECT_EQ(sc.error().code(), ErrorCode::kParse);
  EXPECT_NE(sc.error().message().find("exactly two parts"), std::string::npos);
  // The second part is not a signature.
  MimeMessage wrong = ParseOk(
      "From: a@example.test\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
      " micalg=sha-256; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n"
      "Content-Type: text/plain\n\nnot a signature\n--b--\n");
  auto ds = wrong.DetachedSignature();
  ASSERT_FALSE(ds.has_value());
  EXPECT_NE(ds.error().message().find("not application/pkcs7-signature"), std::string::npos);
  // pkcs7-mime with an empty body.
  MimeMessage empty = ParseOk(
      "From: a@example.test\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
      "Content-Transfer-Encoding: base64\n\n");
  EXPECT_FALSE(empty.Pkcs7Body().has_value());
  // A PGP multipart/signed is not S/MIME.
  MimeMessage pgp = ParseOk(
      "From: a@example.test\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\";"
      " boundary=b\n\n--b\n\nx\n--b--\n");
  EXPECT_EQ(pgp.Form(), SmimeForm::kPlain);
}

TEST(MimeTest, ProtectingAnAlreadySignedBodyIsRefused) {
  MimeMessage m = ParseOk(
      "From: a@example.test\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
      " micalg=sha-256; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n"
      "Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\nMAA=\n--b--\n");
  auto p = m.Payload({.protect = HeaderProtection::kCipher});
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
}

TEST(MimeTest, AddressesAreExtractedFromAddressLists) {
  EXPECT_EQ(ParseAddresses("Alice <alice@example.test>"), std::vector<std::string>{"alice@example.test"});
  EXPECT_EQ(ParseAddresses("a@x.test, \"B, Jr\" <b@y.test>, team: c@z.test;"),
            (std::vector<std::string>{"a@x.test", "b@y.test", "c@z.test"}));
  EXPECT_TRUE(ParseAddresses("undisclosed-recipients:;").empty());
}

TEST(MimeTest, ComposeAddsMimeVersionOnlyWhenMissing) {
  std::string entity = "Content-Type: text/plain\r\n\r\nhi\r\n";
  Bytes a = ComposeMessage({{"From", " a@example.test"}}, AsBytes(entity), Newline::kCrlf);
  EXPECT_EQ(Str(a), "From: a@example.test\r\nMIME-Version: 1.0\r\n" + entity);
  std::string with = "MIME-Version: 1.0\r\n" + entity;
  Bytes b = ComposeMessage({{"From", " a@example.test"}}, AsBytes(with), Newline::kLf);
  EXPECT_EQ(Str(b), "From: a@example.test\nMIME-Version: 1.0\nContent-Type: text/plain\n\nhi\n");
}

}  // namespace
}  // namespace autoseal::smime
