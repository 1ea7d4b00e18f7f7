// The P-256 fast path of PreparedVerifier against OpenSSL's EVP verification (the old path):
// every verdict must be the same, for valid signatures, every kind of corruption, range edges of
// r and s, crafted keys that reach the rare branches (x(R) ≥ n, R at infinity, u1·G = u2·Q), and
// malformed DER. No Wycheproof vectors are available offline, so the edge cases are built here
// with the algebra Wycheproof uses (choose R, r, s and the digest, then solve for Q).

#include "crypto/p256_verify.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/ossl.h"
#include "crypto/prepared.h"
#include "crypto/signature.h"

namespace autoseal::crypto {
namespace {

using internal::P256Signature;

// Scalar and point arithmetic on P-256 with OpenSSL, for building test cases.
class Curve {
 public:
  Curve() : group_(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)), ctx_(BN_CTX_new()) {}
  const BIGNUM* n() const { return EC_GROUP_get0_order(group_.get()); }
  const EC_GROUP* group() const { return group_.get(); }

  BignumPtr Bn(uint64_t v) const {
    BignumPtr b(BN_new());
    BN_set_word(b.get(), v);
    return b;
  }
  BignumPtr FromBytes(ByteView b) const { return BignumPtr(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr)); }
  BignumPtr Random() const {
    BignumPtr b(BN_new());
    do BN_rand_range(b.get(), n());
    while (BN_is_zero(b.get()));
    return b;
  }
  BignumPtr Mul(const BIGNUM* a, const BIGNUM* b) const {
    BignumPtr r(BN_new());
    BN_mod_mul(r.get(), a, b, n(), ctx_.get());
    return r;
  }
  BignumPtr Inv(const BIGNUM* a) const {
    BignumPtr r(BN_new());
    BN_mod_inverse(r.get(), a, n(), ctx_.get());
    return r;
  }
  BignumPtr ModN(const BIGNUM* a) const {
    BignumPtr r(BN_new());
    BN_nnmod(r.get(), a, n(), ctx_.get());
    return r;
  }
  BignumPtr Neg(const BIGNUM* a) const {
    BignumPtr r(BN_new());
    BN_mod_sub(r.get(), n(), a, n(), ctx_.get());
    return r;
  }
  // g·G + p·P (P may be null).
  EcPointPtr Mul(const BIGNUM* g, const EC_POINT* point = nullptr, const BIGNUM* p = nullptr) const {
    EcPointPtr r(EC_POINT_new(group_.get()));
    EXPECT_EQ(EC_POINT_mul(group_.get(), r.get(), g, point, p, ctx_.get()), 1);
    return r;
  }
  BignumPtr X(const EC_POINT* p) const {
    BignumPtr x(BN_new());
    EXPECT_EQ(EC_POINT_get_affine_coordinates(group_.get(), p, x.get(), nullptr, ctx_.get()), 1);
    return x;
  }
  // The point with this x (either y), if there is one.
  EcPointPtr FromX(const BIGNUM* x) const {
    EcPointPtr p(EC_POINT_new(group_.get()));
    if (EC_POINT_set_compressed_coordinates(group_.get(), p.get(), x, 0, ctx_.get()) != 1) {
      ClearOpenSslErrors();
      return nullptr;
    }
    return p;
  }
  PublicKey Key(const EC_POINT* q) const {
    BignumPtr x(BN_new()), y(BN_new());
    EXPECT_EQ(EC_POINT_get_affine_coordinates(group_.get(), q, x.get(), y.get(), ctx_.get()), 1);
    Bytes xb(32), yb(32);
    BN_bn2binpad(x.get(), xb.data(), 32);
    BN_bn2binpad(y.get(), yb.data(), 32);
    return *PublicKey::FromEcComponents("P-256", xb, yb);
  }

 private:
  EcGroupPtr group_;
  BnCtxPtr ctx_;
};

