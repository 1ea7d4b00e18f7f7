#include "store/sqlite.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <future>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "core/file.h"
#include "store/sqlite_testing.h"

namespace autoseal::store {
namespace {

constexpr Migration kSchemaV1[] = {
    {1, "CREATE TABLE certs (id INTEGER PRIMARY KEY, serial TEXT NOT NULL UNIQUE, der BLOB);"},
};

// Version 2 inserts a row, so running it twice would be visible.
constexpr Migration kSchemaV2[] = {
    kSchemaV1[0],
    {2,
     "CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT NOT NULL);\n"
     "INSERT INTO events (what) VALUES ('schema v2');"},
};

constexpr Migration kSchemaV3[] = {
    kSchemaV2[0],
    kSchemaV2[1],
    {3,
     "-- revocations refer to certificates\n"
     "CREATE TABLE revocations (cert_id INTEGER NOT NULL REFERENCES certs(id), "
     "reason INTEGER);\n"
     "INSERT INTO events (what) VALUES ('schema v3');"},
};

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("autoseal-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
            std::to_string(std::random_device()()));
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(MakeDirectories(dir_.string()).has_value());
    path_ = (dir_ / "test.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Database> Open(std::span<const Migration> migrations) {
    auto db = OpenSqlite(path_, migrations);
    EXPECT_TRUE(db.has_value()) << db.error().message();
    return db.has_value() ? std::move(*db) : nullptr;
  }

  static int64_t Count(Database& db, std::string_view table) {
    auto row = db.QueryRow("SELECT COUNT(*) FROM " + std::string(table));
    EXPECT_TRUE(row.has_value()) << row.error().message();
    if (!row.has_value() || !row->has_value()) return -1;
    return (*row)->Int(0).value_or(-1);
  }

  static int64_t UserVersion(Database& db) {
    auto row = db.QueryRow("PRAGMA user_version");
    if (!row.has_value() || !row->has_value()) return -1;
    return (*row)->Int(0).value_or(-1);
  }

  // Reopens the database (its previous Database must be gone) and expects the serials in
  // present to be in certs and those in absent not: what was durable.
  void ExpectDurable(std::span<const Migration> migrations,
                     std::initializer_list<std::string_view> present,
                     std::initializer_list<std::string_view> absent) {
    auto db = Open(migrations);
    ASSERT_NE(db, nullptr);
    for (std::string_view serial : present) {
      auto row = db->QueryRow("SELECT 1 FROM certs WHERE serial = ?", {std::string(serial)});
      EXPECT_TRUE(row.has_value() && row->has_value()) << serial << " is not durable";
    }
    for (std::string_view serial : absent) {
      auto row = db->QueryRow("SELECT 1 FROM certs WHERE serial = ?", {std::string(serial)});
      EXPECT_TRUE(row.has_value() && !row->has_value()) << serial << " is durable";
    }
  }

  std::filesystem::path dir_;
  std::string path_;
};

// Runs fn on a thread of its own and returns whether it returned within a minute. This only turns
// a hang into a failure (a normal run takes milliseconds); it asserts nothing about timing. On a
// hang the thread is left running, so fn must own (share) everything it uses.
bool ReturnsWithinAMinute(std::function<void()> fn) {
  auto finished = std::make_shared<std::promise<void>>();
  std::future<void> future = finished->get_future();
  std::thread thread([fn = std::move(fn), finished] {
    fn();
    finished->set_value();
  });
  if (future.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    thread.detach();
    return false;
  }
  thread.join();
  return true;
}

// Runs the transactions fns as one group commit, each called from its own thread: a first
// transaction holds the writer until all of them wait behind it. Returns their statuses (a
// transaction that threw fails with the exception's message), or nothing if they had not all
// returned within a minute.
std::optional<std::vector<Status>> RunAsOneGroup(
    std::shared_ptr<Database> db, std::vector<std::function<Status(Database&)>> fns) {
  struct Shared {
    std::promise<void> holding, release;
    std::vector<Status> statuses;
  };
  auto shared = std::make_shared<Shared>();
  shared->statuses.resize(fns.size(), Ok());
  const size_t n = fns.size();
  bool returned = ReturnsWithinAMinute([db, shared, fns = std::move(fns), n] {
    std::thread holder([&] {
      static_cast<void>(db->Transaction([&](Database&) -> Status {
        shared->holding.set_value();
        shared->release.get_future().wait();
        return Ok();
      }));
    });
    shared->holding.get_future().wait();
    std::vector<std::thread> members;
    for (size_t i = 0; i < n; ++i) {
      members.emplace_back([&, i] {
        try {
          shared->statuses[i] = db->Transaction(fns[i]);
        } catch (const std::exception& e) {
          shared->statuses[i] = Fail(ErrorCode::kInternal, std::string("threw: ") + e.what());
        }
      });
    }
    while (QueuedTransactionsForTesting(*db) < n)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    shared->release.set_value();
    holder.join();
    for (auto& member : members) member.join();
  });
  if (!returned) return std::nullopt;
  return shared->statuses;
}

// Returns a PRAGMA's value on the writer connection (a transaction function runs there; a
// plain Query goes to a reader), or -1.
int64_t WriterPragma(Database& db, const std::string& pragma) {
  int64_t value = -1;
  Status read = db.Transaction([&](Database& tx) -> Status {
    auto row = TRY(tx.QueryRow("PRAGMA " + pragma));
    if (row) value = row->Int(0).value_or(-1);
    return Ok();
  });
  EXPECT_TRUE(read.has_value()) << read.error().message();
  return value;
}

Status Insert(Database& tx, const std::string& serial) {
  return tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial});
}

