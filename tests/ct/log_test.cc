// The log end to end without HTTP: chain checks, SCTs (checked by OpenSSL's own CT code for
// ECDSA, and by our verifier for SM2), duplicates, restart, proofs, static files.

#include "ct/log.h"

#include <gtest/gtest.h>
#include <openssl/ct.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>

#include "core/file.h"
#include "crypto/signature.h"
#include "ct/chain.h"
#include "ct/submit.h"
#include "ct/verifier.h"
#include "x509/csr.h"
#include "x509/issue.h"

namespace autoseal::ct {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;
using x509::CertificateSpec;
using x509::Profile;

struct Pki {
  PrivateKey root_key, int_key;
  x509::Certificate root, intermediate;
};

Pki MakePki(KeyType type, const std::string& name = "CT Test") {
  TimePoint now = SystemClock::Instance().Now();
  auto root_key = *PrivateKey::Generate(type);
  CertificateSpec rs;
  rs.profile = Profile::kRootCa;
  rs.subject_key = root_key.Public();
  rs.common_name = name + " Root";
  rs.organization = "autoseal tests";
  rs.not_before = now - std::chrono::hours(24);
  rs.not_after = now + std::chrono::hours(24 * 3650);
  auto root = x509::IssueCertificate(rs, nullptr, root_key);
  CHECK_MSG(root.has_value(), root.error().message().c_str());
  auto int_key = *PrivateKey::Generate(type);
  CertificateSpec is = rs;
  is.profile = Profile::kIntermediateCa;
  is.subject_key = int_key.Public();
  is.common_name = name + " Intermediate";
  is.path_length = 0;
  auto inter = x509::IssueCertificate(is, &*root, root_key);
  CHECK_MSG(inter.has_value(), inter.error().message().c_str());
  return Pki{root_key, int_key, *root, *inter};
}

x509::Certificate Leaf(const Pki& pki, const std::string& dns, KeyType type = KeyType::kEcdsaP256) {
  auto key = *PrivateKey::Generate(type);
  auto csr = x509::CreateCertificateRequest(key, {.common_name = dns, .dns_names = {dns}});
  CHECK_MSG(csr.has_value(), csr.error().message().c_str());
  auto spec = x509::SpecFromRequest(*csr, Profile::kTlsServer,
                                    {.days = 90, .now = SystemClock::Instance().Now()});
  CHECK_MSG(spec.has_value(), spec.error().message().c_str());
  auto cert = x509::IssueCertificate(*spec, &pki.intermediate, pki.int_key);
  CHECK_MSG(cert.has_value(), cert.error().message().c_str());
  return *cert;
}

std::string TempDir(const std::string& name) {
  std::string dir = "/tmp/autoseal-ct-" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

Result<SignedCertificateTimestamp> SubmitAndWait(Log& log, AcceptedChain chain) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<SignedCertificateTimestamp>> out;
  log.Submit(std::move(chain), [&](Result<SignedCertificateTimestamp> r) {
    std::lock_guard l(mu);
    out = std::move(r);
    cv.notify_all();
  });
  log.Flush();
  std::unique_lock l(mu);
  cv.wait(l, [&] { return out.has_value(); });
  return std::move(*out);
}

// OpenSSL's CT code (CTLOG_STORE + CT_POLICY_EVAL_CTX + SCT_validate) on an x509_entry SCT.
std::string OpenSslSctStatus(const SignedCertificateTimestamp& s, const x509::Certificate& leaf,
                             const x509::Certificate& issuer, const Bytes& log_spki,
                             const std::string& dir) {
  std::string cnf = dir + "/ct_log_list.cnf";
  CHECK(
      WriteFileAtomic(cnf, "enabled_logs = test\n[test]\ndescription = autoseal test log\nkey = " +
                               Base64Encode(log_spki) + "\n")
          .has_value());
  CTLOG_STORE* store = CTLOG_STORE_new();
  CHECK(CTLOG_STORE_load_file(store, cnf.c_str()) == 1);
  SCT* sct =
      SCT_new_from_base64(0, Base64Encode(s.log_id).c_str(), CT_LOG_ENTRY_TYPE_X509, s.timestamp_ms,
                          Base64Encode(s.extensions).c_str(), Base64Encode(s.signature).c_str());
  CHECK(sct != nullptr);
  CT_POLICY_EVAL_CTX* ctx = CT_POLICY_EVAL_CTX_new();
  CHECK(CT_POLICY_EVAL_CTX_set1_cert(ctx, leaf.raw()) == 1);
  CHECK(CT_POLICY_EVAL_CTX_set1_issuer(ctx, issuer.raw()) == 1);
  CT_POLICY_EVAL_CTX_set_shared_CTLOG_STORE(ctx, store);
  CT_POLICY_EVAL_CTX_set_time(ctx, s.timestamp_ms + 1000);
  (void)SCT_validate(sct, ctx);
  std::string status = SCT_validation_status_string(sct);
  SCT_free(sct);
  CT_POLICY_EVAL_CTX_free(ctx);
  CTLOG_STORE_free(store);
  return status;
}

LogOptions Options(const std::string& dir, KeyType type = KeyType::kEcdsaP256) {
  LogOptions o;
  o.dir = dir;
  o.origin = "ct.example/test";
  o.key_type = type;
  o.period = std::chrono::milliseconds(20);
  return o;
}

TEST(LogTest, EcdsaSctsValidateWithOpenSslAndSurviveRestart) {
  std::string dir = TempDir("ecdsa");
  Pki pki = MakePki(KeyType::kEcdsaP256);
  ChainValidator validator({pki.root});
  auto a = Leaf(pki, "a.example"), b = Leaf(pki, "b.example");
  auto now = SystemClock::Instance().Now();
  auto accepted_a = validator.Validate({a.Der(), pki.intermediate.Der()}, false, now);
  ASSERT_TRUE(accepted_a) << accepted_a.error().message();
  auto accepted_b =
      validator.Validate({b.Der(), pki.intermediate.Der(), pki.root.Der()}, false, now);
  ASSERT_TRUE(accepted_b) << accepted_b.error().message();
  EXPECT_EQ(accepted_b->issuers.size(), 2u);

  SignedCertificateTimestamp sct_a;
  SignedTreeHead first;
  {
    auto log = Log::Open(Options(dir));
    ASSERT_TRUE(log) << log.error().message();
    (*log)->Start();
    auto s = SubmitAndWait(**log, *accepted_a);
    ASSERT_TRUE(s) << s.error().message();
    sct_a = *s;
    EXPECT_EQ(ParseLeafIndexExtension(s->extensions), 0u);
    // The add-chain response body (RFC 6962 §4.1) reads back as the same SCT.
    auto from_json = SignedCertificateTimestamp::FromJson(s->ToJson());
    ASSERT_TRUE(from_json) << s->ToJson();
    EXPECT_EQ(from_json->Serialize(), s->Serialize());
    EXPECT_TRUE(s->ToJson().starts_with("{\"sct_version\":0,\"id\":\"")) << s->ToJson();
    EXPECT_EQ(OpenSslSctStatus(*s, a, pki.intermediate, (*log)->signer().public_key().spki(), dir),
              "valid");
    first = (*log)->LatestTreeHead();
    EXPECT_EQ(first.tree_size, 1u);
    auto again = SubmitAndWait(**log, *accepted_a);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->Serialize(), s->Serialize()) << "a duplicate gets the original SCT";
    auto sb = SubmitAndWait(**log, *accepted_b);
    ASSERT_TRUE(sb);
    EXPECT_EQ(ParseLeafIndexExtension(sb->extensions), 1u);
    EXPECT_EQ(OpenSslSctStatus(*sb, b, pki.intermediate, (*log)->signer().public_key().spki(), dir),
              "valid");
  }
  auto log = Log::Open(Options(dir));
  ASSERT_TRUE(log) << log.error().message();
  (*log)->Start();
  SignedTreeHead head = (*log)->LatestTreeHead();
  EXPECT_EQ(head.tree_size, 2u);
  EXPECT_GT(head.timestamp_ms, first.timestamp_ms);
  EXPECT_TRUE((*log)->signer().public_key().VerifyDigitallySigned(
      TreeHeadSignatureInput(head.timestamp_ms, head.tree_size, head.root), head.signature));
  auto proof = (*log)->ConsistencyProof(1, 2);
  ASSERT_TRUE(proof);
  EXPECT_TRUE(VerifyConsistency(1, 2, first.root, head.root, *proof));
  auto dup = SubmitAndWait(**log, *accepted_a);
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->Serialize(), sct_a.Serialize())
      << "a duplicate after a restart gets the original SCT";
  EXPECT_EQ((*log)->LatestTreeHead().tree_size, 2u);

  auto entries = (*log)->GetEntries(0, 10);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  auto leaf = ParseMerkleTreeLeaf(entries->at(0).leaf_input);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(leaf->entry.certificate, a.Der());
  EXPECT_EQ(leaf->timestamp_ms, sct_a.timestamp_ms);
  auto by_hash = (*log)->ProofByHash(HashLeaf(entries->at(1).leaf_input), 2);
  ASSERT_TRUE(by_hash);
  EXPECT_EQ(by_hash->first, 1u);
  EXPECT_TRUE(
      VerifyInclusion(HashLeaf(entries->at(1).leaf_input), 1, 2, by_hash->second, head.root));

  std::string st = (*log)->static_dir();
  EXPECT_TRUE(FileExists(st + "/checkpoint"));
  EXPECT_TRUE(FileExists(st + "/tile/0/000.p/2"));
  EXPECT_TRUE(FileExists(st + "/tile/data/000.p/2"));
  EXPECT_TRUE(FileExists(st + "/issuer/" + HexEncode(accepted_b->issuers[0])));
  auto tile = ReadFile(st + "/tile/0/000.p/2");
  ASSERT_TRUE(tile);
  EXPECT_EQ(tile->substr(32), std::string(AsString(ToBytes(HashLeaf(entries->at(1).leaf_input)))));
  std::string checkpoint = (*log)->Checkpoint();
  EXPECT_EQ(checkpoint.substr(0, checkpoint.find("\n\n")),
            "ct.example/test\n2\n" + Base64Encode(head.root));
}