Bytes Der(const BIGNUM* r, const BIGNUM* s) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  ECDSA_SIG_set0(sig.get(), BN_dup(r), BN_dup(s));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  EXPECT_GT(len, 0);
  if (len <= 0) return {};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Bytes Raw(const BIGNUM* r, const BIGNUM* s) {
  Bytes out(64);
  EXPECT_GT(BN_bn2binpad(r, out.data(), 32), 0);
  EXPECT_GT(BN_bn2binpad(s, out.data() + 32, 32), 0);
  return out;
}

std::pair<BignumPtr, BignumPtr> Split(ByteView der) {
  auto raw = *EcdsaSignatureToRaw(der, 32);
  return {BignumPtr(BN_bin2bn(raw.data(), 32, nullptr)), BignumPtr(BN_bin2bn(raw.data() + 32, 32, nullptr))};
}

// OpenSSL's verdict on a signature over a digest (no hashing): EVP_PKEY_verify.
bool OpenSslVerifiesDigest(const PublicKey& key, ByteView digest, ByteView der) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.evp(), nullptr));
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_verify(ctx.get(), der.data(), der.size(), digest.data(), digest.size()) == 1;
  ClearOpenSslErrors();
  return ok;
}

bool FastVerifiesDigest(const internal::P256Verifier& v, ByteView digest, ByteView der) {
  auto sig = internal::ParseDerP256Signature(der);
  return sig && v.Verify(digest, *sig);
}

// Verifiers for key: one without a table and, with_table, one with.
std::vector<std::shared_ptr<const PreparedVerifier>> Verifiers(const PublicKey& key, bool with_table) {
  std::vector<std::shared_ptr<const PreparedVerifier>> out;
  out.push_back(*PreparedVerifier::Create(key, std::nullopt, VerifyTablePolicy::kNever));
  if (with_table) out.push_back(*PreparedVerifier::Create(key, std::nullopt, VerifyTablePolicy::kNow));
  EXPECT_EQ(out.back()->HasP256Table(), with_table);
  return out;
}

// Every way of checking (data, der) under key must agree with EVP; returns that verdict.
// With a table and without, DER and raw r||s.
bool SameVerdict(const PublicKey& key, ByteView data, ByteView der,
                 const std::vector<std::shared_ptr<const PreparedVerifier>>& verifiers) {
  bool evp = Verify(key, data, der).has_value();
  for (const auto& v : verifiers) {
    EXPECT_EQ(v->Verify(data, der).has_value(), evp) << "DER, table " << v->HasP256Table();
    // The r||s form can only express what the DER form does when both integers fit 32 bytes.
    if (auto raw = EcdsaSignatureToRaw(der, 32); raw && internal::ParseDerP256Signature(der)) {
      EXPECT_EQ(v->VerifyEcdsaRaw(data, *raw).has_value(), evp) << "raw, table " << v->HasP256Table();
    }
  }
  return evp;
}

TEST(P256InverseTest, MatchesOpenSslForRandomAndEdgeValues) {
  Curve c;
  std::vector<BignumPtr> values;
  for (int i = 0; i < 3000; ++i) values.push_back(c.Random());
  for (uint64_t v : {1ull, 2ull, 3ull, 0x80ull, 0xffffffffull}) values.push_back(c.Bn(v));
  values.push_back(c.Neg(c.Bn(1).get()));  // n - 1
  values.push_back(c.Neg(c.Bn(2).get()));
  BignumPtr pow(BN_new());
  BN_set_bit(pow.get(), 255);  // 2^255 < n
  values.push_back(std::move(pow));
  for (const auto& v : values) {
    std::array<uint8_t, 32> in;
    BN_bn2binpad(v.get(), in.data(), 32);
    auto out = internal::InvertModP256Order(in);
    ASSERT_TRUE(out.has_value());
    auto expected = c.Inv(v.get());
    EXPECT_EQ(BN_cmp(c.FromBytes(*out).get(), expected.get()), 0);
  }
  std::array<uint8_t, 32> zero{}, n{}, ones;
  ones.fill(0xff);
  BN_bn2binpad(c.n(), n.data(), 32);
  EXPECT_FALSE(internal::InvertModP256Order(zero).has_value());
  EXPECT_FALSE(internal::InvertModP256Order(n).has_value());
  EXPECT_FALSE(internal::InvertModP256Order(ones).has_value());
}

