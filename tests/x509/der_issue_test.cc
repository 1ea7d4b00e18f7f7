// The DER encoder behind leaf issuance (x509/internal/issuance.h): what it writes must be what
// OpenSSL's X509 encoder writes for the same spec, byte for byte, and OpenSSL must accept it.

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <set>
#include <thread>

#include "crypto/ossl.h"
#include "crypto/sign_context.h"
#include "crypto/signature.h"
#include "x509/internal/der.h"
#include "x509/internal/issuance.h"
#include "x509/internal/openssl_util.h"
#include "x509/issue.h"
#include "x509/verify.h"

namespace autoseal::x509 {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;
using internal::IssueControl;
using Encoder = IssueControl::Encoder;

const TimePoint kNow = *ParseRfc3339("2026-11-28T12:00:00Z");

struct Hierarchy {
  PrivateKey root_key, int_key;
  Certificate root, intermediate;
};

Hierarchy MakeHierarchy(KeyType root_type, KeyType int_type, TimePoint now = kNow) {
  auto root_key = *PrivateKey::Generate(root_type);
  CertificateSpec rs;
  rs.profile = Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = "DER Test Root";
  rs.organization = "autoseal tests";
  rs.not_before = now - std::chrono::hours(24);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = IssueCertificate(rs, nullptr, root_key);
  EXPECT_TRUE(root.has_value()) << root.error().message();
  auto int_key = *PrivateKey::Generate(int_type);
  CertificateSpec is = rs;
  is.profile = Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = "DER Test Intermediate";
  is.path_length = 0;
  is.not_after = now + std::chrono::hours(24 * 1825);
  auto inter = IssueCertificate(is, &*root, root_key);
  EXPECT_TRUE(inter.has_value()) << inter.error().message();
  return {root_key, int_key, *root, *inter};
}

CertificateSpec LeafSpec(const PrivateKey& key, Profile profile, CsrOptions names,
                         TimePoint now = kNow, int days = 30) {
  auto csr = CreateCertificateRequest(key, names);
  EXPECT_TRUE(csr.has_value()) << csr.error().message();
  auto spec = SpecFromRequest(*csr, profile, {.days = days, .now = now});
  EXPECT_TRUE(spec.has_value()) << spec.error().message();
  return *spec;
}

// The TBSCertificate DER inside a Certificate DER.
Bytes Tbs(ByteView cert) {
  auto outer = internal::der::ReadElement(cert);
  EXPECT_TRUE(outer && outer->rest.empty());
  auto tbs = internal::der::ReadElement(outer->contents);
  EXPECT_TRUE(tbs.has_value());
  return Bytes(outer->contents.begin(),
               outer->contents.end() - static_cast<ptrdiff_t>(tbs->rest.size()));
}

// Issues spec through both encoders with one serial; the TBSCertificates must be identical.
Certificate IssueBothAndCompare(const CertificateSpec& spec, const Hierarchy& h,
                                const Bytes& serial = *NewSerialNumber()) {
  auto fast = internal::IssueCertificateWith(spec, &h.intermediate, h.int_key,
                                             {.encoder = Encoder::kDer, .serial = serial});
  EXPECT_TRUE(fast.has_value()) << fast.error().message();
  auto slow = internal::IssueCertificateWith(spec, &h.intermediate, h.int_key,
                                             {.encoder = Encoder::kOpenSsl, .serial = serial});
  EXPECT_TRUE(slow.has_value()) << slow.error().message();
  EXPECT_EQ(HexEncode(Tbs(fast->Der())), HexEncode(Tbs(slow->Der())));
  // And OpenSSL reads the encoded one back to the same DER.
  auto reparsed = Certificate::FromDer(fast->Der());
  EXPECT_TRUE(reparsed.has_value()) << reparsed.error().message();
  EXPECT_EQ(reparsed->Der(), fast->Der());
  return *fast;
}

class DerIssue : public ::testing::TestWithParam<std::pair<KeyType, KeyType>> {};

TEST_P(DerIssue, EveryLeafProfileEncodesAsOpenSslWould) {
  auto h = MakeHierarchy(GetParam().first, GetParam().second);
  auto key = *PrivateKey::Generate(GetParam().second);
  auto tls = LeafSpec(key, Profile::kTlsServer,
                      {.common_name = "www.example.com",
                       .dns_names = {"www.example.com", "*.example.com"},
                       .ip_addresses = {"127.0.0.1", "2001:db8::1"}});
  tls.crl_urls = {"http://crl.example.com/a.crl", "http://crl2.example.com/a.crl"};
  IssueBothAndCompare(tls, h);
  IssueBothAndCompare(
      LeafSpec(key, Profile::kSmime, {.email_addresses = {"alice@example.com", "bob@example.org"}}),
      h);
  IssueBothAndCompare(LeafSpec(key, Profile::kTimeStamping, {.common_name = "autoseal TSA"}), h);
  if (GetParam().second == KeyType::kSm2)
    IssueBothAndCompare(LeafSpec(key, Profile::kTlcpEncryption, {.dns_names = {"sm2.example.com"}}),
                        h);
  // Keys of other types under the same issuer (keyUsage differs per key family).
  for (KeyType t : {KeyType::kRsa2048, KeyType::kEcdsaP384, KeyType::kSm2}) {
    auto other = *PrivateKey::Generate(t);
    IssueBothAndCompare(LeafSpec(other, Profile::kTlsServer, {.dns_names = {"a.example.com"}}), h);
    IssueBothAndCompare(LeafSpec(other, Profile::kSmime, {.email_addresses = {"a@example.com"}}),
                        h);
  }
  auto ed = *PrivateKey::Generate(KeyType::kEd25519);
  IssueBothAndCompare(LeafSpec(ed, Profile::kSmime, {.email_addresses = {"ed@example.com"}}), h);
}

TEST_P(DerIssue, LeafVerifiesUnderOpenSsl) {
  auto h = MakeHierarchy(GetParam().first, GetParam().second);
  auto key = *PrivateKey::Generate(GetParam().second);
  auto leaf = internal::IssueCertificateWith(
      LeafSpec(key, Profile::kTlsServer, {.dns_names = {"www.example.com"}}), &h.intermediate,
      h.int_key, {.encoder = Encoder::kDer});
  ASSERT_TRUE(leaf.has_value()) << leaf.error().message();
  // A fresh OpenSSL object from the bytes, not the one the Certificate keeps.
  Bytes der = leaf->Der();
  const unsigned char* p = der.data();
  crypto::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(x != nullptr);
  if (GetParam().second == KeyType::kSm2)
    X509_set0_distinguishing_id(x.get(), crypto::NewSm2IdOctetString().release());
  EXPECT_EQ(X509_verify(x.get(), h.int_key.evp()), 1);
  EXPECT_NE(X509_verify(x.get(), h.root_key.evp()), 1);
  crypto::ClearOpenSslErrors();
  auto report =
      VerifyChain({*leaf, h.intermediate}, {h.root}, {.at = kNow, .profile = Profile::kTlsServer});
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(report.problems);
  EXPECT_TRUE(leaf->VerifySignature(h.int_key.Public()).has_value());
}

INSTANTIATE_TEST_SUITE_P(All, DerIssue,
                         ::testing::Values(std::pair{KeyType::kEcdsaP384, KeyType::kEcdsaP256},
                                           std::pair{KeyType::kEcdsaP256, KeyType::kEcdsaP384},
                                           std::pair{KeyType::kRsa4096, KeyType::kRsa2048},
                                           std::pair{KeyType::kSm2, KeyType::kSm2}),
                         [](const auto& info) {
                           return std::string(crypto::KeyTypeName(info.param.second)).substr(0, 5) +
                                  "_" + std::to_string(info.index);
                         });

TEST(DerIssue, RsaCertificateIsByteIdenticalToOpenSsls) {
  // PKCS#1 v1.5 signatures are deterministic, so the whole certificate must match.
  auto h = MakeHierarchy(KeyType::kRsa2048, KeyType::kRsa2048);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(key, Profile::kTlsServer, {.dns_names = {"www.example.com"}});
  Bytes serial = *NewSerialNumber();
  auto fast = internal::IssueCertificateWith(spec, &h.intermediate, h.int_key,
                                             {.encoder = Encoder::kDer, .serial = serial});
  auto slow = internal::IssueCertificateWith(spec, &h.intermediate, h.int_key,
                                             {.encoder = Encoder::kOpenSsl, .serial = serial});
  ASSERT_TRUE(fast.has_value() && slow.has_value());
  EXPECT_EQ(fast->Der(), slow->Der());
  EXPECT_EQ(fast->Pem(), slow->Pem());
}

TEST(DerIssue, EmptySubjectMakesSubjectAltNameCritical) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  // A first name over 64 characters cannot be the CN (RFC 5280 ub-common-name), so the subject
  // stays empty.
  std::string long_name = std::string(60, 'a') + ".example.com";
  auto leaf =
      IssueBothAndCompare(LeafSpec(key, Profile::kTlsServer, {.dns_names = {long_name}}), h);
  EXPECT_EQ(leaf.Subject(), "");
  auto parsed = *Certificate::FromDer(leaf.Der());
  EXPECT_EQ(parsed.Subject(), "");
  EXPECT_TRUE(internal::ExtensionCritical(parsed.raw(), NID_subject_alt_name));
}

