// Fuzzes the S/MIME message reader: MIME parsing (GMime), the canonical payload builder, and the
// message-level verify and decrypt paths that feed untrusted CMS to smime/cms. Invariants: no
// crash or CHECK failure (GMime, our MIME code, the CMS reader); nothing verifies against a trust
// anchor whose key the fuzzer never signs with.

#include <cstddef>
#include <cstdint>

#include "core/clock.h"
#include "core/error.h"
#include "smime/message.h"
#include "smime/mime.h"
#include "x509/issue.h"

using namespace autoseal;

namespace {

struct Fixture {
  crypto::PrivateKey key;
  x509::Certificate cert;
};

// A self-signed RSA identity made once: decryption gets as far as looking for its recipient.
const Fixture& Identity() {
  static const Fixture* f = [] {
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kRsa2048);
    CHECK(key.has_value());
    x509::CertificateSpec s;
    s.profile = x509::Profile::kRootCa;
    s.subject_key = key->Public();
    s.common_name = "fuzz";
    s.organization = "autoseal fuzz";
    s.not_before = FromUnixSeconds(1700000000);
    s.not_after = FromUnixSeconds(2000000000);
    auto cert = x509::IssueCertificate(s, nullptr, *key);
    CHECK(cert.has_value());
    return new Fixture{*key, *cert};
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  const Fixture& id = Identity();
  if (auto m = smime::MimeMessage::Parse(input)) {
    (void)m->Form();
    (void)m->ContentType();
    (void)m->Header("From");
    (void)m->SignedContent();
    (void)m->DetachedSignature();
    (void)m->Pkcs7Body();
    (void)m->PayloadProtection();
    (void)m->ProtectedHeaders();
    smime::HeaderProtection hp = (size & 1) ? smime::HeaderProtection::kCipher
                                            : smime::HeaderProtection::kNone;
    (void)m->OuterHeaders(hp);
    auto payload = m->Payload({.seven_bit = (size & 2) != 0, .protect = hp});
    if (payload && !payload->empty()) {
      // What the builder wrote is read again, as the receiving side would.
      Bytes p = std::move(*payload);
      if (auto again = smime::MimeMessage::Parse(p)) (void)again->Form();
    }
  }
  // The shortcut parses must give what the full parse gives: the header-section reader the same
  // signed bytes and decoded body, the payload reader the same payload.
  if (auto full = smime::MimeMessage::Parse(input)) {
    if (auto head = smime::MimeMessage::ParseHeaderSection(input)) {
      auto a = full->SignedContent(), b = head->SignedContent();
      if (a && b) CHECK(*a == *b);
      CHECK(full->Form() == head->Form());
    }
    const bool seven_bit = (size & 4) != 0;
    if (auto fast = smime::MimeMessage::ParseToProtect(input, seven_bit)) {
      auto a = full->Payload({.seven_bit = seven_bit});
      auto b = fast->Payload({.seven_bit = seven_bit});
      CHECK(a.has_value() == b.has_value());
      if (a) CHECK(*a == *b);
    }
  }
  smime::VerifyOptions vo;
  vo.roots = {id.cert};
  vo.at = FromUnixSeconds(1800000000);
  smime::MessageVerifyReport report = smime::VerifyMessage(input, vo);
  CHECK(!report.ok());
  (void)report.Problems();
  (void)smime::DecryptMessage(input, id.cert, id.key);
  return 0;
}