TEST_F(SqliteTest, MigrationsRunOnceAcrossReopens) {
  {
    auto db = Open(kSchemaV2);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(UserVersion(*db), 2);
    EXPECT_EQ(Count(*db, "events"), 1);
  }
  {
    auto db = Open(kSchemaV2);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(UserVersion(*db), 2);
    EXPECT_EQ(Count(*db, "events"), 1);  // version 2 did not run again
  }
  {
    auto db = Open(kSchemaV3);  // an upgrade runs only the new step
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(UserVersion(*db), 3);
    auto rows = db->Query("SELECT what FROM events ORDER BY id");
    ASSERT_TRUE(rows.has_value()) << rows.error().message();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ(*(*rows)[0].Text(0), "schema v2");
    EXPECT_EQ(*(*rows)[1].Text("what"), "schema v3");
  }
}

TEST_F(SqliteTest, NewerSchemaIsRefusedAndLeftUntouched) {
  ASSERT_NE(Open(kSchemaV3), nullptr);
  auto old_code = OpenSqlite(path_, kSchemaV2);
  ASSERT_FALSE(old_code.has_value());
  EXPECT_EQ(old_code.error().code(), ErrorCode::kDatabase);
  const std::string& message = old_code.error().message();
  EXPECT_NE(message.find("schema version 3"), std::string::npos) << message;
  EXPECT_NE(message.find("newer"), std::string::npos) << message;
  EXPECT_NE(message.find(path_), std::string::npos) << message;

  auto db = Open(kSchemaV3);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(UserVersion(*db), 3);
  EXPECT_EQ(Count(*db, "events"), 2);
}

TEST_F(SqliteTest, FailedMigrationLeavesThePreviousSchema) {
  ASSERT_NE(Open(kSchemaV1), nullptr);
  const Migration broken[] = {
      kSchemaV1[0],
      {2, "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"},
  };
  auto failed = OpenSqlite(path_, broken);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(failed.error().message().find("migration 2"), std::string::npos)
      << failed.error().message();
  EXPECT_NE(failed.error().message().find("no_such_table"), std::string::npos)
      << failed.error().message();

  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(UserVersion(*db), 1);
  EXPECT_FALSE(db->Query("SELECT * FROM half").has_value());  // its first statement was undone
}

TEST_F(SqliteTest, MalformedMigrationListIsRejected) {
  const Migration out_of_order[] = {{2, "SELECT 1;"}, {1, "SELECT 1;"}};
  auto db = OpenSqlite(path_, out_of_order);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kInvalidArgument);
  const Migration zero[] = {{0, "SELECT 1;"}};
  EXPECT_FALSE(OpenSqlite(path_, zero).has_value());
}

