#pragma once

// Fixtures for the CMS tests: a root CA issuing S/MIME certificates (ECDSA P-256, RSA-2048, SM2)
// and a TSA with an in-process responder, valid around the real time. Header-only because every
// tests/smime/*_test.cc is its own binary.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "core/file.h"
#include "crypto/key.h"
#include "smime/cms.h"
#include "tsa/messages.h"
#include "tsa/responder.h"
#include "tsa/serial.h"
#include "x509/issue.h"

namespace autoseal::smime::testing {

struct Identity {
  crypto::PrivateKey key;
  x509::Certificate cert;
};

struct CmsPki {
  crypto::PrivateKey root_key;
  x509::Certificate root;
  TimePoint now;

  static CmsPki Make(crypto::KeyType type, std::string name = "CMS Test Root") {
    TimePoint now = std::chrono::floor<std::chrono::seconds>(SystemClock::Instance().Now());
    auto key = crypto::PrivateKey::Generate(type);
    CHECK(key.has_value());
    x509::CertificateSpec rs;
    rs.profile = x509::Profile::kRootCa;
    rs.subject_key = key->Public();
    rs.common_name = name;
    rs.organization = "autoseal tests";
    rs.not_before = now - std::chrono::hours(48);
    rs.not_after = now + std::chrono::hours(24 * 3650);
    auto root = x509::IssueCertificate(rs, nullptr, *key);
    CHECK_MSG(root.has_value(), root.error().message().c_str());
    return CmsPki{*key, *root, now};
  }

  // A mailbox certificate valid from a day ago for `days` days.
  Identity Issue(crypto::KeyType type, const std::string& email, int days = 365,
                 x509::Profile profile = x509::Profile::kSmime) const {
    auto key = crypto::PrivateKey::Generate(type);
    CHECK(key.has_value());
    x509::CertificateSpec s;
    s.profile = profile;
    s.subject_key = key->Public();
    if (profile == x509::Profile::kSmime) s.email_addresses = {email};
    s.common_name = email;
    s.not_before = now - std::chrono::hours(24);
    s.not_after = now - std::chrono::hours(24) + std::chrono::hours(24 * days);
    auto cert = x509::IssueCertificate(s, &root, root_key);
    CHECK_MSG(cert.has_value(), cert.error().message().c_str());
    return Identity{*key, *cert};
  }
};

class CountingSerials final : public tsa::SerialSource {
 public:
  Bytes Next() override { return {0x01, static_cast<uint8_t>(++n_)}; }

 private:
  int n_ = 0;
};

// A TSA (certificate under pki's root) answering in process: the postmark fetcher for tests.
struct TestTsa {
  std::optional<Identity> identity;
  std::unique_ptr<CountingSerials> serials = std::make_unique<CountingSerials>();
  std::unique_ptr<tsa::Responder> responder;

  static std::unique_ptr<TestTsa> Make(const CmsPki& pki, crypto::KeyType type) {
    auto t = std::make_unique<TestTsa>();
    t->identity = pki.Issue(type, "tsa", 365, x509::Profile::kTimeStamping);
    tsa::ResponderOptions o{.key = t->identity->key, .chain = {t->identity->cert}};
    o.serials = t->serials.get();
    auto r = tsa::Responder::Create(o);
    CHECK_MSG(r.has_value(), r.error().message().c_str());
    t->responder = std::move(*r);
    return t;
  }

  PostmarkFetcher Fetcher() const {
    return [this](crypto::DigestAlgorithm d, ByteView hashed) -> Result<Bytes> {
      Bytes resp = responder->Respond(tsa::EncodeTimeStampReq(d, hashed, std::nullopt, true));
      auto parsed = tsa::ParseTimeStampResp(resp);
      if (!parsed) return Fail(parsed.error());
      if (!parsed->token) return Fail(ErrorCode::kPolicy, parsed->status_string);
      return *parsed->token;
    };
  }
};

inline std::string TempDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/autoseal-cms-" + name + "-" +
                    std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace autoseal::smime::testing
