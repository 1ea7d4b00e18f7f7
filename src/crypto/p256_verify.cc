#include "crypto/p256_verify.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "crypto/ossl.h"

namespace autoseal::crypto::internal {
namespace {

// 256-bit integers as four 64-bit limbs, least significant first, for the inversion mod n.
using Limbs = std::array<uint64_t, 4>;

Limbs FromBigEndian(const std::array<uint8_t, 32>& in) {
  Limbs out{};
  for (size_t i = 0; i < 32; ++i) out[3 - i / 8] = (out[3 - i / 8] << 8) | in[i];
  return out;
}

std::array<uint8_t, 32> ToBigEndian(const Limbs& in) {
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < 32; ++i) out[31 - i] = static_cast<uint8_t>(in[i / 8] >> (8 * (i % 8)));
  return out;
}

// a += b; returns the carry out of the top limb.
uint64_t AddInPlace(Limbs& a, const Limbs& b) {
  unsigned __int128 carry = 0;
  for (size_t i = 0; i < 4; ++i) {
    carry += static_cast<unsigned __int128>(a[i]) + b[i];
    a[i] = static_cast<uint64_t>(carry);
    carry >>= 64;
  }
  return static_cast<uint64_t>(carry);
}

// a -= b; returns 1 if it borrowed (a was below b).
uint64_t SubInPlace(Limbs& a, const Limbs& b) {
  uint64_t borrow = 0;
  for (size_t i = 0; i < 4; ++i) {
    uint64_t d = a[i] - b[i];
    uint64_t next = (a[i] < b[i]) | (d < borrow);
    a[i] = d - borrow;
    borrow = next;
  }
  return borrow;
}

// a = (top_bit·2^256 + a) / 2.
void ShiftRight1(Limbs& a, uint64_t top_bit) {
  for (size_t i = 0; i < 3; ++i) a[i] = (a[i] >> 1) | (a[i + 1] << 63);
  a[3] = (a[3] >> 1) | (top_bit << 63);
}

int Compare(const Limbs& a, const Limbs& b) {
  for (size_t i = 4; i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

bool IsOne(const Limbs& a) { return a[0] == 1 && (a[1] | a[2] | a[3]) == 0; }

// The standard P-256 group (its generator G has OpenSSL's built-in fixed-base table), n and h.
// Built once and never freed: verifiers in static storage may outlive any owner we could name.
struct Curve {
  EC_GROUP* group = nullptr;
  BIGNUM* order = nullptr;
  BIGNUM* cofactor = nullptr;
};

const Curve& P256() {
  static const Curve* curve = [] {
    auto* c = new Curve;
    c->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    CHECK(c->group != nullptr);
    c->order = BN_dup(EC_GROUP_get0_order(c->group));
    c->cofactor = BN_dup(EC_GROUP_get0_cofactor(c->group));
    CHECK(c->order != nullptr && c->cofactor != nullptr);
    return c;
  }();
  return *curve;
}

// BN_CTX is not thread-safe and costs allocations to set up, so each thread keeps one.
BN_CTX* ThreadBnCtx() {
  thread_local BnCtxPtr ctx(BN_CTX_new());
  return ctx.get();
}

std::atomic<size_t> g_tables_in_use{0};

bool ClaimTableBudget() {
  size_t n = g_tables_in_use.load(std::memory_order_relaxed);
  while (n < P256Verifier::kMaxTables)
    if (g_tables_in_use.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  return false;
}

}  // namespace

// Binary extended Euclid (HAC Algorithm 14.61 for an odd modulus), variable time: s is public.
// Keeps x1·a ≡ u and x2·a ≡ v (mod n) while driving u or v to gcd(a, n) = 1 (n is prime).
// OpenSSL's BN_mod_inverse does the same in generic BIGNUM code at about five times the cost.
std::optional<std::array<uint8_t, 32>> InvertModP256Order(const std::array<uint8_t, 32>& a) {
  static const Limbs n = [] {
    std::array<uint8_t, 32> bytes{};
    CHECK(BN_bn2binpad(EC_GROUP_get0_order(P256().group), bytes.data(), 32) == 32);
    return FromBigEndian(bytes);
  }();
  Limbs u = FromBigEndian(a);
  if ((u[0] | u[1] | u[2] | u[3]) == 0 || Compare(u, n) >= 0) return std::nullopt;
  Limbs v = n, x1 = {1, 0, 0, 0}, x2 = {0, 0, 0, 0};
  auto halve_mod_n = [&](Limbs& x) { ShiftRight1(x, (x[0] & 1) ? AddInPlace(x, n) : 0); };
  auto sub_mod_n = [&](Limbs& x, const Limbs& y) {
    if (SubInPlace(x, y)) AddInPlace(x, n);
  };
  while (!IsOne(u) && !IsOne(v)) {
    while ((u[0] & 1) == 0) ShiftRight1(u, 0), halve_mod_n(x1);
    while ((v[0] & 1) == 0) ShiftRight1(v, 0), halve_mod_n(x2);
    if (Compare(u, v) >= 0) {
      SubInPlace(u, v);
      sub_mod_n(x1, x2);
    } else {
      SubInPlace(v, u);
      sub_mod_n(x2, x1);
    }
  }
  return ToBigEndian(IsOne(u) ? x1 : x2);
}

struct P256Verifier::Point {
  EcPointPtr p;
};

// A copy of the P-256 group whose generator is Q, with OpenSSL's precomputed multiples of it
// (EC_GROUP_precompute_mult), so EC_POINT_mul(group, R, u2, ...) is a fixed-base multiplication.
struct P256Verifier::Table {
  EcGroupPtr group;
};

std::optional<P256Signature> ParseDerP256Signature(ByteView der) {
  // SEQUENCE with a short-form length. Every encoding OpenSSL accepts as a P-256 signature with
  // r, s < 2^256 is at most 72 bytes; longer content holds an integer ≥ 2^256 (rejected as ≥ n),
  // and a long-form length under 128 is not DER (OpenSSL re-encodes and compares, so rejects it).
  if (der.size() < 2 || der[0] != 0x30 || der[1] >= 0x80 || der[1] != der.size() - 2)
    return std::nullopt;
  P256Signature sig;
  size_t pos = 2;
  for (auto* out : {&sig.r, &sig.s}) {
    if (der.size() - pos < 2 || der[pos] != 0x02) return std::nullopt;
    size_t len = der[pos + 1];
    pos += 2;
    // Zero length and long form (inside a SEQUENCE under 128 bytes) are not DER.
    if (len == 0 || len >= 0x80 || der.size() - pos < len) return std::nullopt;
    const uint8_t* p = der.data() + pos;
    pos += len;
    if (p[0] & 0x80) return std::nullopt;                           // negative
    if (len > 1 && p[0] == 0 && !(p[1] & 0x80)) return std::nullopt;  // not minimal
    if (len > 1 && p[0] == 0) ++p, --len;                            // the sign octet
    if (len > 32) return std::nullopt;                               // ≥ 2^256
    std::memcpy(out->data() + 32 - len, p, len);
  }
  if (pos != der.size()) return std::nullopt;
  return sig;
}

std::optional<P256Signature> ParseRawP256Signature(ByteView raw) {
  if (raw.size() != 64) return std::nullopt;
  P256Signature sig;
  std::memcpy(sig.r.data(), raw.data(), 32);
  std::memcpy(sig.s.data(), raw.data() + 32, 32);
  return sig;
}

Result<std::unique_ptr<P256Verifier>> P256Verifier::Create(const PublicKey& key,
                                                          VerifyTablePolicy policy) {
  if (key.Family() != KeyFamily::kEcdsa) return Fail(ErrorCode::kUnsupported, "not an ECDSA key");
  // Read-only parameter queries (the key is shared): a named P-256 group and the affine point.
  // Keys with explicit parameters have no group name and keep the EVP path.
  char group[32] = {0};
  size_t group_len = 0;
  BIGNUM* x_raw = nullptr;
  BIGNUM* y_raw = nullptr;
  bool named = EVP_PKEY_get_utf8_string_param(key.evp(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                              sizeof group, &group_len) == 1 &&
               std::string_view(group, group_len) == "prime256v1";
  bool have_point = named && EVP_PKEY_get_bn_param(key.evp(), OSSL_PKEY_PARAM_EC_PUB_X, &x_raw) == 1 &&
                    EVP_PKEY_get_bn_param(key.evp(), OSSL_PKEY_PARAM_EC_PUB_Y, &y_raw) == 1;
  BignumPtr x(x_raw), y(y_raw);
  if (!have_point) {
    ClearOpenSslErrors();
    return Fail(ErrorCode::kUnsupported, "not a named-curve P-256 key");
  }
  const Curve& c = P256();
  BN_CTX* ctx = ThreadBnCtx();
  if (ctx == nullptr) return Fail(OpenSslError("BN_CTX_new"));
  EcPointPtr q(EC_POINT_new(c.group));
  // Checks that Q is on the curve; with cofactor 1 that puts it in the group of order n.
  if (!q || EC_POINT_set_affine_coordinates(c.group, q.get(), x.get(), y.get(), ctx) != 1)
    return Fail(OpenSslError("P-256 public key is not a curve point"));
  std::unique_ptr<P256Verifier> v(new P256Verifier);
  v->q_ = std::make_unique<Point>(Point{std::move(q)});
  v->policy_ = policy;
  // Over budget (or failed), kNow falls back to what kAfterRepeatedUse does.
  if (policy == VerifyTablePolicy::kNow) v->BuildTable();
  return v;
}

P256Verifier::~P256Verifier() {
  if (const Table* t = table_.load(std::memory_order_acquire)) {
    delete t;
    g_tables_in_use.fetch_sub(1, std::memory_order_relaxed);
  }
}

size_t P256Verifier::TablesInUse() { return g_tables_in_use.load(std::memory_order_relaxed); }

// EC_GROUP_precompute_mult is deprecated in OpenSSL 3.0 but still the only interface to its
// fixed-base tables for a generator other than the standard one.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
bool P256Verifier::BuildTable() const {
  const Curve& c = P256();
  auto table = std::make_unique<Table>();  // before the claim: a bad_alloc must not leak a slot
  if (!ClaimTableBudget()) return false;
  table->group.reset(EC_GROUP_dup(c.group));
  if (!table->group ||
      EC_GROUP_set_generator(table->group.get(), q_->p.get(), c.order, c.cofactor) != 1 ||
      EC_GROUP_precompute_mult(table->group.get(), ThreadBnCtx()) != 1) {
    ClearOpenSslErrors();
    g_tables_in_use.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  table_.store(table.release(), std::memory_order_release);
  return true;
}
#pragma GCC diagnostic pop

void P256Verifier::MaybeBuildTable() const {
  if (policy_ == VerifyTablePolicy::kNever) return;
  if (uses_.fetch_add(1, std::memory_order_relaxed) + 1 < kTableAfterUses) return;
  if (table_claimed_.load(std::memory_order_relaxed) ||
      table_claimed_.exchange(true, std::memory_order_relaxed))
    return;
  // Over budget: let a later verification try again, once another verifier has freed a table.
  if (!BuildTable()) {
    uses_.store(0, std::memory_order_relaxed);
    table_claimed_.store(false, std::memory_order_relaxed);
  }
}

bool P256Verifier::Verify(ByteView digest, const P256Signature& sig) const {
  const Curve& c = P256();
  BN_CTX* ctx = ThreadBnCtx();
  if (ctx == nullptr) return false;
  const Table* table = table_.load(std::memory_order_acquire);

  BN_CTX_start(ctx);
  BIGNUM* r = BN_CTX_get(ctx);
  BIGNUM* s = BN_CTX_get(ctx);
  BIGNUM* e = BN_CTX_get(ctx);
  BIGNUM* w = BN_CTX_get(ctx);
  BIGNUM* u1 = BN_CTX_get(ctx);
  BIGNUM* u2 = BN_CTX_get(ctx);
  BIGNUM* x = BN_CTX_get(ctx);
  EcPointPtr point(EC_POINT_new(c.group));
  EcPointPtr point2(table ? EC_POINT_new(c.group) : nullptr);
  bool ok = [&] {
    if (x == nullptr || !point || (table && !point2)) return false;
    if (!BN_bin2bn(sig.r.data(), 32, r) || !BN_bin2bn(sig.s.data(), 32, s)) return false;
    // SEC1 §4.1.4 step 1: "If r and s are not both integers in the interval [1, n − 1], output
    // 'invalid' and stop."
    if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, c.order) >= 0 || BN_cmp(s, c.order) >= 0)
      return false;
    // Steps 2–3 (FIPS 186-5 §6.4.2 step 3): e is the leftmost 256 bits (= bytes) of the hash.
    size_t e_len = std::min<size_t>(digest.size(), 32);
    if (!BN_bin2bn(digest.data(), static_cast<int>(e_len), e)) return false;
    // Step 4: u1 = e·s⁻¹, u2 = r·s⁻¹ mod n. e may exceed n; BN_mod_mul reduces.
    auto s_inverse = InvertModP256Order(sig.s);
    if (!s_inverse || !BN_bin2bn(s_inverse->data(), 32, w) || !BN_mod_mul(u1, e, w, c.order, ctx) ||
        !BN_mod_mul(u2, r, w, c.order, ctx))
      return false;
    // Step 5: R = u1·G + u2·Q. Both scalars are reduced below n, which keeps OpenSSL's
    // fixed-base comb clear of its exceptional (doubling) cases.
    if (table) {
      if (EC_POINT_mul(c.group, point.get(), u1, nullptr, nullptr, ctx) != 1 ||
          EC_POINT_mul(table->group.get(), point2.get(), u2, nullptr, nullptr, ctx) != 1 ||
          EC_POINT_add(c.group, point.get(), point.get(), point2.get(), ctx) != 1)
        return false;
    } else if (EC_POINT_mul(c.group, point.get(), u1, q_->p.get(), u2, ctx) != 1) {
      return false;
    }
    // Step 6: "If R = O, output 'invalid' and stop."
    if (EC_POINT_is_at_infinity(c.group, point.get())) return false;
    // Steps 7–8: v = x_R mod n; valid iff v = r. x_R < p < 2n, so one subtraction reduces it.
    if (EC_POINT_get_affine_coordinates(c.group, point.get(), x, nullptr, ctx) != 1) return false;
    if (BN_cmp(x, c.order) >= 0 && !BN_sub(x, x, c.order)) return false;
    return BN_cmp(x, r) == 0;
  }();
  BN_CTX_end(ctx);
  if (!ok) ClearOpenSslErrors();
  // Only verifications that succeed count towards the table: anyone can send garbage signatures
  // under another ACME account's kid, and must not be able to spend the process's table budget
  // (or 30-80 ms of a request thread) on keys they cannot sign with.
  if (ok && table == nullptr) MaybeBuildTable();
  return ok;
}

}  // namespace autoseal::crypto::internal
