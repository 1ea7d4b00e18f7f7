#include "tsa/serial.h"

#include <gtest/gtest.h>

#include <set>

#include "store/sqlite.h"
#include "test_pki.h"

namespace autoseal::tsa {
namespace {

TEST(EpochSerialSourceTest, InstancesSharingAStoreAndRestartsNeverRepeatASerial) {
  std::string path = testing::TempDir("serial") + "/tsa.db";
  std::set<std::string> seen;
  std::set<int64_t> epochs;
  auto a_db = *store::OpenSqlite(path, TsaMigrations());
  auto b_db = *store::OpenSqlite(path, TsaMigrations());  // a second instance, same store
  auto a = *EpochSerialSource::Create(*a_db);
  auto b = *EpochSerialSource::Create(*b_db);
  epochs.insert({a->epoch(), b->epoch()});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(seen.insert(HexEncode(a->Next())).second);
    EXPECT_TRUE(seen.insert(HexEncode(b->Next())).second);
  }
  a.reset();
  a_db.reset();
  // Restart: reopen and reserve again.
  auto c_db = *store::OpenSqlite(path, TsaMigrations());
  auto c = *EpochSerialSource::Create(*c_db);
  EXPECT_TRUE(epochs.insert(c->epoch()).second);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(HexEncode(c->Next())).second);
  EXPECT_EQ(epochs.size(), 3u);
}

TEST(EpochSerialSourceTest, SerialsArePositiveMinimalIntegers) {
  EpochSerialSource s(0x80);  // top bit of the first octet set: needs a 0x00 sign octet
  Bytes first = s.Next();
  EXPECT_EQ(first.size(), 10u);  // 00 80 ‖ 8 counter octets
  EXPECT_EQ(first[0], 0x00);
  EXPECT_EQ(first[1], 0x80);
}

}  // namespace
}  // namespace autoseal::tsa
