// A small driver over smime/cms.h for tests/interop/smime_cms_openssl.sh (until the
// `autoseal smime` CLI covers everything the interop script checks). Not installed.
//
//   cms_tool pki DIR TYPE              root + alice/bob (TYPE) + carol (ecdsa-p256) + tsa, PEM files
//   cms_tool sign KEY CERT IN OUT [--opaque] [--stream] [--tsa DIR]   DER SignedData
//   cms_tool verify CMS ROOTS [CONTENT] [--out FILE] [--tsa-roots FILE]  exit 0 iff ok
//   cms_tool encrypt IN OUT CERT... [--cipher NAME] [--oaep] [--stream] [--caps]
//   cms_tool decrypt IN OUT CERT KEY
//   cms_tool token CMS OUT_TOKEN OUT_SIG   the postmark token and the signature value it covers

#include <fcntl.h>
#include <unistd.h>

#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "core/file.h"
#include "crypto/key.h"
#include "smime/cms.h"
#include "tsa/messages.h"
#include "tsa/responder.h"
#include "tsa/serial.h"
#include "x509/issue.h"

using namespace autoseal;

namespace {

[[noreturn]] void Die(const std::string& m) {
  std::cerr << "cms_tool: " << m << "\n";
  std::exit(2);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r) Die(what + ": " + r.error().message());
  return std::move(*r);
}

std::string Read(const std::string& path) { return Must(ReadFile(path, 256u << 20), path); }
// A plain write (not WriteFileAtomic, which would rename a temporary over /dev/null and such).
void Write(const std::string& path, ByteView data) {
  if (path.ends_with(".key")) {  // private keys: created 0600 (STYLE.md)
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) Die(path + ": cannot create");
    ::close(fd);
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) Die(path + ": cannot write");
}
bool Flag(std::vector<std::string>& args, const std::string& name) {
  for (auto it = args.begin(); it != args.end(); ++it)
    if (*it == name) {
      args.erase(it);
      return true;
    }
  return false;
}
std::optional<std::string> Option(std::vector<std::string>& args, const std::string& name) {
  for (auto it = args.begin(); it != args.end(); ++it)
    if (*it == name && it + 1 != args.end()) {
      std::string v = *(it + 1);
      args.erase(it, it + 2);
      return v;
    }
  return std::nullopt;
}

void Pki(const std::string& dir, const std::string& type_name) {
  const crypto::KeyType type = Must(crypto::ParseKeyType(type_name), "key type");
  TimePoint now = SystemClock::Instance().Now();
  // CAs and TSAs do not use Ed25519: an Ed25519 mailbox sits under an ECDSA hierarchy.
  const crypto::KeyType ca_type = type == crypto::KeyType::kEd25519 ? crypto::KeyType::kEcdsaP256 : type;
  auto root_key = Must(crypto::PrivateKey::Generate(ca_type), "key");
  x509::CertificateSpec rs;
  rs.profile = x509::Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "CMS Interop Root " + type_name;
  rs.organization = "autoseal tests";
  rs.not_before = now - std::chrono::hours(48);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = Must(x509::IssueCertificate(rs, nullptr, root_key), "root");
  Write(dir + "/root.pem", AsBytes(root.Pem()));
  auto issue = [&](const std::string& name, crypto::KeyType kt, x509::Profile profile) {
    auto key = Must(crypto::PrivateKey::Generate(kt), "key");
    x509::CertificateSpec s;
    s.profile = profile;
    s.subject_key = key.Public();
    s.common_name = name;
    if (profile == x509::Profile::kSmime) s.email_addresses = {name + "@example.org"};
    s.not_before = now - std::chrono::hours(24);
    s.not_after = now + std::chrono::hours(24 * 300);
    auto cert = Must(x509::IssueCertificate(s, &root, root_key), name);
    Write(dir + "/" + name + ".pem", AsBytes(cert.Pem()));
    Write(dir + "/" + name + ".key", AsBytes(Must(key.PrivateKeyPem(), "pem")));
  };
  issue("alice", type, x509::Profile::kSmime);
  issue("bob", type, x509::Profile::kSmime);
  issue("carol", type == crypto::KeyType::kSm2 ? type : crypto::KeyType::kEcdsaP256, x509::Profile::kSmime);
  issue("tsa", ca_type, x509::Profile::kTimeStamping);
}

