// S/MIME message throughput, per core, in one run, beside its peers:
//
//   autoseal        smime::SignAndEncryptMessage (ECDSA P-256 signer, multipart/signed, RFC 9788
//                   header protection, RSA-2048 recipient, AES-256-CBC) and DecryptMessage +
//                   VerifyMessage, in process, one thread; with and without a postmark from an
//                   in-process tsa::Responder (the network fetch is excluded)
//   openssl (API)   CMS_sign + SMIME_write_CMS + CMS_encrypt + SMIME_write_CMS, and
//                   SMIME_read_CMS + CMS_decrypt + SMIME_read_CMS + CMS_verify, in process
//   openssl cms     the command line, sign piped into encrypt and decrypt piped into verify
//                   (process start and file I/O included), for the same files
//   gpgsm           gpgsm 2.2 detach-sign + encrypt and decrypt + verify where it can (RSA keys
//                   only), in a throw-away GNUPGHOME
//   floor           one pass of SHA-256 + AES-256-CBC + base64 over the large message
//
//   messages: a 4 KB text mail and a mail with a 25 MB attachment (base64, 76 columns)
//   figures are per core: CPU time of the measuring thread (in process) or of the child processes
//   (command line), so other load on a shared machine does not count against either side
//   usage: bench_smime [CPU seconds per small-message measurement, default 2] [--no-cli]

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "core/file.h"
#include "crypto/digest.h"
#include "smime/message.h"
#include "tsa/client.h"
#include "tsa/messages.h"
#include "tsa/responder.h"
#include "tsa/serial.h"
#include "x509/issue.h"

using namespace autoseal;
using Clk = std::chrono::steady_clock;