TEST_F(SqliteTest, TransactionErrorRollsBackEveryWrite) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  Status status = db->Transaction([](Database& tx) -> Status {
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {"01"}));
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {"02"}));
    return Fail(ErrorCode::kPolicy, "refused after writing");
  });
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kPolicy);  // fn's own error comes back
  EXPECT_EQ(status.error().message(), "refused after writing");
  EXPECT_EQ(Count(*db, "certs"), 0);

  // A failing statement inside the transaction rolls back the earlier ones too.
  status = db->Transaction([](Database& tx) -> Status {
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {"03"}));
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {"03"}));
    return Ok();
  });
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Count(*db, "certs"), 0);

  // The connection is usable afterwards and a successful transaction commits.
  ASSERT_TRUE(db->Transaction([](Database& tx) -> Status {
                  return tx.Execute("INSERT INTO certs (serial) VALUES (?)", {"04"});
                }).has_value());
  EXPECT_EQ(Count(*db, "certs"), 1);
}

TEST_F(SqliteTest, NestedTransactionRollsBackOnlyItsOwnWrites) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  Status status = db->Transaction([](Database& tx) -> Status {
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES ('outer')"));
    Status inner = tx.Transaction([](Database& inner_tx) -> Status {
      TRY(inner_tx.Execute("INSERT INTO certs (serial) VALUES ('inner')"));
      return Fail(ErrorCode::kPolicy, "inner refused");
    });
    if (inner.has_value()) return Fail(ErrorCode::kInternal, "inner should have failed");
    return tx.Transaction([](Database& inner_tx) -> Status {
      return inner_tx.Execute("INSERT INTO certs (serial) VALUES ('inner2')");
    });
  });
  ASSERT_TRUE(status.has_value()) << status.error().message();
  auto rows = db->Query("SELECT serial FROM certs ORDER BY id");
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(*(*rows)[0].Text(0), "outer");
  EXPECT_EQ(*(*rows)[1].Text(0), "inner2");
}

TEST_F(SqliteTest, UniqueViolationIsAlreadyExists) {
  auto db = Open(kSchemaV3);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("INSERT INTO certs (id, serial) VALUES (1, 'aa')").has_value());

  auto dup_unique = db->Execute("INSERT INTO certs (id, serial) VALUES (2, 'aa')");
  ASSERT_FALSE(dup_unique.has_value());
  EXPECT_EQ(dup_unique.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(dup_unique.error().message().find("UNIQUE constraint failed: certs.serial"),
            std::string::npos)
      << dup_unique.error().message();

  auto dup_key = db->Execute("INSERT INTO certs (id, serial) VALUES (1, 'bb')");
  ASSERT_FALSE(dup_key.has_value());
  EXPECT_EQ(dup_key.error().code(), ErrorCode::kAlreadyExists);

  // Other constraint failures are not duplicates.
  auto not_null = db->Execute("INSERT INTO certs (id, serial) VALUES (3, NULL)");
  ASSERT_FALSE(not_null.has_value());
  EXPECT_EQ(not_null.error().code(), ErrorCode::kDatabase);
  // Foreign keys are enforced.
  auto dangling = db->Execute("INSERT INTO revocations (cert_id) VALUES (99)");
  ASSERT_FALSE(dangling.has_value());
  EXPECT_EQ(dangling.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(dangling.error().message().find("FOREIGN KEY"), std::string::npos)
      << dangling.error().message();
}

TEST_F(SqliteTest, BlobsTextNullsAndNumbersRoundTrip) {
  auto db = Open({});
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("CREATE TABLE v (k INTEGER PRIMARY KEY, x)").has_value());
  Bytes all_bytes(256);
  for (size_t i = 0; i < all_bytes.size(); ++i) all_bytes[i] = static_cast<uint8_t>(i);
  const std::string with_nul("a\0b", 3);
  const std::vector<Value> values = {Value(all_bytes), Value(Bytes{}),
                                     Value(""),        Value(with_nul),
                                     Value(nullptr),   Value(INT64_MIN),
                                     Value(INT64_MAX), Value(-0.25),
                                     Value("héllo ✓"), Value(std::optional<std::string>())};
  for (size_t i = 0; i < values.size(); ++i) {
    auto status =
        db->Execute("INSERT INTO v (k, x) VALUES (?, ?)", {static_cast<int64_t>(i), values[i]});
    ASSERT_TRUE(status.has_value()) << status.error().message();
  }
  auto rows = db->Query("SELECT x, typeof(x) AS t FROM v ORDER BY k");
  ASSERT_TRUE(rows.has_value()) << rows.error().message();
  ASSERT_EQ(rows->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ((*rows)[i][0], values[i]) << "row " << i << " stored as " << *(*rows)[i].Text("t");
  }
  // An empty blob stays a blob, not NULL; an empty string stays text.
  EXPECT_EQ(*(*rows)[1].Text("t"), "blob");
  EXPECT_EQ(*(*rows)[2].Text("t"), "text");
  EXPECT_EQ(*(*rows)[4].Text("t"), "null");
  EXPECT_EQ(*(*rows)[0].Blob("x"), all_bytes);
  EXPECT_EQ(*(*rows)[4].NullableBlob("x"), std::nullopt);
  // A blob read as text is a type error, not a silent conversion.
  EXPECT_FALSE((*rows)[0].Text("x").has_value());
  // Parameters compare as stored.
  auto found = db->QueryRow("SELECT k FROM v WHERE x = ?", {all_bytes});
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ(*(*found)->Int(0), 0);
}

