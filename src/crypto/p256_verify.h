#pragma once

// ECDSA P-256 verification for public keys that verify many times: PreparedVerifier's fast path.
// Internal to crypto/ (OpenSSL-facing); other modules use crypto/prepared.h.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/error.h"
#include "crypto/key.h"
#include "crypto/prepared.h"

namespace autoseal::crypto::internal {

// An ECDSA signature's integers as 32-byte big-endian values (each < 2^256; range against the
// group order is checked by Verify, not here).
struct P256Signature {
  std::array<uint8_t, 32> r{}, s{};
};

// Parses a DER Ecdsa-Sig-Value (SEC1 §C.5: SEQUENCE { r INTEGER, s INTEGER }). Accepts exactly
// what OpenSSL 3.0 accepts for P-256 up to its range check: minimal definite-length DER, no
// trailing bytes, non-negative integers. Returns nullopt otherwise, and for integers ≥ 2^256,
// which OpenSSL parses but then rejects as ≥ n — so the verdict is the same.
std::optional<P256Signature> ParseDerP256Signature(ByteView der);
// Splits the fixed-width r||s form (RFC 7518 §3.4: exactly 64 bytes for ES256); nullopt otherwise.
std::optional<P256Signature> ParseRawP256Signature(ByteView raw);

// s⁻¹ mod n for the P-256 group order n; nullopt unless 0 < s < n. Exposed for its tests.
std::optional<std::array<uint8_t, 32>> InvertModP256Order(const std::array<uint8_t, 32>& s);

// A P-256 public key Q prepared for SEC1 §4.1.4 verification. Thread-safe: Verify may run
// concurrently from any number of threads, including while one of them builds the table.
class P256Verifier {
 public:
  // Verifications a key makes before kAfterRepeatedUse builds its table. Building costs 30–40 ms
  // of CPU (OpenSSL makes each of the 2,368 points affine with its own inversion) and saves
  // ~50 µs per later verification, i.e. it pays back after ~800; building once a key has already
  // spent about that much (rent-or-buy) never costs more than twice the better choice in hindsight.
  static constexpr uint32_t kTableAfterUses = 1000;
  // Process-wide bound on tables alive at once: each is 37 rows of 64 affine points of 64 bytes
  // as OpenSSL's nistz256 code lays them out (154 KB of heap measured), ~38 MB in all. Later keys
  // verify without a table until a verifier holding one is destroyed.
  static constexpr size_t kMaxTables = 256;

  // kUnsupported if key is not an ECDSA P-256 key (the caller keeps its generic path).
  static Result<std::unique_ptr<P256Verifier>> Create(const PublicKey& key, VerifyTablePolicy policy);
  ~P256Verifier();
  P256Verifier(const P256Verifier&) = delete;
  P256Verifier& operator=(const P256Verifier&) = delete;

  // SEC1 §4.1.4 / FIPS 186-5 §6.4.2: true iff sig is valid for the message whose hash is digest
  // (of any length; its leftmost 256 bits are used, so P-256 with SHA-384/512 works). r and s
  // outside [1, n-1], or R at infinity, are invalid. An internal OpenSSL failure is also false.
  bool Verify(ByteView digest, const P256Signature& sig) const;

  // Whether the fixed-base table for Q is in use (for tests and the benchmark).
  bool HasTable() const { return table_.load(std::memory_order_acquire) != nullptr; }
  // Tables alive in the process.
  static size_t TablesInUse();

 private:
  struct Table;
  P256Verifier() = default;
  void MaybeBuildTable() const;
  bool BuildTable() const;

  struct Point;
  std::unique_ptr<Point> q_;
  VerifyTablePolicy policy_ = VerifyTablePolicy::kNever;
  mutable std::atomic<uint32_t> uses_{0};
  mutable std::atomic<bool> table_claimed_{false};  // one thread builds; retried kTableAfterUses later if it failed
  mutable std::atomic<const Table*> table_{nullptr};  // owned; set once, freed by the destructor
};

}  // namespace autoseal::crypto::internal