// Thousands of random keys and messages without a table (the path most keys take), a few with:
// valid signatures pass, and a flipped bit anywhere in r, s, the message or the key fails, as
// it does through EVP.
TEST(P256VerifyTest, RandomKeysAgreeWithEvpOnValidAndCorruptedSignatures) {
  std::mt19937 rng(20261128);
  Curve c;
  for (int i = 0; i < 2000; ++i) {
    auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
    PublicKey pub = key.Public();
    auto vs = Verifiers(pub, false);
    ASSERT_TRUE(vs[0]->IsP256());
    Bytes msg(rng() % 200);
    for (auto& b : msg) b = static_cast<uint8_t>(rng());
    Bytes der = *Sign(key, msg);
    ASSERT_TRUE(SameVerdict(pub, msg, der, vs));
    auto [r, s] = Split(der);
    // High s: ECDSA has no low-s rule; (r, n - s) is just as valid.
    ASSERT_TRUE(SameVerdict(pub, msg, Der(r.get(), c.Neg(s.get()).get()), vs));
    Bytes raw = Raw(r.get(), s.get());
    raw[rng() % 64] ^= static_cast<uint8_t>(1u << (rng() % 8));  // a bit of r or s
    auto [r2, s2] = std::pair(BignumPtr(BN_bin2bn(raw.data(), 32, nullptr)), BignumPtr(BN_bin2bn(raw.data() + 32, 32, nullptr)));
    EXPECT_FALSE(SameVerdict(pub, msg, Der(r2.get(), s2.get()), vs));
    Bytes other = msg;
    if (other.empty()) other.push_back(0);
    else other[rng() % other.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_FALSE(SameVerdict(pub, other, der, vs));
    // A bit of the key: most such points are off the curve (refused when the key is built);
    // the ones on it are other keys, under which the signature must fail.
    auto ec = *pub.EcComponents();
    ec.x[rng() % 32] ^= static_cast<uint8_t>(1u << (rng() % 8));
    if (auto flipped = PublicKey::FromEcComponents("P-256", ec.x, ec.y)) {
      EXPECT_FALSE(SameVerdict(*flipped, msg, der, Verifiers(*flipped, false)));
    }
    auto stranger = PrivateKey::Generate(KeyType::kEcdsaP256)->Public();
    EXPECT_FALSE(SameVerdict(stranger, msg, der, Verifiers(stranger, false)));
  }
}

TEST(P256VerifyTest, TableAgreesWithEvp) {
  std::mt19937 rng(7);
  for (int k = 0; k < 4; ++k) {
    auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
    PublicKey pub = key.Public();
    auto table = Verifiers(pub, true);
    for (int i = 0; i < 300; ++i) {
      Bytes msg = ToBytes("message " + std::to_string(i));
      Bytes der = *Sign(key, msg);
      ASSERT_TRUE(SameVerdict(pub, msg, der, table));
      der[4 + rng() % (der.size() - 4)] ^= static_cast<uint8_t>(1u << (rng() % 8));
      EXPECT_FALSE(SameVerdict(pub, msg, der, table));
    }
  }
}

TEST(P256VerifyTest, RAndSOutsideOneToNMinusOneAreRejected) {
  Curve c;
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  PublicKey pub = key.Public();
  auto vs = Verifiers(pub, true);
  Bytes msg = ToBytes("edges");
  auto [r, s] = Split(*Sign(key, msg));
  BignumPtr n(BN_dup(c.n())), n_plus_1(BN_dup(c.n())), max256(BN_new()), big(BN_new());
  BN_add_word(n_plus_1.get(), 1);
  BN_set_bit(max256.get(), 256);
  BN_sub_word(max256.get(), 1);  // 2^256 - 1
  BN_set_bit(big.get(), 256);    // 2^256: 33 bytes
  BignumPtr huge(BN_new());
  BN_set_bit(huge.get(), 300);
  auto zero = c.Bn(0);
  std::vector<const BIGNUM*> bad = {zero.get(), n.get(), n_plus_1.get(), max256.get(), big.get(), huge.get()};
  for (const BIGNUM* b : bad) {
    EXPECT_FALSE(SameVerdict(pub, msg, Der(b, s.get()), vs));
    EXPECT_FALSE(SameVerdict(pub, msg, Der(r.get(), b), vs));
    // r + n and s + n name the same residues: still out of range, so invalid.
  }
  BignumPtr r_plus_n(BN_dup(r.get())), s_plus_n(BN_dup(s.get()));
  BN_add(r_plus_n.get(), r_plus_n.get(), c.n());
  BN_add(s_plus_n.get(), s_plus_n.get(), c.n());
  EXPECT_FALSE(SameVerdict(pub, msg, Der(r_plus_n.get(), s.get()), vs));
  EXPECT_FALSE(SameVerdict(pub, msg, Der(r.get(), s_plus_n.get()), vs));
  // n - 1 is in range: a wrong but well-formed value, rejected by the equation, not the range.
  BignumPtr n_minus_1 = c.Neg(c.Bn(1).get());
  EXPECT_FALSE(SameVerdict(pub, msg, Der(n_minus_1.get(), s.get()), vs));
  EXPECT_FALSE(SameVerdict(pub, msg, Der(r.get(), n_minus_1.get()), vs));
  // Negative integers in DER: −r for r (the other integer kept valid), then −s for s.
  for (int which = 0; which < 2; ++which) {
    Bytes ints[2];
    for (int i = 0; i < 2; ++i) {
      const BIGNUM* v = i == 0 ? r.get() : s.get();
      Bytes mag(static_cast<size_t>(BN_num_bytes(v)));
      BN_bn2bin(v, mag.data());
      if (i == which) {  // two's complement of v, with a sign octet so the top bit is set
        ints[i] = {0xff};
        for (uint8_t b : mag) ints[i].push_back(static_cast<uint8_t>(~b));
        for (size_t k = ints[i].size(); k-- > 0 && ++ints[i][k] == 0;) {}
      } else {
        if (mag[0] & 0x80) ints[i].push_back(0);
        ints[i].insert(ints[i].end(), mag.begin(), mag.end());
      }
    }
    Bytes encoded = {0x30, static_cast<uint8_t>(4 + ints[0].size() + ints[1].size())};
    for (const Bytes& content : ints) {
      encoded.insert(encoded.end(), {0x02, static_cast<uint8_t>(content.size())});
      encoded.insert(encoded.end(), content.begin(), content.end());
    }
    ASSERT_NE(encoded, Der(r.get(), s.get()));
    EXPECT_FALSE(SameVerdict(pub, msg, encoded, vs)) << which;
  }
  // The raw form of the wrong length.
  Bytes raw = Raw(r.get(), s.get());
  for (size_t len : {size_t{0}, size_t{63}, size_t{65}, size_t{96}}) {
    Bytes b(len, 0);
    std::copy_n(raw.begin(), std::min<size_t>(len, 64), b.begin());
    for (const auto& v : vs) EXPECT_FALSE(v->VerifyEcdsaRaw(msg, b).has_value()) << len;
  }
}

// x(R) in [n, p): a valid signature carries r = x(R) - n, and r = x(R) itself is out of range.
// With s and the digest chosen, the key is Q = r⁻¹(s·R − e·G) (Wycheproof's construction).
TEST(P256VerifyTest, XOfRIsReducedModN) {
  Curve c;
  Bytes msg = ToBytes("x(R) >= n");
  Bytes digest = Digest(DigestAlgorithm::kSha256, msg);
  auto e = c.FromBytes(digest);
  int found = 0;
  for (uint64_t t = 1; t < 200 && found < 5; ++t) {
    BignumPtr x(BN_dup(c.n()));
    BN_add_word(x.get(), t);
    EcPointPtr big_r = c.FromX(x.get());
    if (!big_r) continue;
    ++found;
    auto r = c.Bn(t);
    auto s = c.Random();
    // Q = r⁻¹·s·R − r⁻¹·e·G
    auto r_inv = c.Inv(r.get());
    EcPointPtr q = c.Mul(c.Neg(c.Mul(r_inv.get(), e.get()).get()).get(), big_r.get(), c.Mul(r_inv.get(), s.get()).get());
    PublicKey pub = c.Key(q.get());
    auto vs = Verifiers(pub, found == 1);
    EXPECT_TRUE(SameVerdict(pub, msg, Der(r.get(), s.get()), vs)) << "small r = x(R) - n";
    EXPECT_FALSE(SameVerdict(pub, msg, Der(x.get(), s.get()), vs)) << "r = x(R) >= n";
  }
  EXPECT_EQ(found, 5);
}

// u1·G + u2·Q at infinity (Q = −(e/r)·G) must be invalid; u1·G = u2·Q (Q = (e/r)·G, where the
// table path's addition doubles) must verify when s = 2e/k for R = k·G.
TEST(P256VerifyTest, InfinityAndDoublingInTheFinalAddition) {
  Curve c;
  Bytes msg = ToBytes("exceptional");
  auto e = c.FromBytes(Digest(DigestAlgorithm::kSha256, msg));
  for (int i = 0; i < 5; ++i) {
    auto k = c.Random();
    auto r = c.ModN(c.X(c.Mul(k.get()).get()).get());
    auto e_over_r = c.Mul(e.get(), c.Inv(r.get()).get());
    PublicKey at_infinity = c.Key(c.Mul(c.Neg(e_over_r.get()).get()).get());
    auto s = c.Random();
    auto vs = Verifiers(at_infinity, i == 0);
    EXPECT_FALSE(SameVerdict(at_infinity, msg, Der(r.get(), s.get()), vs));

    PublicKey doubling = c.Key(c.Mul(e_over_r.get()).get());
    auto two_e = c.Mul(e.get(), c.Bn(2).get());
    auto s2 = c.Mul(two_e.get(), c.Inv(k.get()).get());
    vs = Verifiers(doubling, i == 0);
    EXPECT_TRUE(SameVerdict(doubling, msg, Der(r.get(), s2.get()), vs));
  }
}

// Digests as OpenSSL takes them (EVP_PKEY_verify, no hashing): e = 0 (u1 = 0), e ≥ n, and
// digests longer than 256 bits, whose leftmost 256 bits count.
TEST(P256VerifyTest, DigestEdgesAgreeWithOpenSsl) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  PublicKey pub = key.Public();
  auto fast = *internal::P256Verifier::Create(pub, VerifyTablePolicy::kNever);
  Bytes ff(32, 0xff), zero(32, 0), long_digest(64, 0x5a), short_digest(20, 0x33);
  for (const Bytes& d : {ff, zero, long_digest, short_digest}) {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key.evp(), nullptr));
    ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
    size_t len = 80;
    Bytes der(len);
    ASSERT_EQ(EVP_PKEY_sign(ctx.get(), der.data(), &len, d.data(), d.size()), 1);
    der.resize(len);
    EXPECT_TRUE(OpenSslVerifiesDigest(pub, d, der));
    EXPECT_TRUE(FastVerifiesDigest(*fast, d, der)) << d.size();
    Bytes other = d;
    other[0] ^= 1;
    EXPECT_FALSE(OpenSslVerifiesDigest(pub, other, der));
    EXPECT_FALSE(FastVerifiesDigest(*fast, other, der));
    if (d.size() > 32) {  // beyond the 256th bit nothing counts, for OpenSSL too
      other = d;
      other.back() ^= 1;
      EXPECT_TRUE(OpenSslVerifiesDigest(pub, other, der));
      EXPECT_TRUE(FastVerifiesDigest(*fast, other, der));
    }
  }
}

