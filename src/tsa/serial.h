#pragma once

// TSTInfo serial numbers that are unique for the life of the TSA: across restarts and across
// several responder processes sharing one store (RFC 3161 §2.4.2: "Time-Stamping users MUST be
// ready to accommodate integers up to 160 bits"; the serial "MUST be unique for each TimeStampToken
// issued by a given TSA").

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "core/bytes.h"
#include "core/error.h"
#include "store/database.h"
#include "store/sqlite.h"

namespace autoseal::tsa {

// Hands out serial numbers (INTEGER contents, positive). Implementations are thread-safe.
class SerialSource {
 public:
  virtual ~SerialSource() = default;
  // Returns the next serial as DER INTEGER contents. Never repeats one.
  virtual Bytes Next() = 0;
};

// Serial = epoch (64 bits) ‖ counter (64 bits), as one positive INTEGER of at most 17 octets.
// Each process reserves a fresh epoch from the store when it starts (an AUTOINCREMENT row, so an
// epoch is never handed out twice, even by concurrent processes or after rows are deleted), then
// counts in memory with an atomic: no store round-trip per token, and a crash can lose nothing
// that matters because the next start takes a new epoch.
class EpochSerialSource final : public SerialSource {
 public:
  // Reserves an epoch in db (which must have TsaMigrations applied). kDatabase on failure.
  static Result<std::unique_ptr<EpochSerialSource>> Create(store::Database& db);
  // For tests: a source with a given epoch (no store).
  explicit EpochSerialSource(int64_t epoch) : epoch_(epoch) {}

  Bytes Next() override;
  int64_t epoch() const { return epoch_; }
  uint64_t issued() const { return counter_.load(std::memory_order_relaxed); }

 private:
  int64_t epoch_;
  std::atomic<uint64_t> counter_{0};
};

// The TSA's schema (tsa.db).
std::span<const store::Migration> TsaMigrations();

}  // namespace autoseal::tsa