TEST_F(SqliteTest, ChangesReturningAndMissingRows) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  auto inserted = db->QueryRow("INSERT INTO certs (serial) VALUES (?) RETURNING id", {"01"});
  ASSERT_TRUE(inserted.has_value()) << inserted.error().message();
  ASSERT_TRUE(inserted->has_value());
  const int64_t id = *(*inserted)->Int("id");
  EXPECT_GT(id, 0);
  ASSERT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES ('02')").has_value());

  auto changed = db->ExecuteChanges("UPDATE certs SET der = ? WHERE der IS NULL", {Bytes{1}});
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, 2);
  // Compare-and-set: the second identical update finds nothing to change.
  changed = db->ExecuteChanges("UPDATE certs SET der = ? WHERE der IS NULL", {Bytes{1}});
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(*changed, 0);
  EXPECT_EQ(*db->ExecuteChanges("SELECT * FROM certs"), 0);

  auto none = db->QueryRow("SELECT id FROM certs WHERE serial = ?", {"ff"});
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  auto by_id = db->QueryRow("SELECT serial FROM certs WHERE id = ?", {id});
  ASSERT_TRUE(by_id.has_value() && by_id->has_value());
  EXPECT_EQ(*(*by_id)->Text(0), "01");
}

TEST_F(SqliteTest, MisuseIsReportedNotExecuted) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  auto two = db->Execute("INSERT INTO certs (serial) VALUES ('a'); DELETE FROM certs");
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Count(*db, "certs"), 0);

  auto params = db->Execute("INSERT INTO certs (serial, der) VALUES (?, ?)", {"a"});
  ASSERT_FALSE(params.has_value());
  EXPECT_EQ(params.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(params.error().message().find("takes 2 parameters, given 1"), std::string::npos)
      << params.error().message();

  auto syntax = db->Query("SELEC 1");
  ASSERT_FALSE(syntax.has_value());
  EXPECT_EQ(syntax.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(syntax.error().message().find("syntax error"), std::string::npos);

  // Double-quoted strings are identifiers, as in PostgreSQL, not string literals.
  EXPECT_FALSE(db->Query("SELECT \"not a column\"").has_value());

  // A trailing comment or semicolon is not a second statement.
  EXPECT_TRUE(db->Query("SELECT 1; -- done").has_value());
}

TEST_F(SqliteTest, DurableSettingsAreOn) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  auto journal = db->QueryRow("PRAGMA journal_mode");
  ASSERT_TRUE(journal.has_value() && journal->has_value());
  EXPECT_EQ(*(*journal)->Text(0), "wal");
  auto sync = db->QueryRow("PRAGMA synchronous");
  ASSERT_TRUE(sync.has_value() && sync->has_value());
  EXPECT_EQ(*(*sync)->Int(0), 2);  // FULL
  auto fk = db->QueryRow("PRAGMA foreign_keys");
  ASSERT_TRUE(fk.has_value() && fk->has_value());
  EXPECT_EQ(*(*fk)->Int(0), 1);
  auto busy = db->QueryRow("PRAGMA busy_timeout");
  ASSERT_TRUE(busy.has_value() && busy->has_value());
  EXPECT_GE(*(*busy)->Int(0), 1000);
}