TEST(P256VerifyTest, P256WithSha384AndSha512) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  PublicKey pub = key.Public();
  for (auto alg : {DigestAlgorithm::kSha384, DigestAlgorithm::kSha512}) {
    auto v = *PreparedVerifier::Create(pub, alg, VerifyTablePolicy::kNever);
    ASSERT_TRUE(v->IsP256());
    for (int i = 0; i < 50; ++i) {
      Bytes msg = ToBytes("long digest " + std::to_string(i));
      Bytes der = *Sign(key, msg, alg);
      EXPECT_TRUE(v->Verify(msg, der).has_value());
      EXPECT_TRUE(Verify(pub, msg, der, alg).has_value());
      // The same signature under SHA-256 fails both ways.
      EXPECT_FALSE(Verify(pub, msg, der).has_value());
      EXPECT_FALSE((*PreparedVerifier::Create(pub, std::nullopt, VerifyTablePolicy::kNever))->Verify(msg, der).has_value());
    }
  }
  EXPECT_FALSE(PreparedVerifier::Create(pub, DigestAlgorithm::kSha1).has_value());
}

// Every single-bit and single-byte corruption of valid DER, plus non-DER encodings OpenSSL's
// BER reader would take (long-form lengths, padded integers, trailing bytes).
TEST(P256VerifyTest, MalformedDerAgreesWithEvp) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  PublicKey pub = key.Public();
  auto vs = Verifiers(pub, false);
  Bytes msg = ToBytes("der");
  for (int k = 0; k < 3; ++k) {
    Bytes der = *Sign(key, msg);
    for (size_t i = 0; i < der.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes b = der;
        b[i] ^= static_cast<uint8_t>(1u << bit);
        SameVerdict(pub, msg, b, vs);
      }
      for (uint8_t v : {0x00, 0x7f, 0x80, 0x81, 0xff}) {
        Bytes b = der;
        b[i] = v;
        SameVerdict(pub, msg, b, vs);
      }
      Bytes cut(der.begin(), der.begin() + static_cast<long>(i));
      EXPECT_FALSE(SameVerdict(pub, msg, cut, vs));
    }
    Bytes trailing = der;
    trailing.push_back(0);
    EXPECT_FALSE(SameVerdict(pub, msg, trailing, vs));
    Bytes long_form = {0x30, 0x81};
    long_form.insert(long_form.end(), der.begin() + 1, der.end());
    EXPECT_FALSE(SameVerdict(pub, msg, long_form, vs));
    // r with a superfluous leading zero, the SEQUENCE length adjusted.
    Bytes padded = {0x30, static_cast<uint8_t>(der[1] + 1), 0x02, static_cast<uint8_t>(der[3] + 1), 0x00};
    padded.insert(padded.end(), der.begin() + 4, der.end());
    EXPECT_FALSE(SameVerdict(pub, msg, padded, vs));
    Bytes indefinite = {0x30, 0x80};
    indefinite.insert(indefinite.end(), der.begin() + 2, der.end());
    indefinite.insert(indefinite.end(), {0x00, 0x00});
    EXPECT_FALSE(SameVerdict(pub, msg, indefinite, vs));
  }
  EXPECT_FALSE(SameVerdict(pub, msg, {}, vs));
}