TEST(LogTest, Sm2LogSignsWithSm2SigSm3) {
  std::string dir = TempDir("sm2");
  Pki pki = MakePki(KeyType::kSm2, "SM2");
  ChainValidator validator({pki.root});
  auto leaf = Leaf(pki, "sm2.example", KeyType::kSm2);
  auto accepted = validator.Validate({leaf.Der(), pki.intermediate.Der()}, false,
                                     SystemClock::Instance().Now());
  ASSERT_TRUE(accepted) << accepted.error().message();
  auto log = Log::Open(Options(dir, KeyType::kSm2));
  ASSERT_TRUE(log) << log.error().message();
  (*log)->Start();
  auto sct = SubmitAndWait(**log, *accepted);
  ASSERT_TRUE(sct) << sct.error().message();
  ASSERT_GT(sct->signature.size(), 4u);
  EXPECT_EQ(sct->signature[0], 0x07);
  EXPECT_EQ(sct->signature[1], 0x08);
  const LogPublicKey& pub = (*log)->signer().public_key();
  EXPECT_TRUE(pub.is_sm2());
  Bytes signed_data = EncodeMerkleTreeLeaf(sct->timestamp_ms, accepted->entry, sct->extensions);
  EXPECT_TRUE(pub.VerifyDigitallySigned(signed_data, sct->signature));
  signed_data.back() ^= 1;
  EXPECT_FALSE(pub.VerifyDigitallySigned(signed_data, sct->signature));
  auto ds = ParseDigitallySigned(sct->signature);
  ASSERT_TRUE(ds);
  // The signature inside is SM2-with-SM3 with ID 1234567812345678 (what crypto::Verify uses).
  EXPECT_TRUE(crypto::Verify(
      pub.key(), EncodeMerkleTreeLeaf(sct->timestamp_ms, accepted->entry, sct->extensions),
      ds->signature, crypto::DigestAlgorithm::kSm3));
}

