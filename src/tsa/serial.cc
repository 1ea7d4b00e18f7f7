#include "tsa/serial.h"

#include <unistd.h>

#include "core/clock.h"
#include "tsa/internal/der.h"

namespace autoseal::tsa {
namespace {

constexpr store::Migration kMigrations[] = {
    {1,
     "CREATE TABLE tsa_serial_epochs ("
     "  epoch INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  started_at TEXT NOT NULL,"
     "  host TEXT NOT NULL,"
     "  pid INTEGER NOT NULL)"},
};

}  // namespace

std::span<const store::Migration> TsaMigrations() { return kMigrations; }

Result<std::unique_ptr<EpochSerialSource>> EpochSerialSource::Create(store::Database& db) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto row = TRY_CONTEXT(
      db.QueryRow("INSERT INTO tsa_serial_epochs (started_at, host, pid) VALUES (?, ?, ?) "
                  "RETURNING epoch",
                  {FormatRfc3339(SystemClock::Instance().Now()), std::string(host),
                   static_cast<int64_t>(getpid())}),
      "cannot reserve a serial number epoch");
  if (!row) return Fail(ErrorCode::kDatabase, "cannot reserve a serial number epoch: no row");
  int64_t epoch = TRY(row->Int(0));
  if (epoch <= 0) return Fail(ErrorCode::kDatabase, "serial number epoch out of range");
  return std::make_unique<EpochSerialSource>(epoch);
}

Bytes EpochSerialSource::Next() {
  uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
  uint8_t be[16];
  for (int k = 0; k < 8; ++k) {
    be[k] = static_cast<uint8_t>(static_cast<uint64_t>(epoch_) >> (56 - 8 * k));
    be[8 + k] = static_cast<uint8_t>(n >> (56 - 8 * k));
  }
  return der::UnsignedIntegerContents(ByteView(be, 16));
}

}  // namespace autoseal::tsa