TEST_F(SqliteTest, FilesAreCreatedOwnerOnly) {
  ::mode_t old_umask = ::umask(022);
  auto db = Open(kSchemaV1);
  ::umask(old_umask);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES ('01')").has_value());
  for (const std::string& file : {path_, path_ + "-wal", path_ + "-shm"}) {
    struct stat st;
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
}

TEST_F(SqliteTest, DataSurvivesCloseAndReopen) {
  const Bytes der = {0x30, 0x03, 0x02, 0x01, 0x00};
  {
    auto db = Open(kSchemaV1);
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Execute("INSERT INTO certs (serial, der) VALUES (?, ?)", {"0a", der}).has_value());
    ASSERT_TRUE(
        db->Transaction([&](Database& tx) -> Status {
            return tx.Execute("INSERT INTO certs (serial, der) VALUES (?, ?)", {"0b", nullptr});
          }).has_value());
  }
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  auto rows = db->Query("SELECT serial, der FROM certs ORDER BY serial");
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(*(*rows)[0].Text("serial"), "0a");
  EXPECT_EQ(*(*rows)[0].Blob("der"), der);
  EXPECT_EQ(*(*rows)[1].Text("serial"), "0b");
  EXPECT_TRUE(*(*rows)[1].IsNull("der"));
}

TEST_F(SqliteTest, ConcurrentWritersAllLand) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string serial = std::to_string(t) + ":" + std::to_string(i);
        Status status =
            (i % 2 == 0) ? db->Execute("INSERT INTO certs (serial) VALUES (?)", {serial})
                         : db->Transaction([&](Database& tx) -> Status {
                             return tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial});
                           });
        if (!status.has_value()) ++failures;
        if (!db->Query("SELECT COUNT(*) FROM certs").has_value()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(*db, "certs"), kThreads * kPerThread);
}

// Concurrent transactions may share one commit (group commit); each still succeeds or fails on
// its own: a failing one leaves nothing behind and does not take the others down with it.
TEST_F(SqliteTest, ConcurrentTransactionsSucceedOrFailIndependently) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 30;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string serial = std::to_string(t) + ":" + std::to_string(i);
        const bool fail = i % 3 == 0;
        Status status = db->Transaction([&](Database& tx) -> Status {
          TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial}));
          TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial + "+"}));
          if (fail) return Fail(ErrorCode::kInvalidArgument, "refused");
          return Ok();
        });
        if (status.has_value() == fail) ++unexpected;
        if (!fail) continue;
        // A duplicate key fails in the middle of a transaction, after a successful insert.
        Status duplicate = db->Transaction([&](Database& tx) -> Status {
          TRY(tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial + "#"}));
          return tx.Execute("INSERT INTO certs (serial) VALUES (?)", {serial + "#"});
        });
        if (duplicate.has_value() || duplicate.error().code() != ErrorCode::kAlreadyExists)
          ++unexpected;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  const int succeeded = kThreads * (kPerThread - (kPerThread + 2) / 3);
  EXPECT_EQ(Count(*db, "certs"), 2 * succeeded);
  auto refused = db->QueryRow("SELECT COUNT(*) FROM certs WHERE serial LIKE '%:0' OR serial LIKE '%#'");
  ASSERT_TRUE(refused.has_value() && refused->has_value());
  EXPECT_EQ(*(*refused)->Int(0), 0);
}

// Reads do not wait for a transaction in progress (WAL readers on their own connections), and
// see only what has committed.
TEST_F(SqliteTest, ReadsProceedDuringATransactionAndSeeOnlyCommittedRows) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES ('committed')").has_value());
  std::atomic<bool> read_done{false};
  int64_t seen = -1;
  Status status = db->Transaction([&](Database& tx) -> Status {
    TRY(tx.Execute("INSERT INTO certs (serial) VALUES ('uncommitted')"));
    std::thread reader([&] {
      seen = Count(*db, "certs");
      read_done = true;
    });
    // Bounded: if reads waited for the writer this would give up rather than hang.
    for (int i = 0; i < 1000 && !read_done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const bool done = read_done;
    if (!done) {
      reader.detach();
      return Fail(ErrorCode::kInternal, "the read waited for the transaction");
    }
    reader.join();
    return Ok();
  });
  ASSERT_TRUE(status.has_value()) << status.error().message();
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(Count(*db, "certs"), 2);
}

// A writing statement run through Query (INSERT ... RETURNING) commits before its rows return.
TEST_F(SqliteTest, InsertReturningThroughQueryIsDurable) {
  {
    auto db = Open(kSchemaV1);
    ASSERT_NE(db, nullptr);
    auto row = db->QueryRow("INSERT INTO certs (serial) VALUES ('r') RETURNING id");
    ASSERT_TRUE(row.has_value() && row->has_value()) << (row ? "" : row.error().message());
    EXPECT_GT(*(*row)->Int(0), 0);
  }
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Count(*db, "certs"), 1);
}