TEST(LogTest, ALargeBatchGetsOneValidSctPerEntryAtItsIndex) {
  // 300 submissions pooled before the sequencer starts: one batch, signed by two threads.
  std::string dir = TempDir("batch");
  auto log = Log::Open(Options(dir));
  ASSERT_TRUE(log) << log.error().message();
  const size_t n = 300;
  std::mutex mu;
  std::vector<std::optional<Result<SignedCertificateTimestamp>>> scts(n);
  std::vector<SignedEntry> entries(n);
  for (size_t i = 0; i < n; ++i) {
    AcceptedChain c;
    c.entry.certificate = Bytes{0x30, 0x03, 0x02, 0x01, static_cast<uint8_t>(i)};
    c.entry.certificate.push_back(static_cast<uint8_t>(i >> 8));
    entries[i] = c.entry;
    c.identity = HashLeaf(c.entry.certificate);
    (*log)->Submit(std::move(c), [&, i](Result<SignedCertificateTimestamp> r) {
      std::lock_guard l(mu);
      scts[i] = std::move(r);
    });
  }
  (*log)->Start();
  (*log)->Flush();
  EXPECT_EQ((*log)->LatestTreeHead().tree_size, n);
  std::set<uint64_t> indexes;
  std::lock_guard l(mu);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(scts[i].has_value() && scts[i]->has_value()) << i;
    const SignedCertificateTimestamp& sct = **scts[i];
    auto index = ParseLeafIndexExtension(sct.extensions);
    ASSERT_TRUE(index) << i;
    indexes.insert(*index);
    EXPECT_TRUE((*log)->signer().public_key().VerifyDigitallySigned(
        EncodeMerkleTreeLeaf(sct.timestamp_ms, entries[i], sct.extensions), sct.signature))
        << "entry " << i;
    auto stored = (*log)->GetEntries(*index, *index);
    ASSERT_TRUE(stored && stored->size() == 1) << i;
    EXPECT_EQ(stored->front().leaf_input,
              EncodeMerkleTreeLeaf(sct.timestamp_ms, entries[i], sct.extensions));
  }
  EXPECT_EQ(indexes.size(), n);
}