// The lazy policy builds the table inside the 1000th verification, under concurrent use, and the
// verdicts stay right before, during and after; the budget comes back when the verifier goes.
TEST(P256VerifyTest, TableIsBuiltAfterRepeatedUseWhileThreadsVerify) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  size_t tables_before = internal::P256Verifier::TablesInUse();
  auto v = *PreparedVerifier::Create(key.Public());
  ASSERT_TRUE(v->IsP256());
  EXPECT_FALSE(v->HasP256Table());
  std::vector<Bytes> msgs, sigs;
  for (int i = 0; i < 8; ++i) {
    msgs.push_back(ToBytes("concurrent " + std::to_string(i)));
    sigs.push_back(*Sign(key, msgs.back()));
  }
  Bytes bad = sigs[0];
  bad[10] ^= 1;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        size_t m = static_cast<size_t>(i + t) % msgs.size();
        if (!v->Verify(msgs[m], sigs[m])) ++wrong;
        if (v->Verify(msgs[0], bad)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(v->HasP256Table());
  EXPECT_EQ(internal::P256Verifier::TablesInUse(), tables_before + 1);
  v.reset();
  EXPECT_EQ(internal::P256Verifier::TablesInUse(), tables_before);
}

// Forged signatures do not count towards the table: otherwise anyone could send garbage under
// another ACME account's kid until that key built a table and the process's budget ran out.
TEST(P256VerifyTest, FailedVerificationsDoNotEarnATable) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto v = *PreparedVerifier::Create(key.Public());
  ASSERT_TRUE(v->IsP256());
  Bytes msg = ToBytes("forged");
  Bytes sig = *Sign(key, msg);
  Bytes bad = sig;
  bad[12] ^= 1;
  for (uint32_t i = 0; i < internal::P256Verifier::kTableAfterUses + 500; ++i)
    ASSERT_FALSE(v->Verify(msg, bad));
  EXPECT_FALSE(v->HasP256Table());
  for (uint32_t i = 0; i < internal::P256Verifier::kTableAfterUses; ++i)
    ASSERT_TRUE(v->Verify(msg, sig));
  EXPECT_TRUE(v->HasP256Table());
}

