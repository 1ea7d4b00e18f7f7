// `autoseal smime sign|encrypt|decrypt|verify`: RFC 5322 messages in, S/MIME out (and back).
// Wiring only; the work is in smime/message.h.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/file.h"
#include "smime/message.h"
#include "x509/certificate.h"

namespace autoseal::cli {
namespace {

using smime::HeaderField;

Result<std::vector<x509::Certificate>> LoadCertificates(const std::string& path) {
  auto pem = TRY(ReadFile(path, 1 << 20));
  return TRY_CONTEXT(x509::Certificate::ParseAll(pem), path);
}

Result<std::string> ReadMessage(const std::string& path) {
  return ReadInput(path, smime::kMaxMessageBytes);
}

// Writes the result to stdout, or atomically to a file that is not the input (the original
// message is never replaced). mode is the file's permission bits: 0600 for decrypted plaintext,
// which must not become readable by other users of the machine.
int WriteOutput(const std::string& in, const std::string& out, ByteView data,
                unsigned mode = 0644) {
  if (out.empty() || out == "-") {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
      return ReportError(Error(ErrorCode::kIo, "cannot write to standard output"));
    return 0;
  }
  std::error_code ec;
  if (in != "-" && std::filesystem::equivalent(in, out, ec))
    return ReportError(Error(ErrorCode::kInvalidArgument,
                             "--out must not be the input file: the original message is kept"));
  auto st = WriteFileAtomic(out, AsString(data), mode);
  if (!st) return ReportError(st.error());
  return 0;
}

Result<std::shared_ptr<const smime::CmsSigner>> LoadSigner(const std::string& cert,
                                                           const std::string& key) {
  auto chain = TRY(LoadCertificates(cert));
  auto private_key = TRY(crypto::LoadPrivateKey(key));
  smime::SignerConfig config{.key = std::move(private_key), .chain = std::move(chain)};
  return smime::CmsSigner::Create(std::move(config));
}

struct SignArgs {
  std::string in = "-", out, cert, key, tsa;
  bool opaque = false;
  bool no_header_protection = false;
  int tsa_timeout_s = 10;
};

smime::SignMessageOptions SignOptionsFrom(const SignArgs& a,
                                          std::shared_ptr<const smime::CmsSigner> signer) {
  smime::SignMessageOptions o;
  o.signer = std::move(signer);
  o.opaque = a.opaque;
  o.signing_time = SystemClock::Instance().Now();
  o.protect_headers = !a.no_header_protection;
  if (!a.tsa.empty()) {
    tsa::RequestOptions ro;
    ro.timeout = std::chrono::seconds(a.tsa_timeout_s);
    o.postmark = smime::TsaPostmarkFetcher(a.tsa, ro);
  }
  return o;
}

int RunSign(const SignArgs& a) {
  auto signer = LoadSigner(a.cert, a.key);
  if (!signer) return ReportError(signer.error());
  auto input = ReadMessage(a.in);
  if (!input) return ReportError(input.error());
  auto out = smime::SignMessage(AsBytes(*input), SignOptionsFrom(a, *signer));
  if (!out) return ReportError(out.error());
  return WriteOutput(a.in, a.out, *out);
}

struct EncryptArgs {
  std::string in = "-", out;
  std::vector<std::string> to;
  std::vector<std::string> to_signed;  // signed messages from recipients
  std::string roots;                   // to verify them
  std::string cipher = "auto";
  bool oaep = false;
  bool no_header_protection = false;
  bool verbose = false;
  // Sign first (multipart/signed inside the envelope).
  SignArgs sign;
};

Result<smime::ContentCipher> ParseCipher(const std::string& name) {
  using smime::ContentCipher;
  if (name == "aes-128-cbc") return ContentCipher::kAes128Cbc;
  if (name == "aes-192-cbc") return ContentCipher::kAes192Cbc;
  if (name == "aes-256-cbc") return ContentCipher::kAes256Cbc;
  if (name == "aes-128-gcm") return ContentCipher::kAes128Gcm;
  if (name == "aes-256-gcm") return ContentCipher::kAes256Gcm;
  if (name == "sm4-cbc") return ContentCipher::kSm4Cbc;
  return Fail(ErrorCode::kInvalidArgument, "unknown cipher " + name);
}

int RunEncrypt(const EncryptArgs& a) {
  smime::EncryptMessageOptions o;
  o.protect_headers = !a.no_header_protection;
  if (a.cipher != "auto") {
    auto c = ParseCipher(a.cipher);
    if (!c) return ReportError(c.error());
    o.cms.cipher = *c;
  }
  if (a.oaep) o.cms.rsa_key_encryption = smime::KeyEncryption::kRsaOaep;
  for (const std::string& path : a.to) {
    auto certs = LoadCertificates(path);
    if (!certs) return ReportError(certs.error());
    auto r = smime::PreparedRecipient::Create({.certificate = certs->front()});
    if (!r) return ReportError(r.error().WithContext(path));
    o.recipients.push_back(*r);
  }
  // RFC 8551 §2.7.1: what a recipient announced in a signed message (SMIMECapabilities) decides
  // the algorithms, once that message verifies.
  if (!a.to_signed.empty()) {
    auto roots = LoadCertificates(a.roots);
    if (!roots) return ReportError(roots.error());
    smime::VerifyOptions vo;
    vo.roots = *roots;
    vo.at = SystemClock::Instance().Now();
    for (const std::string& path : a.to_signed) {
      auto text = ReadMessage(path);
      if (!text) return ReportError(text.error());
      smime::MessageVerifyReport report = smime::VerifyMessage(AsBytes(*text), vo);
      if (!report.ok() || report.cms.signers.empty() || !report.cms.signers.front().certificate) {
        std::string why;
        for (const std::string& p : report.Problems()) why.append(why.empty() ? "" : "; ").append(p);
        return ReportError(Error(ErrorCode::kPolicy, path + ": the recipient's message does not verify: " + why));
      }
      const smime::SignerReport& signer = report.cms.signers.front();
      auto r = smime::PreparedRecipient::Create(
          {.certificate = *signer.certificate, .capabilities = signer.capabilities});
      if (!r) return ReportError(r.error().WithContext(path));
      o.recipients.push_back(*r);
    }
  }
  if (o.recipients.empty()) {
    std::fprintf(stderr, "autoseal: no recipients: give --to or --to-signed\n");
    return 2;  // a usage error
  }
  auto input = ReadMessage(a.in);
  if (!input) return ReportError(input.error());
  Result<smime::EncryptedMessage> out = Fail(ErrorCode::kInternal, "unset");
  if (!a.sign.cert.empty()) {
    auto signer = LoadSigner(a.sign.cert, a.sign.key);
    if (!signer) return ReportError(signer.error());
    smime::SignMessageOptions so = SignOptionsFrom(a.sign, *signer);
    so.protect_headers = o.protect_headers;
    out = smime::SignAndEncryptMessage(AsBytes(*input), so, o);
  } else {
    out = smime::EncryptMessage(AsBytes(*input), o);
  }
  if (!out) return ReportError(out.error());
  if (a.verbose) {
    std::string keys;
    for (smime::KeyEncryption k : out->plan.key_encryption)
      keys.append(keys.empty() ? "" : ", ").append(smime::KeyEncryptionName(k));
    std::fprintf(stderr, "autoseal: %s, %s, key transport: %s\n",
                 std::string(smime::SmimeType(out->plan.type)).c_str(),
                 std::string(smime::ContentCipherName(out->plan.cipher)).c_str(), keys.c_str());
  }
  return WriteOutput(a.in, a.out, out->message);
}

struct DecryptArgs {
  std::string in = "-", out, cert, key;
  bool verbose = false;
};

int RunDecrypt(const DecryptArgs& a) {
  auto certs = LoadCertificates(a.cert);
  if (!certs) return ReportError(certs.error());
  auto key = crypto::LoadPrivateKey(a.key);
  if (!key) return ReportError(key.error());
  auto input = ReadMessage(a.in);
  if (!input) return ReportError(input.error());
  auto out = smime::DecryptMessage(AsBytes(*input), certs->front(), *key);
  if (!out) return ReportError(out.error());
  if (a.verbose)
    std::fprintf(stderr, "autoseal: %s, %s, key transport: %s, header protection: %s\n",
                 std::string(smime::SmimeType(out->info.type)).c_str(),
                 std::string(smime::ContentCipherName(out->info.cipher)).c_str(),
                 std::string(smime::KeyEncryptionName(out->info.key_encryption)).c_str(),
                 std::string(smime::HeaderProtectionName(out->protection)).c_str());
  return WriteOutput(a.in, a.out, out->message, 0600);
}

struct VerifyArgs {
  std::string in = "-", out, roots, untrusted, tsa_roots, at;
};

std::string Names(const std::vector<HeaderField>& fields) {
  std::string s;
  for (const HeaderField& f : fields) s.append(s.empty() ? "" : ", ").append(f.name);
  return s;
}

int RunVerify(const VerifyArgs& a) {
  smime::VerifyOptions o;
  auto roots = LoadCertificates(a.roots);
  if (!roots) return ReportError(roots.error());
  o.roots = *roots;
  if (!a.untrusted.empty()) {
    auto u = LoadCertificates(a.untrusted);
    if (!u) return ReportError(u.error());
    o.untrusted = *u;
  }
  if (!a.tsa_roots.empty()) {
    auto t = LoadCertificates(a.tsa_roots);
    if (!t) return ReportError(t.error());
    o.tsa_roots = *t;
  }
  o.at = SystemClock::Instance().Now();
  if (!a.at.empty()) {
    auto at = ParseRfc3339(a.at);
    if (!at) return ReportError(at.error().WithContext("--at"));
    o.at = *at;
  }
  auto input = ReadMessage(a.in);
  if (!input) return ReportError(input.error());
  smime::MessageVerifyReport r = smime::VerifyMessage(AsBytes(*input), o);
  std::printf("form:         %s\n", std::string(smime::SmimeFormName(r.form)).c_str());
  for (const smime::SignerReport& s : r.cms.signers) {
    if (s.certificate) {
      std::string emails;
      for (const std::string& e : s.certificate->EmailAddresses()) emails.append(" <").append(e).append(">");
      std::printf("signer:       %s%s\n", s.certificate->Subject().c_str(), emails.c_str());
    }
    std::printf("signature:    %s%s%s\n", std::string(smime::SignatureVerdictName(s.signature)).c_str(),
                s.signature_algorithm.empty() ? "" : " (", s.signature_algorithm.empty() ? "" : (s.signature_algorithm + ")").c_str());
    std::printf("content:      %s\n", s.signature == smime::SignatureVerdict::kContentAltered
                                          ? "ALTERED after signing"
                                          : (s.signature == smime::SignatureVerdict::kValid ? "unaltered" : "not established"));
    std::string path;
    for (const x509::Certificate& c : s.path) path.append(path.empty() ? "" : " -> ").append(c.CommonName());
    std::printf("chain:        %s%s%s\n", std::string(smime::ChainVerdictName(s.chain)).c_str(),
                path.empty() ? "" : ": ", path.c_str());
    if (s.signing_time) std::printf("signing time: %s\n", FormatRfc3339(*s.signing_time).c_str());
    const smime::PostmarkReport& p = s.postmark;
    if (p.verdict == smime::PostmarkVerdict::kAbsent) {
      std::printf("postmark:     none\n");
    } else {
      std::printf("postmark:     %s%s%s%s%s\n", std::string(smime::PostmarkVerdictName(p.verdict)).c_str(),
                  p.time ? ", " : "", p.time ? FormatRfc3339(*p.time).c_str() : "",
                  p.tsa ? " by " : "", p.tsa ? p.tsa->Subject().c_str() : "");
    }
  }
  if (!r.malformed) {
    if (r.protection == smime::HeaderProtection::kNone)
      std::printf("headers:      not protected\n");
    else
      std::printf("headers:      protected (hp=%s): %s\n",
                  std::string(smime::HeaderProtectionName(r.protection)).c_str(),
                  Names(r.protected_headers).c_str());
    std::printf("from:         %s%s\n", r.from.empty() ? "(none)" : r.from.c_str(),
                r.from_matches_signer ? " (matches the signer certificate)" : "");
  }
  if (!r.ok()) {
    // One line on stderr (CLI convention), every problem in it.
    std::string all;
    for (const std::string& p : r.Problems()) all.append(all.empty() ? "" : "; ").append(p);
    std::printf("Verification: FAILED\n");
    std::fflush(stdout);
    return ReportError(Error(ErrorCode::kCrypto, "verification failed: " + all));
  }
  std::printf("Verification: OK\n");
  std::fflush(stdout);
  // Only content that verified is handed on: nothing is written when verification fails.
  if (!a.out.empty() && !r.content.empty()) return WriteOutput(a.in, a.out, r.content);
  return 0;
}

}  // namespace

void RegisterSmimeCommands(CLI::App& app) {
  auto* smime = app.add_subcommand(
      "smime", "Sign, encrypt, decrypt and verify email (S/MIME 4.0, RFC 8551; RFC 9788 header protection)");
  smime->require_subcommand(1);

  auto sa = std::make_shared<SignArgs>();
  auto* sign = smime->add_subcommand(
      "sign",
      "Sign an RFC 5322 message: multipart/signed (default) or opaque signed-data, the signer's\n"
      "chain and SMIMECapabilities included. --tsa adds the electronic postmark (an RFC 3161 token\n"
      "over the signature value). Writes the signed message to standard output or --out.");
  sign->add_option("message", sa->in, "Message file ('-' or nothing: standard input)");
  sign->add_option("--cert", sa->cert, "Signer certificate, then its intermediates (PEM)")->required();
  sign->add_option("--key", sa->key, "Signer private key (PEM)")->required();
  sign->add_option("--tsa", sa->tsa, "TSA URL for the postmark, e.g. http://127.0.0.1:3161/");
  sign->add_option("--tsa-timeout", sa->tsa_timeout_s, "Seconds")->capture_default_str();
  sign->add_flag("--opaque", sa->opaque, "application/pkcs7-mime signed-data instead of multipart/signed");
  sign->add_flag("--no-header-protection", sa->no_header_protection,
                 "Do not copy the header fields into the signed part (RFC 9788 hp=\"clear\")");
  sign->add_option("-o,--out", sa->out, "Output file (never the input)");
  sign->callback([sa] { ExitCode() = RunSign(*sa); });

  auto ea = std::make_shared<EncryptArgs>();
  auto* encrypt = smime->add_subcommand(
      "encrypt",
      "Encrypt an RFC 5322 message for the recipients' certificates: application/pkcs7-mime\n"
      "enveloped-data with RSA PKCS#1 v1.5 and AES-256-CBC by default (what gpgsm, Thunderbird and\n"
      "Outlook read), ECDH with the SHA-256 KDF for EC recipients, SM4 for SM2 recipients. The\n"
      "header fields go inside (RFC 9788 hp=\"cipher\"); the outer Subject becomes \"[...]\".");
  encrypt->add_option("message", ea->in, "Message file ('-' or nothing: standard input)");
  encrypt->add_option("--to", ea->to, "Recipient certificate (PEM); repeat for each recipient")
      ->allow_extra_args(false);  // one file per --to, so the message file is not taken as one
  auto* to_signed = encrypt
      ->add_option("--to-signed", ea->to_signed,
                   "A signed message from a recipient: once it verifies (--roots), its signer is a\n"
                   "recipient and the SMIMECapabilities it announced choose the algorithms (AES-GCM,\n"
                   "RSA-OAEP only when announced); repeatable")
      ->allow_extra_args(false);
  encrypt->add_option("--roots", ea->roots, "Trusted roots for --to-signed (PEM)");
  to_signed->needs("--roots");
  encrypt->add_option("--cipher", ea->cipher,
                      "auto, aes-128-cbc, aes-192-cbc, aes-256-cbc, aes-128-gcm, aes-256-gcm (AuthEnvelopedData), sm4-cbc")
      ->check(CLI::IsMember({"auto", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm",
                             "aes-256-gcm", "sm4-cbc"}))
      ->capture_default_str();
  encrypt->add_flag("--oaep", ea->oaep, "RSA-OAEP key transport for RSA recipients");
  encrypt->add_flag("--no-header-protection", ea->no_header_protection, "Leave the header fields as they are");
  auto* scert = encrypt->add_option("--sign-cert", ea->sign.cert, "Sign first with this certificate chain (PEM)");
  auto* skey = encrypt->add_option("--sign-key", ea->sign.key, "... and this key (PEM)");
  scert->needs(skey);
  skey->needs(scert);
  encrypt->add_option("--tsa", ea->sign.tsa, "With --sign-cert: postmark the signature at this TSA")->needs(scert);
  encrypt->add_flag("-v,--verbose", ea->verbose, "Say which algorithms were used (standard error)");
  encrypt->add_option("-o,--out", ea->out, "Output file (never the input)");
  encrypt->callback([ea] { ExitCode() = RunEncrypt(*ea); });

  auto da = std::make_shared<DecryptArgs>();
  auto* decrypt = smime->add_subcommand(
      "decrypt",
      "Decrypt an enveloped-data or authEnveloped-data message with our certificate and key.\n"
      "Protected header fields (RFC 9788) replace the outer ones in the output.");
  decrypt->add_option("message", da->in, "Message file ('-' or nothing: standard input)");
  decrypt->add_option("--cert", da->cert, "Our certificate (PEM)")->required();
  decrypt->add_option("--key", da->key, "Our private key (PEM)")->required();
  decrypt->add_flag("-v,--verbose", da->verbose, "Say which algorithms were used (standard error)");
  decrypt->add_option("-o,--out", da->out, "Output file (never the input)");
  decrypt->callback([da] { ExitCode() = RunDecrypt(*da); });

  auto va = std::make_shared<VerifyArgs>();
  auto* verify = smime->add_subcommand(
      "verify",
      "Verify a signed message (multipart/signed or signed-data): signer, chain, signing time,\n"
      "postmark (token verified against the TSA chain), whether the content was altered, and that\n"
      "From is the signer's address. Prints a report; exit 0 only if everything holds.");
  verify->add_option("message", va->in, "Message file ('-' or nothing: standard input)");
  verify->add_option("--roots", va->roots, "Trusted root certificates (PEM)")->required();
  verify->add_option("--untrusted", va->untrusted, "Extra intermediate certificates (PEM)");
  verify->add_option("--tsa-roots", va->tsa_roots, "Trusted roots for postmark TSAs (default: --roots)");
  verify->add_option("--at", va->at, "Check the chain at this time (RFC 3339) instead of now");
  verify->add_option("-o,--out", va->out,
                     "Write the signed content as a message (only when it verifies)");
  verify->callback([va] { ExitCode() = RunVerify(*va); });
}

}  // namespace autoseal::cli