TEST(LogTest, SecondInstanceOnTheSameDirectoryIsRefused) {
  std::string dir = TempDir("lock");
  auto first = Log::Open(Options(dir));
  ASSERT_TRUE(first) << first.error().message();
  auto second = Log::Open(Options(dir));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  first->reset();
  EXPECT_TRUE(Log::Open(Options(dir))) << "the lock is released with the log";
}

// The CA's flow without HTTP: precertificate → SCTs from an ECDSA and an SM2 log → certificate
// with the SCT list → the verifier's policy.
TEST(VerifierTest, EmbeddedSctsFromTwoLogsMeetThePolicy) {
  Pki pki = MakePki(KeyType::kEcdsaP256);
  ChainValidator validator({pki.root});
  auto ecdsa_log = Log::Open(Options(TempDir("v-ecdsa")));
  auto sm2_log = Log::Open(Options(TempDir("v-sm2"), KeyType::kSm2));
  ASSERT_TRUE(ecdsa_log && sm2_log);
  (*ecdsa_log)->Start();
  (*sm2_log)->Start();

  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto csr = *x509::CreateCertificateRequest(
      key, {.common_name = "v.example", .dns_names = {"v.example"}});
  auto spec = *x509::SpecFromRequest(csr, Profile::kTlsServer,
                                     {.days = 90, .now = SystemClock::Instance().Now()});
  spec.serial = *x509::NewSerialNumber();
  auto pre_spec = spec;
  pre_spec.extra_extensions.push_back(PoisonExtension());
  auto pre = x509::IssueCertificate(pre_spec, &pki.intermediate, pki.int_key);
  ASSERT_TRUE(pre) << pre.error().message();
  auto accepted =
      validator.Validate({pre->Der(), pki.intermediate.Der()}, true, SystemClock::Instance().Now());
  ASSERT_TRUE(accepted) << accepted.error().message();
  auto entry = EntryForChain({pre->Der(), pki.intermediate.Der()}, true);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->certificate, accepted->entry.certificate)
      << "CA and log rebuild the same precert TBS";

  std::vector<SignedCertificateTimestamp> scts;
  LogList list;
  for (Log* log : {ecdsa_log->get(), sm2_log->get()}) {
    auto sct = SubmitAndWait(*log, *accepted);
    ASSERT_TRUE(sct) << sct.error().message();
    scts.push_back(*sct);
    list.Add(KnownLog{log->signer().public_key().is_sm2() ? "sm2" : "ecdsa", "", "",
                      log->signer().public_key()});
  }
  spec.extra_extensions.push_back(SctListExtension(scts));
  auto final_cert = x509::IssueCertificate(spec, &pki.intermediate, pki.int_key);
  ASSERT_TRUE(final_cert) << final_cert.error().message();
  EXPECT_EQ(final_cert->SerialHex(), pre->SerialHex());

  auto now = SystemClock::Instance().Now() + std::chrono::seconds(1);
  SctReport report = VerifyEmbeddedScts(*final_cert, pki.intermediate, list, {.min_valid = 2}, now);
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(report.valid_distinct_logs, 2);
  EXPECT_FALSE(VerifyEmbeddedScts(*final_cert, pki.intermediate, list, {.min_valid = 3}, now).ok());
  EXPECT_FALSE(VerifyEmbeddedScts(*final_cert, pki.intermediate, list, {.min_valid = 2},
                                  now - std::chrono::hours(1))
                   .ok())
      << "SCTs from the future are refused";
  LogList only_ecdsa;
  only_ecdsa.Add(list.logs()[0]);
  report = VerifyEmbeddedScts(*final_cert, pki.intermediate, only_ecdsa, {.min_valid = 2}, now);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.scts[1].status, "unknown log");

  // The same SCTs in a certificate with another serial do not verify.
  spec.serial = *x509::NewSerialNumber();
  auto other = x509::IssueCertificate(spec, &pki.intermediate, pki.int_key);
  ASSERT_TRUE(other);
  report = VerifyEmbeddedScts(*other, pki.intermediate, list, {.min_valid = 1}, now);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.scts[0].status, "invalid");
  EXPECT_EQ(report.scts[1].status, "invalid");
}