TEST(DerIssue, SerialIsPositiveTwentyOctetInteger) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(key, Profile::kTlsServer, {.dns_names = {"a.example.com"}});
  for (int i = 0; i < 50; ++i) {
    auto leaf = *IssueCertificate(spec, &h.intermediate, h.int_key);
    // TBSCertificate: [0] version, then serialNumber INTEGER.
    Bytes tbs_der = Tbs(leaf.Der());
    auto tbs = internal::der::ReadElement(tbs_der);
    auto version = internal::der::ReadElement(tbs->contents);
    auto serial = internal::der::ReadElement(version->rest);
    ASSERT_EQ(serial->tag, internal::der::kInteger);
    ASSERT_EQ(serial->contents.size(), 20u);
    EXPECT_GE(serial->contents[0], 0x01);
    EXPECT_LE(serial->contents[0], 0x7f);
    EXPECT_EQ(Bytes(serial->contents.begin(), serial->contents.end()), leaf.Serial());
  }
  // A magnitude with the top bit set gets a 0x00 octet, as OpenSSL writes it.
  Bytes high(20, 0xab);
  IssueBothAndCompare(spec, h, high);
}

TEST(DerIssue, TimesSwitchToGeneralizedTimeIn2050) {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
  auto encode = [](std::string_view rfc3339) {
    internal::der::Writer w;
    EXPECT_TRUE(w.Time(*ParseRfc3339(rfc3339)).has_value());
    return std::string(AsString(w.bytes()));
  };
  EXPECT_EQ(encode("2049-12-31T23:59:59Z"), std::string("\x17\x0d") + "491231235959Z");
  EXPECT_EQ(encode("2050-01-01T00:00:00Z"), std::string("\x18\x0f") + "20500101000000Z");
  EXPECT_EQ(encode("1950-01-01T00:00:00Z"), std::string("\x17\x0d") + "500101000000Z");
  EXPECT_EQ(encode("1949-12-31T23:59:59Z"), std::string("\x18\x0f") + "19491231235959Z");
  EXPECT_EQ(encode("2000-02-29T08:07:06Z"), std::string("\x17\x0d") + "000229080706Z");
  // The same as OpenSSL's ASN1_TIME_set around the boundary.
  for (int64_t t : {int64_t{2524607999}, int64_t{2524608000}, int64_t{-631152001},
                    int64_t{-631152000}, int64_t{0}}) {
    crypto::Asn1TimePtr ossl(ASN1_TIME_set(nullptr, static_cast<time_t>(t)));
    unsigned char* out = nullptr;
    int n = i2d_ASN1_TIME(ossl.get(), &out);
    std::string expected(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    internal::der::Writer w;
    ASSERT_TRUE(w.Time(FromUnixSeconds(t)).has_value());
    EXPECT_EQ(HexEncode(w.bytes()), HexEncode(AsBytes(expected))) << t;
  }
  // A leaf straddling the boundary, through both encoders.
  const TimePoint late = *ParseRfc3339("2049-12-20T00:00:00Z");
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256, late);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto leaf = IssueBothAndCompare(
      LeafSpec(key, Profile::kTlsServer, {.dns_names = {"a.example.com"}}, late, 30), h);
  auto parsed = *Certificate::FromDer(leaf.Der());
  EXPECT_EQ(parsed.NotBefore(), late);
  EXPECT_EQ(parsed.NotAfter(), late + std::chrono::hours(24 * 30) - std::chrono::seconds(1));
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(parsed.raw())), V_ASN1_UTCTIME);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(parsed.raw())), V_ASN1_GENERALIZEDTIME);
}