namespace {

template <typename T>
T Must(Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "bench setup failed: %s\n", r.error().message().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

struct Id {
  crypto::PrivateKey key;
  x509::Certificate cert;
};

struct Pki {
  crypto::PrivateKey root_key, int_key;
  x509::Certificate root, inter;
  Id Leaf(crypto::KeyType t, x509::Profile profile, const std::string& email) const {
    auto key = Must(crypto::PrivateKey::Generate(t));
    TimePoint now = SystemClock::Instance().Now();
    x509::CertificateSpec s;
    s.profile = profile;
    s.subject_key = key.Public();
    s.common_name = email;
    if (profile == x509::Profile::kSmime) s.email_addresses = {email};
    s.not_before = now - std::chrono::hours(1);
    s.not_after = now + std::chrono::hours(24 * 300);
    return {key, Must(x509::IssueCertificate(s, &inter, int_key))};
  }
};

Pki MakePki() {
  TimePoint now = SystemClock::Instance().Now();
  auto root_key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  x509::CertificateSpec rs;
  rs.profile = x509::Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "bench root";
  rs.organization = "autoseal bench";
  rs.not_before = now - std::chrono::hours(1);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = Must(x509::IssueCertificate(rs, nullptr, root_key));
  auto int_key = Must(crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
  x509::CertificateSpec is = rs;
  is.profile = x509::Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "bench intermediate";
  is.path_length = 0;
  auto inter = Must(x509::IssueCertificate(is, &root, root_key));
  return {root_key, int_key, root, inter};
}

std::string Headers(const char* subject) {
  return std::string("From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: ") +
         subject +
         "\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <bench@example.test>\r\n"
         "MIME-Version: 1.0\r\n";
}

std::string SmallMessage() {
  std::string body;
  while (body.size() < 4000)
    body += "The quarterly figures are attached; revenue grew by twelve percent this time.\r\n";
  return Headers("The quarterly figures") + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
         body;
}

std::string LargeMessage(size_t attachment_bytes) {
  Bytes blob(attachment_bytes);
  uint64_t x = 88172645463325252ull;
  for (auto& b : blob) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  std::string b64 = Base64Encode(blob);
  std::string msg = Headers("25 MB") +
                    "Content-Type: multipart/mixed; boundary=bench\r\n\r\n--bench\r\n"
                    "Content-Type: text/plain\r\n\r\nSee the attachment.\r\n--bench\r\n"
                    "Content-Type: application/octet-stream; name=data.bin\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n";
  msg.reserve(msg.size() + b64.size() * 78 / 76 + 64);
  for (size_t i = 0; i < b64.size(); i += 76) msg.append(b64, i, 76).append("\r\n");
  msg += "--bench--\r\n";
  return msg;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double ChildrenCpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// Runs fn repeatedly for about `seconds` of CPU time (at least `min_runs` times); returns runs per
// CPU second.
double Rate(double seconds, int min_runs, const std::function<void()>& fn) {
  fn();  // warm-up
  int n = 0;
  double start = ThreadCpuSeconds(), elapsed = 0;
  do {
    fn();
    ++n;
    elapsed = ThreadCpuSeconds() - start;
  } while (elapsed < seconds || n < min_runs);
  return n / elapsed;
}

// --- OpenSSL API peer ---------------------------------------------------------------------------
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct CmsFree {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsFree>;

std::string BioString(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return std::string(p, n);
}

std::string OpensslSignEncrypt(const std::string& msg, const Id& signer, const x509::Certificate& inter,
                               const Id& rcpt) {
  BioPtr in(BIO_new_mem_buf(msg.data(), static_cast<int>(msg.size())));
  STACK_OF(X509)* chain = sk_X509_new_null();
  sk_X509_push(chain, inter.raw());
  CmsPtr s(CMS_sign(signer.cert.raw(), signer.key.evp(), chain, in.get(), CMS_DETACHED | CMS_STREAM));
  BioPtr signed_out(BIO_new(BIO_s_mem()));
  BioPtr in2(BIO_new_mem_buf(msg.data(), static_cast<int>(msg.size())));
  SMIME_write_CMS(signed_out.get(), s.get(), in2.get(), CMS_DETACHED | CMS_STREAM);
  sk_X509_free(chain);
  STACK_OF(X509)* rcpts = sk_X509_new_null();
  sk_X509_push(rcpts, rcpt.cert.raw());
  CmsPtr e(CMS_encrypt(rcpts, signed_out.get(), EVP_aes_256_cbc(), CMS_STREAM));
  BioPtr enc_out(BIO_new(BIO_s_mem()));
  std::string signed_text = BioString(signed_out.get());
  BioPtr signed_in2(BIO_new_mem_buf(signed_text.data(), static_cast<int>(signed_text.size())));
  SMIME_write_CMS(enc_out.get(), e.get(), signed_in2.get(), CMS_STREAM);
  sk_X509_free(rcpts);
  return BioString(enc_out.get());
}

bool OpensslDecryptVerify(const std::string& enc, const Id& rcpt, X509_STORE* store) {
  BioPtr in(BIO_new_mem_buf(enc.data(), static_cast<int>(enc.size())));
  CmsPtr e(SMIME_read_CMS(in.get(), nullptr));
  if (!e) return false;
  BioPtr plain(BIO_new(BIO_s_mem()));
  if (!CMS_decrypt(e.get(), rcpt.key.evp(), rcpt.cert.raw(), nullptr, plain.get(), 0)) return false;
  BIO* cont = nullptr;
  CmsPtr s(SMIME_read_CMS(plain.get(), &cont));
  BioPtr content(cont);
  if (!s) return false;
  BioPtr out(BIO_new(BIO_s_mem()));
  return CMS_verify(s.get(), nullptr, store, content.get(), out.get(), 0) == 1;
}

// --- helpers ------------------------------------------------------------------------------------
// CPU seconds fn takes on this thread.
double SecondsOf(const std::function<void()>& fn) {
  double t = ThreadCpuSeconds();
  fn();
  return ThreadCpuSeconds() - t;
}

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

void WriteOrDie(const std::string& path, std::string_view data, unsigned mode = 0644) {
  auto st = WriteFileAtomic(path, data, mode);
  if (!st) {
    std::fprintf(stderr, "bench setup failed: %s\n", st.error().message().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 && argv[1][0] != '-' ? std::atof(argv[1]) : 2.0;
  bool cli = true;
  std::string profile;  // --profile=small|large|small-read|large-read: one loop, for perf record
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-cli") == 0) cli = false;
    if (std::strncmp(argv[i], "--profile=", 10) == 0) profile = argv[i] + 10;
  }

  Pki pki = MakePki();
  Id alice = pki.Leaf(crypto::KeyType::kEcdsaP256, x509::Profile::kSmime, "alice@example.test");
  Id bob = pki.Leaf(crypto::KeyType::kRsa2048, x509::Profile::kSmime, "bob@example.test");
  Id tsa_id = pki.Leaf(crypto::KeyType::kEcdsaP256, x509::Profile::kTimeStamping, "bench tsa");
  tsa::EpochSerialSource serials(1);
  auto responder = Must(tsa::Responder::Create(
      {.key = tsa_id.key, .chain = {tsa_id.cert, pki.inter}, .serials = &serials}));
  smime::PostmarkFetcher postmark = [&](crypto::DigestAlgorithm d, ByteView h) -> Result<Bytes> {
    auto g = TRY(tsa::ParseGrantedResponse(
        responder->Respond(tsa::EncodeTimeStampReq(d, h, Bytes{1}, true))));
    return g.token;
  };

  auto signer = Must(smime::CmsSigner::Create({.key = alice.key, .chain = {alice.cert, pki.inter}}));
  auto recipient = Must(smime::PreparedRecipient::Create({.certificate = bob.cert}));
  smime::SignMessageOptions so;
  so.signer = signer;
  so.signing_time = SystemClock::Instance().Now();
  smime::SignMessageOptions so_pm = so;
  so_pm.postmark = postmark;
  smime::EncryptMessageOptions eo;
  eo.recipients = {recipient};
  smime::VerifyOptions vo;
  vo.roots = {pki.root};
  vo.at = SystemClock::Instance().Now();

  std::string small = SmallMessage();
  std::string large = LargeMessage(25u << 20);
  std::printf("S/MIME bench: small %zu bytes, large %.1f MB (25 MB attachment), %ld cores online\n",
              small.size(), large.size() / 1e6, sysconf(_SC_NPROCESSORS_ONLN));

  // Correctness first: what we time must verify.
  auto check = [&](const std::string& msg, const smime::SignMessageOptions& o) {
    auto enc = Must(smime::SignAndEncryptMessage(AsBytes(msg), o, eo));
    auto dec = Must(smime::DecryptMessage(enc.message, bob.cert, bob.key));
    smime::MessageVerifyReport r = smime::VerifyMessage(dec.message, vo);
    if (!r.ok()) {
      std::fprintf(stderr, "bench: round trip does not verify: %s\n",
                   r.Problems().empty() ? "?" : r.Problems().front().c_str());
      std::exit(1);
    }
    return enc.message;
  };
  Bytes small_enc = check(small, so);
  if (!profile.empty()) {
    const std::string& msg = profile.starts_with("small") ? small : large;
    Bytes enc = check(msg, so);
    int runs = profile.starts_with("small") ? 20000 : 30;
    for (int i = 0; i < runs; ++i) {
      if (profile.ends_with("-read")) {
        auto d = smime::DecryptMessage(enc, bob.cert, bob.key);
        (void)smime::VerifyMessage(d->message, vo);
      } else {
        (void)smime::SignAndEncryptMessage(AsBytes(msg), so, eo);
      }
    }
    return 0;
  }
  Bytes small_enc_pm = check(small, so_pm);

  std::printf("\n%-44s %12s\n", "small message (4 KB), one thread", "msgs/CPU-s");
  double r1 = Rate(seconds, 50, [&] { (void)smime::SignAndEncryptMessage(AsBytes(small), so, eo); });
  std::printf("%-44s %12.0f\n", "autoseal sign+encrypt", r1);
  double r2 = Rate(seconds, 50, [&] { (void)smime::SignAndEncryptMessage(AsBytes(small), so_pm, eo); });
  std::printf("%-44s %12.0f\n", "autoseal sign+postmark(in-process)+encrypt", r2);
  double r3 = Rate(seconds, 50, [&] {
    auto d = smime::DecryptMessage(small_enc_pm, bob.cert, bob.key);
    (void)smime::VerifyMessage(d->message, vo);
  });
  std::printf("%-44s %12.0f\n", "autoseal decrypt+verify (with postmark)", r3);
  double r4 = Rate(seconds, 50, [&] {
    auto d = smime::DecryptMessage(small_enc, bob.cert, bob.key);
    (void)smime::VerifyMessage(d->message, vo);
  });
  std::printf("%-44s %12.0f\n", "autoseal decrypt+verify (no postmark)", r4);

  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, pki.root.raw());
  std::string ossl_small = OpensslSignEncrypt(small, alice, pki.inter, bob);
  if (!OpensslDecryptVerify(ossl_small, bob, store)) {
    std::fprintf(stderr, "bench: OpenSSL API round trip failed\n");
    return 1;
  }
  double o1 = Rate(seconds, 50, [&] { (void)OpensslSignEncrypt(small, alice, pki.inter, bob); });
  std::printf("%-44s %12.0f\n", "openssl API sign+encrypt", o1);
  double o2 = Rate(seconds, 50, [&] { (void)OpensslDecryptVerify(ossl_small, bob, store); });
  std::printf("%-44s %12.0f\n", "openssl API decrypt+verify", o2);

  std::printf("\n%-44s %12s %10s\n", "large message (25 MB attachment)", "CPU s", "MB/s");
  auto mbps = [&](double s) { return large.size() / 1e6 / s; };
  Bytes large_enc;
  double l1 = 1e9, l2 = 1e9, l3 = 1e9;
  for (int i = 0; i < 3; ++i) {
    l1 = std::min(l1, SecondsOf([&] { large_enc = Must(smime::SignAndEncryptMessage(AsBytes(large), so, eo)).message; }));
    l2 = std::min(l2, SecondsOf([&] { (void)Must(smime::SignAndEncryptMessage(AsBytes(large), so_pm, eo)); }));
    l3 = std::min(l3, SecondsOf([&] {
      auto d = Must(smime::DecryptMessage(large_enc, bob.cert, bob.key));
      if (!smime::VerifyMessage(d.message, vo).ok()) std::exit(1);
    }));
  }
  std::printf("%-44s %12.3f %10.0f\n", "autoseal sign+encrypt", l1, mbps(l1));
  std::printf("%-44s %12.3f %10.0f\n", "autoseal sign+postmark+encrypt", l2, mbps(l2));
  std::printf("%-44s %12.3f %10.0f\n", "autoseal decrypt+verify", l3, mbps(l3));
  std::string ossl_large;
  double ol1 = 1e9, ol2 = 1e9;
  for (int i = 0; i < 2; ++i) {
    ol1 = std::min(ol1, SecondsOf([&] { ossl_large = OpensslSignEncrypt(large, alice, pki.inter, bob); }));
    ol2 = std::min(ol2, SecondsOf([&] { (void)OpensslDecryptVerify(ossl_large, bob, store); }));
  }
  std::printf("%-44s %12.3f %10.0f\n", "openssl API sign+encrypt", ol1, mbps(ol1));
  std::printf("%-44s %12.3f %10.0f\n", "openssl API decrypt+verify", ol2, mbps(ol2));

  // The floor: SHA-256, AES-256-CBC and base64 over the message once each.
  double floor_s = SecondsOf([&] {
    (void)crypto::Digest(crypto::DigestAlgorithm::kSha256, AsBytes(large));
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    unsigned char key[32] = {1}, iv[16] = {2};
    EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), nullptr, key, iv);
    Bytes out(large.size() + 32);
    int n = 0, m = 0;
    EVP_EncryptUpdate(c, out.data(), &n, reinterpret_cast<const unsigned char*>(large.data()),
                      static_cast<int>(large.size()));
    EVP_EncryptFinal_ex(c, out.data() + n, &m);
    EVP_CIPHER_CTX_free(c);
    out.resize(n + m);
    (void)Base64Encode(out);
  });
  std::printf("%-44s %12.3f %10.0f\n", "floor: SHA-256 + AES-256-CBC + base64", floor_s, mbps(floor_s));
  X509_STORE_free(store);

  if (cli) {
    std::string dir = "/tmp/bench-smime-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    WriteOrDie(dir + "/alice.pem", alice.cert.Pem());
    WriteOrDie(dir + "/inter.pem", pki.inter.Pem());
    WriteOrDie(dir + "/alice.key", Must(alice.key.PrivateKeyPem()), 0600);
    WriteOrDie(dir + "/bob.pem", bob.cert.Pem());
    WriteOrDie(dir + "/bob.key", Must(bob.key.PrivateKeyPem()), 0600);
    WriteOrDie(dir + "/root.pem", pki.root.Pem());
    WriteOrDie(dir + "/small.eml", small);
    WriteOrDie(dir + "/large.eml", large);
    std::string sign = "openssl cms -sign -md sha256 -signer " + dir + "/alice.pem -inkey " + dir +
                       "/alice.key -certfile " + dir + "/inter.pem";
    std::string enc = "openssl cms -encrypt -aes256";
    std::string dec = "openssl cms -decrypt -recip " + dir + "/bob.pem -inkey " + dir + "/bob.key";
    std::string ver = "openssl cms -verify -CAfile " + dir + "/root.pem -out /dev/null 2>/dev/null";
    std::printf("\n%-44s %12s %10s\n", "openssl cms command line (CPU of both processes)", "seconds",
                "MB/s");
    for (std::string name : {"small", "large"}) {
      std::string in = dir + "/" + name + ".eml", out = dir + "/" + name + ".p7m";
      int runs = name == "small" ? 50 : 2;
      // CPU of the child processes (openssl and the shell around it), per run.
      auto cpu = [&](const std::string& cmd) {
        double t = ChildrenCpuSeconds();
        for (int i = 0; i < runs; ++i) Sh(cmd);
        return (ChildrenCpuSeconds() - t) / runs;
      };
      double s_enc = cpu(sign + " -in " + in + " | " + enc + " -out " + out + " " + dir + "/bob.pem");
      double s_dec = cpu(dec + " -in " + out + " | " + ver);
      bool ok = Sh(dec + " -in " + out + " | " + ver) == 0;
      double mb = (name == "small" ? small.size() : large.size()) / 1e6;
      if (name == "small") {
        std::printf("%-44s %12.4f %10s  (%.0f messages/s)\n", "small: sign | encrypt", s_enc, "", 1 / s_enc);
        std::printf("%-44s %12.4f %10s  (%.0f messages/s)%s\n", "small: decrypt | verify", s_dec, "",
                    1 / s_dec, ok ? "" : "  verify FAILED");
      } else {
        std::printf("%-44s %12.3f %10.0f\n", "large: sign | encrypt", s_enc, mb / s_enc);
        std::printf("%-44s %12.3f %10.0f%s\n", "large: decrypt | verify", s_dec, mb / s_dec,
                    ok ? "" : "  verify FAILED");
      }
    }
    // gpgsm 2.2 where it applies: it cannot import the ECDSA P-256 signer's key (it crashes, see
    // email-anchors §0), so it signs with the RSA-2048 recipient's key; encryption is to the same
    // RSA recipient (gpgsm's default AES-128-CBC). The RSA private-key operations run in
    // gpg-agent, a daemon whose CPU is not a child's: the CPU column leaves them out, the wall
    // column (on a shared machine) has them, and with them the agent unprotecting the key (its
    // passphrase KDF) for every signature and decryption.
    std::string gh = dir + "/gnupg";
    std::filesystem::create_directories(gh);
    std::filesystem::permissions(gh, std::filesystem::perms::owner_all);
    std::string env = "GNUPGHOME=" + gh + " ";
    WriteOrDie(gh + "/gpgsm.conf", "disable-crl-checks\ndisable-dirmngr\n");
    WriteOrDie(gh + "/gpg-agent.conf", "allow-mark-trusted\n");
    bool gpg_ok =
        Sh(env + "gpgsm --batch --import " + dir + "/root.pem >/dev/null 2>&1") == 0 &&
        Sh(env + "gpgsm --batch --import " + dir + "/inter.pem >/dev/null 2>&1") == 0 &&
        Sh("openssl x509 -in " + dir + "/root.pem -noout -fingerprint -sha1 | sed 's/.*=//; s/$/ S/' >" + gh +
           "/trustlist.txt") == 0 &&
        Sh("openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -in " + dir +
           "/bob.pem -inkey " + dir + "/bob.key -passout pass:pw -out " + dir + "/bob.p12") == 0 &&
        Sh("echo pw | " + env + "gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import " + dir +
           "/bob.p12 >/dev/null 2>&1") == 0;
    if (!gpg_ok) {
      std::printf("\ngpgsm: set-up failed, skipped\n");
    } else {
      std::printf("\n%-44s %12s %10s %10s\n", "gpgsm 2.2 (RSA-2048 signer and recipient)", "CPU s",
                  "wall s", "MB/s wall");
      std::string g = "echo pw | " + env + "gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 ";
      for (std::string name : {"small", "large"}) {
        std::string in = dir + "/" + name + ".eml";
        int runs = name == "small" ? 5 : 2;
        double mb = (name == "small" ? small.size() : large.size()) / 1e6;
        auto both = [&](const std::string& cmd) {
          double c = ChildrenCpuSeconds();
          auto w = Clk::now();
          for (int i = 0; i < runs; ++i) Sh(cmd);
          return std::pair{(ChildrenCpuSeconds() - c) / runs,
                           std::chrono::duration<double>(Clk::now() - w).count() / runs};
        };
        auto [c1, w1] = both(g + "-u bob@example.test --detach-sign " + in + " 2>/dev/null >" + dir +
                             "/g.sig && " + env + "gpgsm --batch -r bob@example.test --encrypt " + in +
                             " >" + dir + "/g.p7m 2>/dev/null");
        auto [c2, w2] = both(g + "--decrypt " + dir + "/g.p7m 2>/dev/null >" + dir + "/g.out && " + env +
                             "gpgsm --batch --verify " + dir + "/g.sig " + dir + "/g.out >/dev/null 2>&1");
        bool ok = Sh(env + "gpgsm --batch --verify " + dir + "/g.sig " + dir + "/g.out >/dev/null 2>&1") == 0;
        std::printf("%-44s %12.4f %10.4f %10.0f\n", (name + ": detach-sign + encrypt").c_str(), c1, w1, mb / w1);
        std::printf("%-44s %12.4f %10.4f %10.0f%s\n", (name + ": decrypt + verify").c_str(), c2, w2, mb / w2,
                    ok ? "" : "  (verify FAILED)");
      }
      Sh(env + "gpgconf --kill gpg-agent >/dev/null 2>&1");
    }
    std::filesystem::remove_all(dir);
  }
  return 0;
}