TEST(ChainTest, RefusesChainsThatDoNotReachAnAcceptedRoot) {
  Pki pki = MakePki(KeyType::kEcdsaP256), other = MakePki(KeyType::kEcdsaP256, "Other");
  ChainValidator validator({pki.root});
  auto now = SystemClock::Instance().Now();
  auto foreign = Leaf(other, "x.example");
  auto r = validator.Validate({foreign.Der(), other.intermediate.Der()}, false, now);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("accepted root"), std::string::npos) << r.error().message();
  auto mine = Leaf(pki, "y.example");
  r = validator.Validate({mine.Der()}, false, now);
  EXPECT_FALSE(r) << "the intermediate is missing";
  r = validator.Validate({mine.Der(), other.intermediate.Der()}, false, now);
  EXPECT_FALSE(r);
  r = validator.Validate({mine.Der(), pki.intermediate.Der()}, true, now);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("precertificate"), std::string::npos);
  Bytes garbage = mine.Der();
  garbage[garbage.size() - 3] ^= 0x55;  // inside the signature
  EXPECT_FALSE(validator.Validate({garbage, pki.intermediate.Der()}, false, now));
  EXPECT_TRUE(validator.Validate({mine.Der(), pki.intermediate.Der()}, false, now));
  EXPECT_TRUE(validator.Validate({mine.Der(), pki.intermediate.Der()}, false, now));
  EXPECT_EQ(validator.CachedIssuers(), 2u)
      << "the root and the intermediate, cached once by fingerprint";
  // With the intermediate cached, junk or a foreign root after it is refused as it is on a cold
  // validator, and the real root after it is accepted.
  Bytes junk = {0x30, 0x03, 0x02, 0x01, 0x01};
  EXPECT_FALSE(validator.Validate({mine.Der(), pki.intermediate.Der(), junk}, false, now));
  EXPECT_FALSE(
      validator.Validate({mine.Der(), pki.intermediate.Der(), other.root.Der()}, false, now));
  EXPECT_TRUE(validator.Validate({mine.Der(), pki.intermediate.Der(), pki.root.Der()}, false, now));
  ChainValidator strict({pki.root}, {.reject_expired = true});
  EXPECT_FALSE(strict.Validate({mine.Der(), pki.intermediate.Der()}, false,
                               now + std::chrono::hours(24 * 400)));
}