TEST(DerIssue, KnownFieldsAnswerAsTheParsedCertificateDoes) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(
      key, Profile::kTlsServer,
      {.dns_names = {"www.example.com"}, .ip_addresses = {"2001:0db8:0:0::1", "10.0.0.1"}});
  for (std::string cn : {"", "www.example.com", "*.example.com", "a_b@example.com", "Example, Inc.",
                         " leading space", "#hash", "a+b", "tab\there", "quote\"d"}) {
    spec.common_name = cn;
    auto leaf = IssueBothAndCompare(spec, h);
    auto parsed = *Certificate::FromDer(leaf.Der());
    EXPECT_EQ(leaf.Subject(), parsed.Subject()) << cn;
    EXPECT_EQ(leaf.CommonName(), parsed.CommonName());
    EXPECT_EQ(leaf.Serial(), parsed.Serial());
    EXPECT_EQ(leaf.SerialHex(), parsed.SerialHex());
    EXPECT_EQ(leaf.NotBefore(), parsed.NotBefore());
    EXPECT_EQ(leaf.NotAfter(), parsed.NotAfter());
    EXPECT_EQ(leaf.DnsNames(), parsed.DnsNames());
    EXPECT_EQ(leaf.IpAddresses(), parsed.IpAddresses());
    EXPECT_EQ(leaf.EmailAddresses(), parsed.EmailAddresses());
    EXPECT_EQ(leaf.Pem(), parsed.Pem());
    EXPECT_TRUE(leaf.PublicKey().Equals(parsed.PublicKey()));
    EXPECT_EQ(leaf.Issuer(), h.intermediate.Subject());
    EXPECT_EQ(leaf.AuthorityKeyId(), h.intermediate.SubjectKeyId());
    EXPECT_EQ(leaf.SignatureAlgorithm(), "ecdsa-with-SHA256");
    EXPECT_TRUE(leaf == parsed);
  }
}

