#include "test_pki.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/file.h"
#include "x509/csr.h"
#include "x509/issue.h"

namespace autoseal::tsa::testing {

using crypto::KeyType;
using crypto::PrivateKey;
using x509::CertificateSpec;
using x509::Profile;

TestPki MakeTestPki(KeyType type) {
  TimePoint now = SystemClock::Instance().Now();
  auto root_key = *PrivateKey::Generate(type);
  CertificateSpec rs;
  rs.profile = Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "TSA Test Root";
  rs.organization = "autoseal tests";
  rs.not_before = now - std::chrono::hours(24);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = x509::IssueCertificate(rs, nullptr, root_key);
  CHECK_MSG(root.has_value(), root.error().message().c_str());
  auto int_key = *PrivateKey::Generate(type);
  CertificateSpec is = rs;
  is.profile = Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "TSA Test Intermediate";
  is.path_length = 0;
  is.not_after = now + std::chrono::hours(24 * 1825);
  auto inter = x509::IssueCertificate(is, &*root, root_key);
  CHECK_MSG(inter.has_value(), inter.error().message().c_str());
  auto tsa_key = *PrivateKey::Generate(type);
  auto csr = x509::CreateCertificateRequest(tsa_key, {.common_name = "TSA Test Signer"});
  CHECK_MSG(csr.has_value(), csr.error().message().c_str());
  auto spec = x509::SpecFromRequest(*csr, Profile::kTimeStamping, {.days = 365, .now = now - std::chrono::hours(1)});
  CHECK_MSG(spec.has_value(), spec.error().message().c_str());
  auto tsa = x509::IssueCertificate(*spec, &*inter, int_key);
  CHECK_MSG(tsa.has_value(), tsa.error().message().c_str());
  return TestPki{root_key, int_key, tsa_key, *root, *inter, *tsa};
}

void WriteTestPki(const TestPki& pki, const std::string& dir) {
  CHECK(MakeDirectories(dir).has_value());
  CHECK(WriteFileAtomic(dir + "/roots.pem", pki.root.Pem()).has_value());
  CHECK(WriteFileAtomic(dir + "/chain.pem", x509::ToPemBundle(pki.Chain())).has_value());
  CHECK(WriteFileAtomic(dir + "/tsa.pem", pki.tsa.Pem()).has_value());
  CHECK(WriteFileAtomic(dir + "/tsa.key", *pki.tsa_key.PrivateKeyPem(), 0600).has_value());
}

std::string TempDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/autoseal-tsa-" + name + "-" +
                    std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace autoseal::tsa::testing