// A SubjectPublicKeyInfo with a compressed point (RFC 5480 §2.2 allows it) takes the fast path.
TEST(P256VerifyTest, CompressedPointKeyVerifies) {
  auto key = *PrivateKey::Generate(KeyType::kEcdsaP256);
  auto ec = *key.Public().EcComponents();
  Bytes der = {0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
               0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00};
  der.push_back(static_cast<uint8_t>(0x02 | (ec.y.back() & 1)));
  der.insert(der.end(), ec.x.begin(), ec.x.end());
  auto pub = PublicKey::FromDer(der);
  ASSERT_TRUE(pub.has_value()) << pub.error().message();
  ASSERT_TRUE(pub->Equals(key.Public()));
  auto vs = Verifiers(*pub, false);
  ASSERT_TRUE(vs[0]->IsP256());
  Bytes msg = ToBytes("compressed");
  EXPECT_TRUE(SameVerdict(*pub, msg, *Sign(key, msg), vs));
}

TEST(P256VerifyTest, OtherKeysKeepTheEvpPath) {
  for (auto type : {KeyType::kEcdsaP384, KeyType::kRsa2048, KeyType::kEd25519, KeyType::kSm2}) {
    auto key = *PrivateKey::Generate(type);
    auto v = *PreparedVerifier::Create(key.Public());
    EXPECT_FALSE(v->IsP256());
    Bytes msg = ToBytes("not P-256");
    Bytes sig = *Sign(key, msg);
    EXPECT_TRUE(v->Verify(msg, sig).has_value());
    if (type == KeyType::kEcdsaP384) {
      Bytes raw = *EcdsaSignatureToRaw(sig, 48);
      EXPECT_TRUE(v->VerifyEcdsaRaw(msg, raw).has_value());
      raw[5] ^= 1;
      EXPECT_FALSE(v->VerifyEcdsaRaw(msg, raw).has_value());
      EXPECT_FALSE(v->VerifyEcdsaRaw(msg, Bytes(64, 1)).has_value());
    } else {
      EXPECT_EQ(v->VerifyEcdsaRaw(msg, sig).error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace autoseal::crypto