class Serials final : public tsa::SerialSource {
 public:
  Bytes Next() override { return {0x01, static_cast<uint8_t>(++n_)}; }
  int n_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Die("usage: see the comment at the top of cms_tool.cc");
  std::string cmd = argv[1];
  std::vector<std::string> a(argv + 2, argv + argc);
  if (cmd == "pki" && a.size() == 2) {
    Pki(a[0], a[1]);
    return 0;
  }
  if (cmd == "sign") {
    bool opaque = Flag(a, "--opaque"), stream = Flag(a, "--stream");
    auto tsa_dir = Option(a, "--tsa");
    if (a.size() != 4) Die("sign KEY CERT IN OUT");
    auto key = Must(crypto::PrivateKey::FromPem(Read(a[0])), "key");
    auto cert = Must(x509::Certificate::FromPem(Read(a[1])), "cert");
    std::string content = Read(a[2]);
    auto signer = Must(smime::CmsSigner::Create({.key = key, .chain = {cert}}), "signer");
    smime::SignOptions o{.detached = !opaque, .signing_time = SystemClock::Instance().Now()};
    Serials serials;
    std::unique_ptr<tsa::Responder> responder;
    if (tsa_dir) {
      tsa::ResponderOptions ro{.key = Must(crypto::PrivateKey::FromPem(Read(*tsa_dir + "/tsa.key")), "tsa key"),
                               .chain = {Must(x509::Certificate::FromPem(Read(*tsa_dir + "/tsa.pem")), "tsa cert")}};
      ro.serials = &serials;
      responder = Must(tsa::Responder::Create(ro), "responder");
      o.postmark = [&](crypto::DigestAlgorithm d, ByteView h) -> Result<Bytes> {
        auto resp = tsa::ParseTimeStampResp(responder->Respond(tsa::EncodeTimeStampReq(d, h, std::nullopt, true)));
        if (!resp) return Fail(resp.error());
        if (!resp->token) return Fail(ErrorCode::kPolicy, resp->status_string);
        return *resp->token;
      };
    }
    Bytes out;
    if (stream) {
      auto s = signer->Begin(o);
      for (size_t i = 0; i < content.size(); i += 1000)
        s->Update(AsBytes(content).subspan(i, std::min<size_t>(1000, content.size() - i)), &out);
      auto f = s->Finish(&out);
      if (!f) Die(f.error().message());
    } else {
      out = Must(signer->Sign(AsBytes(content), o), "sign");
    }
    Write(a[3], out);
    return 0;
  }
  if (cmd == "verify") {
    auto out_file = Option(a, "--out");
    auto tsa_roots = Option(a, "--tsa-roots");
    if (a.size() < 2 || a.size() > 3) Die("verify CMS ROOTS [CONTENT]");
    std::string cms = Read(a[0]);
    smime::VerifyOptions o;
    o.roots = Must(x509::Certificate::ParseAll(Read(a[1])), "roots");
    if (tsa_roots) o.tsa_roots = Must(x509::Certificate::ParseAll(Read(*tsa_roots)), "tsa roots");
    o.at = SystemClock::Instance().Now();
    std::optional<std::string> content;
    if (a.size() == 3) content = Read(a[2]);
    auto r = smime::Verify(AsBytes(cms), content ? std::optional<ByteView>(AsBytes(*content)) : std::nullopt, o);
    for (const auto& s : r.signers) {
      std::cout << "signer: " << (s.certificate ? s.certificate->Subject() : "?")
                << "\nsignature: " << smime::SignatureVerdictName(s.signature) << " " << s.signature_detail
                << "\nalgorithm: " << s.signature_algorithm
                << "\nchain: " << smime::ChainVerdictName(s.chain)
                << "\npostmark: " << smime::PostmarkVerdictName(s.postmark.verdict) << " " << s.postmark.gen_time_text
                << "\n";
    }
    for (const auto& p : r.Problems()) std::cout << "problem: " << p << "\n";
    if (out_file) Write(*out_file, r.content);
    return r.ok() ? 0 : 1;
  }
  if (cmd == "encrypt") {
    bool oaep = Flag(a, "--oaep"), stream = Flag(a, "--stream"), caps = Flag(a, "--caps");
    auto cipher = Option(a, "--cipher");
    if (a.size() < 3) Die("encrypt IN OUT CERT...");
    std::string content = Read(a[0]);
    std::vector<std::shared_ptr<const smime::PreparedRecipient>> rs;
    for (size_t i = 2; i < a.size(); ++i) {
      smime::Recipient r{Must(x509::Certificate::FromPem(Read(a[i])), a[i]), std::nullopt};
      if (caps) r.capabilities = *smime::ParseSmimeCapabilities(smime::OurSmimeCapabilities(false));
      rs.push_back(Must(smime::PreparedRecipient::Create(r), "recipient"));
    }
    smime::EncryptOptions o;
    if (oaep) o.rsa_key_encryption = smime::KeyEncryption::kRsaOaep;
    if (cipher) {
      if (*cipher == "aes-256-cbc") o.cipher = smime::ContentCipher::kAes256Cbc;
      else if (*cipher == "aes-128-cbc") o.cipher = smime::ContentCipher::kAes128Cbc;
      else if (*cipher == "aes-256-gcm") o.cipher = smime::ContentCipher::kAes256Gcm;
      else if (*cipher == "aes-128-gcm") o.cipher = smime::ContentCipher::kAes128Gcm;
      else Die("unknown cipher " + *cipher);
    }
    Bytes out;
    if (stream) {
      auto s = Must(smime::BeginEncrypt(rs, o, std::nullopt), "encrypt");
      for (size_t i = 0; i < content.size(); i += 1000) {
        auto u = s->Update(AsBytes(content).subspan(i, std::min<size_t>(1000, content.size() - i)), &out);
        if (!u) Die(u.error().message());
      }
      auto f = s->Finish(&out);
      if (!f) Die(f.error().message());
    } else {
      out = Must(smime::Encrypt(AsBytes(content), rs, o), "encrypt");
    }
    Write(a[1], out);
    return 0;
  }
  if (cmd == "decrypt" && a.size() == 4) {
    auto cert = Must(x509::Certificate::FromPem(Read(a[2])), "cert");
    auto key = Must(crypto::PrivateKey::FromPem(Read(a[3])), "key");
    auto d = smime::Decrypt(AsBytes(Read(a[0])), cert, key);
    if (!d) {
      std::cerr << "cms_tool: " << ErrorCodeName(d.error().code()) << ": " << d.error().message() << "\n";
      return 1;
    }
    std::cout << "cipher: " << smime::ContentCipherName(d->cipher)
              << "\nkey: " << smime::KeyEncryptionName(d->key_encryption);
    if (d->kdf_digest != crypto::DigestAlgorithm::kNone) std::cout << ", KDF " << crypto::DigestName(d->kdf_digest);
    std::cout << "\n";
    Write(a[1], d->content);
    return 0;
  }
  if (cmd == "token" && a.size() == 3) {
    smime::VerifyOptions o;
    o.at = SystemClock::Instance().Now();
    auto r = smime::Verify(AsBytes(Read(a[0])), std::nullopt, o);  // token only
    if (r.signers.empty() || r.signers[0].postmark.token.empty()) Die("no postmark");
    Write(a[1], r.signers[0].postmark.token);
    Write(a[2], r.signers[0].signature_value);
    return 0;
  }
  if (cmd == "bench" && a.size() == 1) {
    // For our own guidance (bench/smime is the real benchmark): one thread, ECDSA P-256 signer,
    // RSA-2048 recipient; small = sign (detached) + encrypt of content and signature.
    const std::string dir = a[0];
    auto alice_key = Must(crypto::PrivateKey::FromPem(Read(dir + "/alice.key")), "key");
    auto alice = Must(x509::Certificate::FromPem(Read(dir + "/alice.pem")), "cert");
    auto bob_key = Must(crypto::PrivateKey::FromPem(Read(dir + "/bob.key")), "key");
    auto bob = Must(x509::Certificate::FromPem(Read(dir + "/bob.pem")), "cert");
    auto signer = Must(smime::CmsSigner::Create({.key = alice_key, .chain = {alice}}), "signer");
    auto rec = Must(smime::PreparedRecipient::Create({bob, std::nullopt}), "recipient");
    // Thread CPU time, so that other load on a shared machine does not count.
    struct Clock {
      using duration = std::chrono::nanoseconds;
      static std::chrono::time_point<Clock, duration> now() {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return std::chrono::time_point<Clock, duration>(duration(ts.tv_sec * 1000000000LL + ts.tv_nsec));
      }
    };
    auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
    std::string small(2000, 'm');
    smime::SignOptions so{.detached = true, .signing_time = SystemClock::Instance().Now()};
    int n = 0;
    auto t0 = Clock::now();
    Bytes last;
    while (seconds(Clock::now() - t0) < 3.0) {
      Bytes sig = Must(signer->Sign(AsBytes(small), so), "sign");
      std::string entity = small;
      entity.append(AsString(sig));
      last = Must(smime::Encrypt(AsBytes(entity), {rec}), "encrypt");
      ++n;
    }
    std::cout << "small sign+encrypt: " << n / seconds(Clock::now() - t0) << " msg/s\n";
    n = 0;
    t0 = Clock::now();
    while (seconds(Clock::now() - t0) < 3.0) {
      auto d = Must(smime::Decrypt(last, bob, bob_key), "decrypt");
      ++n;
    }
    std::cout << "small decrypt: " << n / seconds(Clock::now() - t0) << " msg/s\n";
    Bytes sig = Must(signer->Sign(AsBytes(small), so), "sign");
    smime::VerifyOptions vo{.roots = Must(x509::Certificate::ParseAll(Read(dir + "/root.pem")), "root"),
                            .at = SystemClock::Instance().Now()};
    n = 0;
    t0 = Clock::now();
    while (seconds(Clock::now() - t0) < 3.0) {
      if (!smime::Verify(sig, AsBytes(small), vo).ok()) Die("verify");
      ++n;
    }
    std::cout << "small verify: " << n / seconds(Clock::now() - t0) << " msg/s\n";
    // 25 MB: streamed sign (detached) + streamed encrypt with the length known, 64 KiB chunks.
    std::string big(25u << 20, 'b');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
    for (int round = 0; round < 3; ++round) {
      t0 = Clock::now();
      auto ss = signer->Begin(so);
      auto es = Must(smime::BeginEncrypt({rec}, {}, big.size()), "encrypt");
      Bytes sig_out, enc_out, chunk_out;
      enc_out.reserve(big.size() + 4096);
      for (size_t i = 0; i < big.size(); i += 65536) {
        ByteView chunk = AsBytes(big).subspan(i, std::min<size_t>(65536, big.size() - i));
        ss->Update(chunk, &sig_out);
        auto u = es->Update(chunk, &enc_out);
        if (!u) Die(u.error().message());
      }
      if (!ss->Finish(&sig_out) || !es->Finish(&enc_out)) Die("finish");
      double t = seconds(Clock::now() - t0);
      std::cout << "25 MB sign+encrypt (streamed): " << (big.size() / 1e6) / t << " MB/s\n";
      t0 = Clock::now();
      auto d = Must(smime::Decrypt(enc_out, bob, bob_key), "decrypt");
      t = seconds(Clock::now() - t0);
      std::cout << "25 MB decrypt: " << (big.size() / 1e6) / t << " MB/s\n";
      t0 = Clock::now();
      if (!smime::Verify(sig_out, d.content, vo).ok()) Die("verify big");
      t = seconds(Clock::now() - t0);
      std::cout << "25 MB verify: " << (big.size() / 1e6) / t << " MB/s\n";
    }
    return 0;
  }
  Die("unknown command or arguments: " + cmd);
}