// Two connections to one file stand for two processes: BEGIN IMMEDIATE makes their
// read-modify-write transactions take turns, so no increment is lost and none fails as busy.
TEST_F(SqliteTest, WritersOnSeparateConnectionsAreSerialised) {
  const Migration counter[] = {
      {1, "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);"}};
  auto first = Open(counter);
  auto second = Open(counter);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  constexpr int kThreadsPerConnection = 3;
  constexpr int kIncrements = 30;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (Database* db : {first.get(), second.get()}) {
    for (int t = 0; t < kThreadsPerConnection; ++t) {
      threads.emplace_back([&, db] {
        for (int i = 0; i < kIncrements; ++i) {
          Status status = db->Transaction([](Database& tx) -> Status {
            auto row = TRY(tx.QueryRow("SELECT n FROM counter"));
            if (!row.has_value()) return Fail(ErrorCode::kNotFound, "no counter");
            const int64_t n = TRY(row->Int(0));
            return tx.Execute("UPDATE counter SET n = ?", {n + 1});
          });
          if (!status.has_value()) {
            ADD_FAILURE() << status.error().message();
            ++failures;
          }
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto row = first->QueryRow("SELECT n FROM counter");
  ASSERT_TRUE(row.has_value() && row->has_value());
  EXPECT_EQ(*(*row)->Int(0), 2 * kThreadsPerConnection * kIncrements);
}

TEST_F(SqliteTest, MissingDirectoryErrorNamesThePath) {
  const std::string missing = (dir_ / "no" / "such" / "dir").string();
  auto db = OpenSqlite(missing + "/ca.db", kSchemaV1);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kIo);
  EXPECT_NE(db.error().message().find(missing), std::string::npos) << db.error().message();
  EXPECT_NE(db.error().message().find("does not exist"), std::string::npos) << db.error().message();
  EXPECT_FALSE(std::filesystem::exists(dir_ / "no"));
}

TEST_F(SqliteTest, DirectoryThatIsAFileIsRefused) {
  const std::string file = (dir_ / "plain").string();
  ASSERT_TRUE(WriteFileAtomic(file, "x").has_value());
  auto db = OpenSqlite(file + "/ca.db", kSchemaV1);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kIo);
  EXPECT_NE(db.error().message().find(file), std::string::npos) << db.error().message();
}

TEST_F(SqliteTest, UnwritableDirectoryErrorNamesThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write to any directory";
  const std::filesystem::path locked = dir_ / "locked";
  ASSERT_TRUE(MakeDirectories(locked.string()).has_value());
  std::filesystem::permissions(
      locked, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto db = OpenSqlite((locked / "ca.db").string(), kSchemaV1);
  std::filesystem::permissions(locked, std::filesystem::perms::owner_all);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kIo);
  EXPECT_NE(db.error().message().find(locked.string()), std::string::npos) << db.error().message();
  EXPECT_NE(db.error().message().find("not writable"), std::string::npos);
}

TEST_F(SqliteTest, NonDatabaseFileIsADatabaseError) {
  ASSERT_TRUE(WriteFileAtomic(path_, std::string(4096, 'x'), 0600).has_value());
  auto db = OpenSqlite(path_, kSchemaV1);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code(), ErrorCode::kDatabase);
  EXPECT_NE(db.error().message().find(path_), std::string::npos) << db.error().message();
  EXPECT_NE(db.error().message().find("not a database"), std::string::npos) << db.error().message();
}

TEST_F(SqliteTest, InMemoryDatabaseForTests) {
  auto db = OpenSqlite(":memory:", kSchemaV2);
  ASSERT_TRUE(db.has_value()) << db.error().message();
  EXPECT_EQ(Count(**db, "events"), 1);
  EXPECT_FALSE(std::filesystem::exists(":memory:"));
}

TEST_F(SqliteTest, UsingTheOuterDatabaseInsideATransactionAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  EXPECT_DEATH(static_cast<void>(db->Transaction([&](Database&) -> Status {
                 return db->Execute("INSERT INTO certs (serial) VALUES ('x')");
               })),
               "use the Database& passed to the function");
}

// An exception of the group-commit machinery itself (bad_alloc, a mutex's system_error; here
// thrown by a test seam just before COMMIT) fails the whole group and rolls it back, and does not
// leave the next callers waiting for a leader that has gone.
TEST_F(SqliteTest, ExceptionInTheGroupCommitFailsTheGroupAndLaterTransactionsComplete) {
  std::shared_ptr<Database> db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  SetBeforeGroupCommitForTesting(*db, [] { throw std::bad_alloc(); });
  auto group = RunAsOneGroup(db, {[](Database& tx) { return Insert(tx, "a"); },
                                  [](Database& tx) { return Insert(tx, "b"); }});
  ASSERT_TRUE(group.has_value()) << "a member of the failed group never returned";
  for (const Status& status : *group) {
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().code(), ErrorCode::kInternal) << status.error().message();
  }

  SetBeforeGroupCommitForTesting(*db, {});
  auto next = RunAsOneGroup(db, {[](Database& tx) { return Insert(tx, "c"); },
                                 [](Database& tx) { return Insert(tx, "d"); }});
  ASSERT_TRUE(next.has_value()) << "a transaction after the failed group never returned";
  for (const Status& status : *next) EXPECT_TRUE(status.has_value()) << status.error().message();
  bool alone = false;
  ASSERT_TRUE(ReturnsWithinAMinute([db, &alone] { alone = Insert(*db, "e").has_value(); }));
  EXPECT_TRUE(alone);

  db.reset();
  ExpectDurable(kSchemaV1, {"c", "d", "e"}, {"a", "b"});
}

// A transaction function can make its own rollback fail: RELEASE of its savepoint (named as
// RunInTransaction names it) merges its writes into the enclosing transaction, and the later
// ROLLBACK TO finds no savepoint.
Status InsertThenFailWithoutRollback(Database& tx, const std::string& serial) {
  TRY(Insert(tx, serial));
  TRY(tx.Execute("RELEASE autoseal_1"));
  return Fail(ErrorCode::kInvalidArgument, "refused");
}

// A nested transaction that fails and cannot be rolled back takes the enclosing one down with
// it, even when the enclosing function ignores the failure: its writes never become durable.
TEST_F(SqliteTest, NestedTransactionWhoseRollbackFailsFailsTheEnclosingOne) {
  {
    auto db = Open(kSchemaV1);
    ASSERT_NE(db, nullptr);
    Status inner = Ok();
    Status outer = db->Transaction([&](Database& tx) -> Status {
      TRY(Insert(tx, "outer"));
      inner = tx.Transaction(
          [](Database& nested) { return InsertThenFailWithoutRollback(nested, "inner"); });
      return Ok();  // ignores the nested failure, as a caller retrying another way would
    });
    EXPECT_FALSE(inner.has_value());
    EXPECT_FALSE(outer.has_value());
    EXPECT_TRUE(db->Transaction([](Database& tx) { return Insert(tx, "next"); }).has_value());
  }
  ExpectDurable(kSchemaV1, {"next"}, {"inner", "outer"});
}

// When one member of a group commit fails and its rollback fails too, the whole group is rolled
// back and every member fails: none of it is durable, and the next group commits normally.
TEST_F(SqliteTest, GroupMemberWhoseRollbackFailsRollsBackTheWholeGroup) {
  std::shared_ptr<Database> db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  auto group = RunAsOneGroup(
      db, {[](Database& tx) { return Insert(tx, "ok-before"); },
           [](Database& tx) { return InsertThenFailWithoutRollback(tx, "failed"); },
           [](Database& tx) { return Insert(tx, "ok-after"); }});
  ASSERT_TRUE(group.has_value()) << "a member of the group never returned";
  for (const Status& status : *group) EXPECT_FALSE(status.has_value());

  auto next = RunAsOneGroup(db, {[](Database& tx) { return Insert(tx, "next-1"); },
                                 [](Database& tx) { return Insert(tx, "next-2"); }});
  ASSERT_TRUE(next.has_value()) << "a member of the next group never returned";
  for (const Status& status : *next) EXPECT_TRUE(status.has_value()) << status.error().message();

  db.reset();
  ExpectDurable(kSchemaV1, {"next-1", "next-2"}, {"ok-before", "failed", "ok-after"});
}

// A ROLLBACK that fails and leaves the writer inside its transaction (simulated by a test seam)
// neither makes the failed transaction durable nor blocks later ones: the writer connection is
// replaced.
TEST_F(SqliteTest, FailedRollbackLeavingTheTransactionOpenDoesNotBlockLaterTransactions) {
  {
    auto db = Open(kSchemaV1);
    ASSERT_NE(db, nullptr);
    SetRollbacksFailForTesting(*db, true);
    Status failed = db->Transaction([](Database& tx) -> Status {
      TRY(Insert(tx, "failed"));
      return Fail(ErrorCode::kInvalidArgument, "refused");
    });
    EXPECT_FALSE(failed.has_value());
    SetRollbacksFailForTesting(*db, false);
    Status next = db->Transaction([](Database& tx) { return Insert(tx, "next"); });
    EXPECT_TRUE(next.has_value()) << next.error().message();
    EXPECT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES ('lone')").has_value());
    // The replacement writer keeps the durable settings.
    EXPECT_EQ(WriterPragma(*db, "synchronous"), 2);  // FULL
    EXPECT_EQ(WriterPragma(*db, "foreign_keys"), 1);
  }
  ExpectDurable(kSchemaV1, {"next", "lone"}, {"failed"});
}

// The same after a group's COMMIT fails (a deferred foreign key that one member leaves dangling)
// and the ROLLBACK that follows fails too.
TEST_F(SqliteTest, FailedRollbackAfterAFailedGroupCommitDoesNotBlockLaterTransactions) {
  const Migration deferred[] = {
      kSchemaV1[0],
      {2, "CREATE TABLE notes (cert_id INTEGER NOT NULL REFERENCES certs(id) "
          "DEFERRABLE INITIALLY DEFERRED);"}};
  {
    std::shared_ptr<Database> db = Open(deferred);
    ASSERT_NE(db, nullptr);
    SetRollbacksFailForTesting(*db, true);
    auto group = RunAsOneGroup(
        db, {[](Database& tx) { return Insert(tx, "ok"); },
             [](Database& tx) { return tx.Execute("INSERT INTO notes (cert_id) VALUES (999)"); }});
    ASSERT_TRUE(group.has_value()) << "a member of the group never returned";
    for (const Status& status : *group) EXPECT_FALSE(status.has_value());
    SetRollbacksFailForTesting(*db, false);
    auto next = RunAsOneGroup(db, {[](Database& tx) { return Insert(tx, "next-1"); },
                                   [](Database& tx) { return Insert(tx, "next-2"); }});
    ASSERT_TRUE(next.has_value()) << "a member of the next group never returned";
    for (const Status& status : *next) EXPECT_TRUE(status.has_value()) << status.error().message();
  }
  ExpectDurable(deferred, {"next-1", "next-2"}, {"ok"});
  auto db = Open(deferred);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(Count(*db, "notes"), 0);
}

// The writer limits the WAL file's size, and keeps SQLite's durable setting for WAL mode.
TEST_F(SqliteTest, WriterLimitsTheWalSize) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(WriterPragma(*db, "journal_size_limit"), 16 * 1024 * 1024);
  EXPECT_EQ(WriterPragma(*db, "synchronous"), 2);  // FULL
}