TEST(ChainTest, ParsesAddChainRequests) {
  EXPECT_FALSE(ParseAddChainRequest("not json"));
  EXPECT_FALSE(ParseAddChainRequest("[]"));
  EXPECT_FALSE(ParseAddChainRequest("{}"));
  EXPECT_FALSE(ParseAddChainRequest(R"({"chain":[]})"));
  EXPECT_FALSE(ParseAddChainRequest(R"({"chain":[1]})"));
  EXPECT_FALSE(ParseAddChainRequest(R"({"chain":["%%%"]})"));
  auto ok = ParseAddChainRequest(R"({"chain":["AAEC"]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->at(0), (Bytes{0, 1, 2}));
}

TEST(ChainTest, TheFastScanAndTheJsonParserAgree) {
  const Bytes a{0, 1, 2}, b{0xfb, 0xff};
  // The usual forms are taken by the scan, with the general parser's result.
  for (const char* body :
       {R"({"chain":["AAEC","+/8="]})", " {\n \"chain\" :\t[ \"AAEC\" ,\r\n\"+/8=\" ] } \n"}) {
    auto scanned = internal::ScanAddChainRequest(body);
    ASSERT_TRUE(scanned) << body;
    EXPECT_EQ(*scanned, (std::vector<Bytes>{a, b}));
    auto parsed = internal::ParseAddChainRequestJson(body);
    ASSERT_TRUE(parsed) << body;
    EXPECT_EQ(*parsed, *scanned);
  }
  // Escapes and other members are valid JSON the scan leaves to the parser.
  for (const char* body :
       {R"({"chain":["+\/8="]})", R"({"chain":["AAEC"],"x":1})", R"({"chain":["\u0041AEC"]})"}) {
    EXPECT_FALSE(internal::ScanAddChainRequest(body)) << body;
    EXPECT_TRUE(ParseAddChainRequest(body)) << body;
  }
  // Errors are never the scan's: each gets the parser's message.
  for (const char* body :
       {R"({"chain":["AAEC",]})", R"({"chain":["AAE"]})", R"({"chain":["AAEC"]} x)",
        R"({"chain":["AAEC"])", R"({"chain":[""]})"}) {
    EXPECT_FALSE(internal::ScanAddChainRequest(body)) << body;
    auto r = ParseAddChainRequest(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().message(), internal::ParseAddChainRequestJson(body).error().message());
  }
  // Base64 edge cases, and many short strings over a small alphabet: the scan and the parser
  // agree on every one (the scan may only leave more to the parser).
  std::mt19937 rng(4648);
  const std::string alphabet = "AQgw+/=z9";
  std::vector<std::string> samples = {
      "AA==", "AAE=", "AAF=", "AB==", "A===", "====", "AA=A", "AAAA====", "=AAA"};
  for (int n = 0; n < 20000; ++n) {
    std::string b64(rng() % 13, 'A');
    for (char& c : b64) c = alphabet[rng() % alphabet.size()];
    samples.push_back(b64);
  }
  for (const auto& b64 : samples) {
    std::string body = R"({"chain":[")" + b64 + R"("]})";
    auto parsed = internal::ParseAddChainRequestJson(body);
    if (auto scanned = internal::ScanAddChainRequest(body)) {
      ASSERT_TRUE(parsed) << b64;
      ASSERT_EQ(*scanned, *parsed) << b64;
    }
    auto combined = ParseAddChainRequest(body);
    ASSERT_EQ(combined.has_value(), parsed.has_value()) << b64;
  }
  EXPECT_EQ(internal::ScanAddChainRequest(R"({"chain":["AA=="]})").value_or(std::vector<Bytes>{}),
            (std::vector<Bytes>{{0}}));
  EXPECT_FALSE(ParseAddChainRequest(R"({"chain":["AAF="]})"));  // non-canonical trailing bits

  std::string eleven = R"({"chain":[)";
  for (int i = 0; i < 11; ++i) eleven += std::string(i ? "," : "") + R"("AAEC")";
  eleven += "]}";
  EXPECT_FALSE(internal::ScanAddChainRequest(eleven));
  EXPECT_FALSE(ParseAddChainRequest(eleven));
}

}  // namespace
}  // namespace autoseal::ct