TEST(DerIssue, NonAsciiCommonNameGoesThroughOpenSsl) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(key, Profile::kTlsServer, {.dns_names = {"a.example.com"}});
  spec.common_name = "Bücher";
  auto fast =
      internal::IssueCertificateWith(spec, &h.intermediate, h.int_key, {.encoder = Encoder::kDer});
  ASSERT_FALSE(fast.has_value());
  EXPECT_EQ(fast.error().code(), ErrorCode::kUnsupported);
  auto cert = IssueCertificate(spec, &h.intermediate, h.int_key);
  ASSERT_TRUE(cert.has_value()) << cert.error().message();
  EXPECT_EQ(cert->CommonName(), "Bücher");
  spec.common_name = std::string(65, 'a');
  EXPECT_EQ(IssueCertificate(spec, &h.intermediate, h.int_key).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(DerIssue, IssuerKeyIsCheckedOnEveryIssue) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(key, Profile::kTlsServer, {.dns_names = {"a.example.com"}});
  auto same_type = *PrivateKey::Generate(KeyType::kEcdsaP256);
  EXPECT_TRUE(IssueCertificate(spec, &h.intermediate, h.int_key).has_value());
  EXPECT_EQ(IssueCertificate(spec, &h.intermediate, same_type).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(IssueCertificate(spec, &h.intermediate, h.root_key).error().code(),
            ErrorCode::kInvalidArgument);
  // The same key loaded again (another EVP_PKEY) still matches.
  auto reloaded = *PrivateKey::FromPem(*h.int_key.PrivateKeyPem());
  EXPECT_TRUE(IssueCertificate(spec, &h.intermediate, reloaded).has_value());
  EXPECT_TRUE(IssueCertificate(spec, &h.intermediate, h.int_key).has_value());
  // A leaf cannot issue.
  auto leaf = *IssueCertificate(spec, &h.intermediate, h.int_key);
  EXPECT_EQ(IssueCertificate(spec, &leaf, key).error().code(), ErrorCode::kPolicy);
}

TEST(DerIssue, ConcurrentIssuanceFromOneIssuer) {
  auto h = MakeHierarchy(KeyType::kEcdsaP384, KeyType::kEcdsaP256);
  // A fresh copy of the intermediate, so that its issuer view is first computed under the race.
  auto inter = *Certificate::FromDer(h.intermediate.Der());
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto spec = LeafSpec(key, Profile::kTlsServer, {.dns_names = {"a.example.com"}});
  std::vector<std::vector<Certificate>> issued(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < issued.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto c = IssueCertificate(spec, &inter, h.int_key);
        if (c) issued[t].push_back(*c);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> serials;
  for (const auto& list : issued) {
    ASSERT_EQ(list.size(), 25u);
    for (const auto& c : list) {
      EXPECT_TRUE(c.VerifySignature(h.int_key.Public()).has_value());
      serials.insert(c.SerialHex());
    }
  }
  EXPECT_EQ(serials.size(), 100u);
}

TEST(DerIssue, SubjectPublicKeyInfoClassifiedAsOpenSslDoes) {
  for (KeyType t : {KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                    KeyType::kEd25519, KeyType::kSm2}) {
    auto key = *PrivateKey::Generate(t);
    EXPECT_EQ(internal::der::ClassifySubjectPublicKeyInfo(key.PublicKeyDer()), t)
        << crypto::KeyTypeName(t);
    auto csr = *CreateCertificateRequest(key, {.email_addresses = {"a@example.com"}});
    EXPECT_EQ(internal::der::ClassifySubjectPublicKeyInfo(csr.SubjectPublicKeyInfoDer()),
              *csr.PublicKey().Type());
  }
  // Keys autoseal refuses are left to OpenSSL (and refused there).
  crypto::EvpPkeyPtr p521(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"));
  crypto::EvpPkeyPtr rsa1024(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  for (EVP_PKEY* p : {p521.get(), rsa1024.get()}) {
    auto key = *crypto::PublicKey::FromEvp(p);
    EXPECT_FALSE(internal::der::ClassifySubjectPublicKeyInfo(key.PublicKeyDer()).has_value());
  }
  Bytes truncated = (*PrivateKey::Generate(KeyType::kEcdsaP256)).PublicKeyDer();
  truncated.pop_back();
  EXPECT_FALSE(internal::der::ClassifySubjectPublicKeyInfo(truncated).has_value());
  EXPECT_FALSE(internal::der::ClassifySubjectPublicKeyInfo({}).has_value());
}

TEST(DerIssue, NamedBitsDropTrailingZeros) {
  auto bits = [](uint32_t v) {
    internal::der::Writer w;
    w.NamedBits(v);
    return HexEncode(w.bytes());
  };
  EXPECT_EQ(bits(kDigitalSignature), "03020780");
  EXPECT_EQ(bits(kDigitalSignature | kKeyEncipherment), "030205a0");
  EXPECT_EQ(bits(kKeyEncipherment | kDataEncipherment | kKeyAgreement), "03020338");
  EXPECT_EQ(bits(kKeyCertSign | kCrlSign | kDigitalSignature), "03020186");
  EXPECT_EQ(bits(kDecipherOnly), "0303070080");
  EXPECT_EQ(bits(0), "030100");
}

TEST(DerIssue, LongLengthsUseMinimalLongForm) {
  internal::der::Writer w;
  size_t seq = w.Begin(internal::der::kSequence);
  w.Tlv(internal::der::kOctetString, Bytes(300, 0x11));
  w.End(seq);
  // 30 82 01 30 | 04 82 01 2c ...
  EXPECT_EQ(HexEncode(ByteView(w.bytes()).first(8)), "308201300482012c");
  EXPECT_EQ(w.bytes().size(), 4u + 4u + 300u);
  auto e = internal::der::ReadElement(w.bytes());
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->contents.size(), 304u);
}

}  // namespace
}  // namespace autoseal::x509