// A WAL that grew while a long read kept it from being checkpointed shrinks back once the read
// ends and the WAL is checkpointed and started over (it used to keep its largest size for good).
TEST_F(SqliteTest, WalGrownDuringALongReadShrinksAfterwards) {
  auto db = Open(kSchemaV1);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES ('first')").has_value());
  // A read transaction on a connection of its own, as another process's long query would hold.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> reader(raw, &sqlite3_close);
  ASSERT_EQ(sqlite3_exec(reader.get(), "BEGIN; SELECT COUNT(*) FROM certs;", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  constexpr int kMiB = 1024 * 1024;
  for (int i = 0; i < 24; ++i) {
    ASSERT_TRUE(db->Execute("INSERT INTO certs (serial, der) VALUES (?, zeroblob(?))",
                            {"big" + std::to_string(i), int64_t{kMiB}})
                    .has_value());
  }
  const std::string wal = path_ + "-wal";
  ASSERT_GT(std::filesystem::file_size(wal), 24u * kMiB);
  ASSERT_EQ(sqlite3_exec(reader.get(), "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  // The first commit's checkpoint copies the WAL back; the second starts the WAL over.
  for (const char* serial : {"after-1", "after-2"})
    ASSERT_TRUE(db->Execute("INSERT INTO certs (serial) VALUES (?)", {serial}).has_value());
  EXPECT_LE(std::filesystem::file_size(wal), 16u * kMiB);
  EXPECT_EQ(Count(*db, "certs"), 27);
}

}  // namespace
}  // namespace autoseal::store
