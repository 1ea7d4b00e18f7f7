#include "store/sqlite.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store/sqlite_testing.h"

namespace autoseal::store {
namespace {

// How long a writer waits for another process's write lock before failing with "database is
// locked". Within one process our mutex already serialises writers.
constexpr int kBusyTimeoutMs = 5000;
// Services use a fixed set of statements; the bound only guards against a caller that builds SQL
// text dynamically.
constexpr size_t kMaxCachedStatements = 256;
constexpr size_t kMaxSqlExcerpt = 80;
// The WAL is checkpointed into the database once it holds this many pages (SQLite's own
// auto-checkpoint threshold, about 4 MiB with 4 KiB pages).
constexpr int kCheckpointPages = 1000;
// When a checkpoint has copied the whole WAL back and a writer starts it over, SQLite cuts the
// file down to this size. Without a limit it keeps its largest size for good (a probe saw 42 MB
// after a burst with long reads). Four checkpoints' worth: a WAL that only ever reaches the
// checkpoint threshold is never cut (no truncate-then-grow at each restart), one that a burst or a
// long reader made larger shrinks back.
constexpr int64_t kJournalSizeLimit = 16 * 1024 * 1024;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// The statement quoted for an error message: whitespace collapsed, long statements cut short.
// Parameters are never included (they may be secrets).
std::string Quote(std::string_view sql) {
  std::string out = "\"";
  bool space = false;
  for (char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = out.size() > 1;
      continue;
    }
    if (space) out += ' ';
    space = false;
    if (out.size() > kMaxSqlExcerpt) {
      out += "...";
      break;
    }
    out += c;
  }
  return out + "\"";
}

// Turns SQLite's result code and message into an Error. With extended result codes on, rc tells
// a uniqueness violation apart from other constraint failures.
Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  ErrorCode code = (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                       ? ErrorCode::kAlreadyExists
                       : ErrorCode::kDatabase;
  return Error(code, std::string(what) + ": " + (message != nullptr ? message : "unknown error"));
}

bool IsBlank(std::string_view sql) {
  return sql.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Resets a cached statement and drops its bindings when a call is done with it, so that it holds
// no read snapshot and points at no caller memory.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The one SQLite connection and its prepared-statement cache. Not thread-safe: its owner
// serialises calls.
class Connection {
 public:
  explicit Connection(SqlitePtr db) : db_(std::move(db)) {}

  // Runs one statement to completion; returns the rows it changed.
  Result<int64_t> Execute(std::string_view sql, std::span<const Value> params) {
    sqlite3_stmt* stmt = TRY(Prepare(sql));
    ResetOnExit reset(stmt);
    TRY(Bind(stmt, sql, params));
    TRY(Step(stmt, sql, nullptr, 0));
    return sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(db_.get());
  }

  // Runs one statement; returns up to max_rows of its rows.
  Result<std::vector<Row>> Query(std::string_view sql, std::span<const Value> params,
                                 size_t max_rows) {
    sqlite3_stmt* stmt = TRY(Prepare(sql));
    ResetOnExit reset(stmt);
    TRY(Bind(stmt, sql, params));
    std::vector<Row> rows;
    TRY(Step(stmt, sql, &rows, max_rows));
    return rows;
  }

  // Runs every statement in sql (no parameters, not cached); errors are prefixed with what.
  Status ExecuteScript(std::string_view sql, std::string_view what) {
    const char* next = sql.data();
    const char* end = sql.data() + sql.size();
    while (next < end) {
      sqlite3_stmt* raw = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v2(db_.get(), next, static_cast<int>(end - next), &raw, &tail);
      StatementPtr stmt(raw);
      if (rc != SQLITE_OK) return Fail(SqliteError(db_.get(), rc, what));
      if (stmt == nullptr) break;  // only whitespace or comments remain
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) return Fail(SqliteError(db_.get(), rc, what));
      next = tail;
    }
    return Ok();
  }

  // Returns whether a transaction is open (SQLite may have rolled one back by itself after
  // an I/O error or a full disk).
  bool InTransaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

  // Rolls back the whole open transaction. Runs ROLLBACK without the statement cache, so that
  // nothing on our side allocates and it can run while unwinding. Returns whether the connection
  // is now outside any transaction; if it is not, rollback_failed() is set until a later
  // Rollback succeeds.
  bool Rollback() noexcept {
    if (!fail_rollbacks_for_testing_)
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    rollback_failed_ = InTransaction();
    return !rollback_failed_;
  }

  // Undoes and closes the savepoint (ROLLBACK TO, then RELEASE). If that fails while the
  // transaction is still open, sets rollback_failed(): the savepoint's writes may still be in
  // the transaction, and only a Rollback of the whole transaction removes them.
  void RollbackTo(const std::string& savepoint) {
    const bool undone = !fail_rollbacks_for_testing_ &&
                        Execute("ROLLBACK TO " + savepoint, {}).has_value() &&
                        Execute("RELEASE " + savepoint, {}).has_value();
    if (!undone && InTransaction()) rollback_failed_ = true;
  }

  sqlite3* handle() { return db_.get(); }

  // Whether a rollback failed inside the open transaction: it holds writes that some caller was
  // told failed, so it must not commit.
  bool rollback_failed() const { return rollback_failed_; }

  // Takes over other's SQLite connection and drops our own (closing it rolls back whatever
  // transaction it had open). References to this Connection stay valid.
  void Replace(Connection&& other) {
    cache_.clear();  // statements go before the connection they belong to
    cache_ = std::move(other.cache_);
    db_ = std::move(other.db_);
    rollback_failed_ = false;
  }

  // Test seam (SetRollbacksFailForTesting): every rollback reports failure without running.
  void set_fail_rollbacks_for_testing(bool fail) { fail_rollbacks_for_testing_ = fail; }

  // Returns whether sql (prepared and cached on this connection) only reads.
  Result<bool> ReadOnly(std::string_view sql) {
    sqlite3_stmt* stmt = TRY(Prepare(sql));
    return sqlite3_stmt_readonly(stmt) != 0;
  }

 private:
  // Returns the cached prepared statement for sql, preparing it on first use. Refuses SQL
  // holding more than one statement: the rest would silently not run.
  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) return it->second.get();
    if (sql.size() >= INT_MAX) return Fail(ErrorCode::kInvalidArgument, "SQL text too long");
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) return Fail(SqliteError(db_.get(), rc, "preparing " + Quote(sql)));
    if (stmt == nullptr)
      return Fail(ErrorCode::kInvalidArgument, "no SQL statement in " + Quote(sql));
    std::string_view rest = sql.substr(static_cast<size_t>(tail - sql.data()));
    if (!IsBlank(rest)) {
      sqlite3_stmt* second_raw = nullptr;
      rc = sqlite3_prepare_v2(db_.get(), rest.data(), static_cast<int>(rest.size()), &second_raw,
                              nullptr);
      StatementPtr second(second_raw);
      if (rc != SQLITE_OK || second != nullptr) {
        return Fail(ErrorCode::kInvalidArgument,
                    "more than one SQL statement in " + Quote(sql) + "; run one at a time");
      }
    }
    if (cache_.size() >= kMaxCachedStatements) cache_.clear();
    return cache_.emplace(std::string(sql), std::move(stmt)).first->second.get();
  }

  Status Bind(sqlite3_stmt* stmt, std::string_view sql, std::span<const Value> params) {
    int expected = sqlite3_bind_parameter_count(stmt);
    if (static_cast<size_t>(expected) != params.size()) {
      return Fail(ErrorCode::kInvalidArgument, Quote(sql) + " takes " + std::to_string(expected) +
                                                   " parameters, given " +
                                                   std::to_string(params.size()));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& value = params[i];
      const int index = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      // SQLITE_STATIC: the caller's values outlive the statement's use; ResetOnExit unbinds.
      switch (value.type()) {
        case ValueType::kNull:
          rc = sqlite3_bind_null(stmt, index);
          break;
        case ValueType::kInteger:
          rc = sqlite3_bind_int64(stmt, index, *value.Int());
          break;
        case ValueType::kReal:
          rc = sqlite3_bind_double(stmt, index, *value.Real());
          break;
        case ValueType::kText: {
          const std::string& text = *value.text_if();
          rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC,
                                   SQLITE_UTF8);
          break;
        }
        case ValueType::kBlob: {
          const Bytes& blob = *value.blob_if();
          // A null data pointer would bind NULL, so an empty blob is bound explicitly.
          rc = blob.empty()
                   ? sqlite3_bind_zeroblob(stmt, index, 0)
                   : sqlite3_bind_blob64(stmt, index, blob.data(), blob.size(), SQLITE_STATIC);
          break;
        }
      }
      if (rc != SQLITE_OK) {
        return Fail(SqliteError(
            db_.get(), rc, "binding parameter " + std::to_string(index) + " of " + Quote(sql)));
      }
    }
    return Ok();
  }

  // Steps stmt to completion, or until max_rows rows are collected into rows (when not null).
  Status Step(sqlite3_stmt* stmt, std::string_view sql, std::vector<Row>* rows, size_t max_rows) {
    std::shared_ptr<std::vector<std::string>> names;
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return Ok();
      if (rc != SQLITE_ROW) return Fail(SqliteError(db_.get(), rc, "executing " + Quote(sql)));
      if (rows == nullptr) continue;
      const int columns = sqlite3_column_count(stmt);
      if (names == nullptr) {
        names = std::make_shared<std::vector<std::string>>();
        for (int i = 0; i < columns; ++i) {
          const char* name = sqlite3_column_name(stmt, i);
          names->emplace_back(name != nullptr ? name : "");
        }
      }
      std::vector<Value> values;
      values.reserve(static_cast<size_t>(columns));
      for (int i = 0; i < columns; ++i) values.push_back(TRY(ReadColumn(stmt, i, sql)));
      rows->emplace_back(names, std::move(values));
      if (rows->size() >= max_rows) return Ok();
    }
  }

  Result<Value> ReadColumn(sqlite3_stmt* stmt, int i, std::string_view sql) {
    switch (sqlite3_column_type(stmt, i)) {
      case SQLITE_INTEGER:
        return Value(static_cast<int64_t>(sqlite3_column_int64(stmt, i)));
      case SQLITE_FLOAT:
        return Value(sqlite3_column_double(stmt, i));
      case SQLITE_TEXT: {
        const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        const auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, i));
        if (data == nullptr && sqlite3_errcode(db_.get()) == SQLITE_NOMEM) break;
        return Value(std::string(data != nullptr ? data : "", data != nullptr ? size : 0));
      }
      case SQLITE_BLOB: {
        const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, i));
        const auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, i));
        if (data == nullptr && sqlite3_errcode(db_.get()) == SQLITE_NOMEM) break;
        return Value(data != nullptr ? Bytes(data, data + size) : Bytes());
      }
      default:
        return Value();
    }
    return Fail(SqliteError(db_.get(), SQLITE_NOMEM, "reading a row of " + Quote(sql)));
  }

  // Declared first so that it is destroyed last, after the statements that belong to it.
  SqlitePtr db_;
  std::unordered_map<std::string, StatementPtr, StringHash, std::equal_to<>> cache_;
  bool rollback_failed_ = false;
  bool fail_rollbacks_for_testing_ = false;
};

// Runs fn inside a transaction (depth 0: BEGIN IMMEDIATE) or a savepoint (nested), handing it a
// Database bound to conn at depth + 1. The caller holds the connection's lock.
Status RunInTransaction(Connection& conn, int depth, const std::function<Status(Database&)>& fn);

// The Database handed to a transaction function: the locked connection, used directly.
class TransactionDatabase final : public Database {
 public:
  TransactionDatabase(Connection& conn, int depth) : conn_(conn), depth_(depth) {}

 protected:
  Result<int64_t> DoExecute(std::string_view sql, std::span<const Value> params) override {
    return conn_.Execute(sql, params);
  }
  Result<std::vector<Row>> DoQuery(std::string_view sql, std::span<const Value> params,
                                   size_t max_rows) override {
    return conn_.Query(sql, params, max_rows);
  }
  Status DoTransaction(const std::function<Status(Database&)>& fn) override {
    return RunInTransaction(conn_, depth_, fn);
  }

 private:
  Connection& conn_;
  int depth_;
};

Status RunInTransaction(Connection& conn, int depth, const std::function<Status(Database&)>& fn) {
  auto rollback_failed = [] {
    return Fail(ErrorCode::kDatabase,
                "a rollback inside this transaction failed, so all of it is rolled back");
  };
  // Nothing may be added to a transaction that can no longer commit.
  if (conn.rollback_failed()) return rollback_failed();
  const std::string savepoint = "autoseal_" + std::to_string(depth);
  // Undoes the transaction unless it committed, also if fn throws. Once a rollback has failed,
  // a savepoint's rollback is not tried: it could leave the failed one's writes in place (after
  // a failed ROLLBACK TO, RELEASE merges them into the enclosing transaction), so only a
  // ROLLBACK of the whole transaction, by depth 0 or the group's leader, undoes them.
  struct Undo {
    Connection& conn;
    int depth;
    const std::string& savepoint;
    bool armed = true;
    ~Undo() {
      if (!armed || !conn.InTransaction()) return;
      if (depth == 0) {
        conn.Rollback();
      } else if (!conn.rollback_failed()) {
        conn.RollbackTo(savepoint);
      }
    }
  };
  if (depth == 0) {
    TRY_CONTEXT(conn.Execute("BEGIN IMMEDIATE", {}), "cannot begin a transaction");
  } else {
    TRY_CONTEXT(conn.Execute("SAVEPOINT " + savepoint, {}), "cannot begin a nested transaction");
  }
  Undo undo{conn, depth, savepoint};
  TransactionDatabase tx(conn, depth + 1);
  TRY(fn(tx));
  // fn may have gone on after a nested transaction failed and could not be rolled back.
  if (conn.rollback_failed()) return rollback_failed();
  if (depth == 0) {
    TRY_CONTEXT(conn.Execute("COMMIT", {}), "cannot commit");
  } else {
    TRY_CONTEXT(conn.Execute("RELEASE " + savepoint, {}), "cannot commit a nested transaction");
  }
  undo.armed = false;
  return Ok();
}

// Whether sql is a single data-changing statement that may run inside a transaction, so that a
// lone Execute can share a group commit (PRAGMA, ATTACH, VACUUM and DDL may not, or should not).
bool IsGroupableWrite(std::string_view sql) {
  size_t i = sql.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos) return false;
  size_t j = i;
  while (j < sql.size() && std::isalpha(static_cast<unsigned char>(sql[j]))) ++j;
  std::string word(sql.substr(i, j - i));
  for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return word == "INSERT" || word == "UPDATE" || word == "DELETE" || word == "REPLACE";
}

// Settings every connection gets, the writer's and the readers'.
void ConfigureConnection(sqlite3* db) {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // Refuse SQL that could corrupt the file, double-quoted string literals (a portability trap:
  // PostgreSQL reads them as identifiers), and functions smuggled in through the schema.
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
}

Result<SqlitePtr> OpenConnection(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  // NOMUTEX: SqliteDatabase serialises all use of each connection itself.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqlitePtr db(raw);
  if (rc != SQLITE_OK) return Fail(SqliteError(db.get(), rc, "cannot open database " + path));
  ConfigureConnection(db.get());
  return db;
}

// Gives the writer connection its settings; errors start with context.
Status ConfigureWriter(Connection& conn, bool in_memory, const std::string& context) {
  // WAL: readers do not block the writer; synchronous=FULL syncs the WAL at every commit, so an
  // acknowledged transaction is durable (DESIGN.md §5), not merely consistent as with NORMAL.
  std::vector<Row> mode = TRY_CONTEXT(conn.Query("PRAGMA journal_mode = WAL", {}, 1), context);
  std::string journal = mode.empty() ? "" : mode.front().Text(0).value_or("");
  if (journal != (in_memory ? "memory" : "wal")) {
    return Fail(ErrorCode::kDatabase,
                context + ": cannot switch to WAL journal mode (got \"" + journal + "\")");
  }
  TRY_CONTEXT(conn.Execute("PRAGMA synchronous = FULL", {}), context);
  TRY_CONTEXT(conn.Execute("PRAGMA foreign_keys = ON", {}), context);
  std::vector<Row> fk = TRY_CONTEXT(conn.Query("PRAGMA foreign_keys", {}, 1), context);
  if (fk.empty() || fk.front().Int(0).value_or(0) != 1) {
    return Fail(ErrorCode::kDatabase, context + ": cannot enable foreign keys");
  }
  TRY_CONTEXT(conn.Query("PRAGMA journal_size_limit = " + std::to_string(kJournalSizeLimit), {}, 1),
              context);
  return Ok();
}

// The Database OpenSqlite returns.
//
// Writes go through one writer connection with group commit: a transaction is queued, and
// whichever waiting caller finds no batch running becomes the leader and runs every queued
// transaction inside one BEGIN IMMEDIATE ... COMMIT, each in its own savepoint (so one that fails
// is rolled back alone and the others still commit), then wakes the others. With
// synchronous=FULL the COMMIT is one fdatasync of the WAL for the whole batch: concurrent
// transactions share it instead of paying one each, and nobody returns before it is done.
//
// Reads run on a small pool of other connections: in WAL mode they see the last committed state
// and neither wait for the writer's fdatasync nor hold it up. ":memory:" has one connection
// (each connection to it would be a separate database), used for everything.
class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::string path, bool in_memory, SqlitePtr db)
      : path_(std::move(path)), in_memory_(in_memory), writer_(std::move(db)) {}

  Connection& writer() { return writer_; }

  // Replaces SQLite's auto-checkpoint on the writer (run inside COMMIT, so inside the group's
  // leader, which every member waits for) with CheckpointIfDue, run after the members have their
  // answers. Called again for a replacement writer connection.
  void TakeOverCheckpoints() { sqlite3_wal_hook(writer_.handle(), &OnWalCommit, this); }

 protected:
  Result<int64_t> DoExecute(std::string_view sql, std::span<const Value> params) override {
    CheckNotInsideOwnTransaction();
    if (IsGroupableWrite(sql)) {
      int64_t changes = 0;
      TRY(DoTransaction([&](Database& tx) -> Status {
        changes = TRY(tx.ExecuteChanges(sql, params));
        return Ok();
      }));
      return changes;
    }
    Lock lock(*this);
    TRY(EnsureNoTransactionLeft());
    return writer_.Execute(sql, params);
  }

  Result<std::vector<Row>> DoQuery(std::string_view sql, std::span<const Value> params,
                                   size_t max_rows) override {
    CheckNotInsideOwnTransaction();
    if (!in_memory_) {
      Reader reader = TRY(AcquireReader());
      if (TRY(reader.conn().ReadOnly(sql))) return reader.conn().Query(sql, params, max_rows);
    } else {
      Lock lock(*this);
      TRY(EnsureNoTransactionLeft());
      if (TRY(writer_.ReadOnly(sql))) return writer_.Query(sql, params, max_rows);
    }
    // A statement that writes (INSERT ... RETURNING): durable before its rows are returned.
    std::vector<Row> rows;
    TRY(DoTransaction([&](Database& tx) -> Status {
      rows = TRY(tx.Query(sql, params));
      if (rows.size() > max_rows) rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(max_rows), rows.end());
      return Ok();
    }));
    return rows;
  }

  Status DoTransaction(const std::function<Status(Database&)>& fn) override {
    CheckNotInsideOwnTransaction();
    Pending mine{&fn};
    std::unique_lock queue_lock(queue_mu_);
    queue_.push_back(&mine);
    while (!mine.done) {
      if (leading_) {
        queue_cv_.wait(queue_lock);
        continue;
      }
      // Nobody is committing: lead a batch of everything queued (this transaction included).
      leading_ = true;
      std::vector<Pending*> batch;
      batch.swap(queue_);
      queue_lock.unlock();
      {
        EndTurn end_turn(*this, batch);
        try {
          RunBatch(batch);
        } catch (...) {
          // Not a transaction function's exception (run() keeps those): the machinery itself
          // failed (bad_alloc, a mutex's system_error). RunBatch rolled the group back; each
          // member, this caller included, gets a failed Status instead of the exception.
          end_turn.failure = std::current_exception();
        }
      }
      CheckpointIfDue();
      queue_lock.lock();
    }
    queue_lock.unlock();
    if (mine.exception) std::rethrow_exception(mine.exception);
    if (mine.group_failure && mine.status.has_value()) {
      return Fail(ErrorCode::kInternal,
                  "the group commit failed, so the transaction was rolled back: " +
                      Describe(mine.group_failure));
    }
    return std::move(mine.status);
  }

 public:
  // Test seams (store/sqlite_testing.h).
  size_t QueuedForTesting() {
    std::lock_guard lock(queue_mu_);
    return queue_.size();
  }
  void SetBeforeGroupCommitForTesting(std::function<void()> hook) {
    Lock lock(*this);
    before_group_commit_for_testing_ = std::move(hook);
  }
  void SetRollbacksFailForTesting(bool fail) {
    Lock lock(*this);
    writer_.set_fail_rollbacks_for_testing(fail);
  }

 private:
  // A queued transaction, owned by the caller that waits for it.
  struct Pending {
    const std::function<Status(Database&)>* fn;
    Status status = Ok();
    std::exception_ptr exception;  // thrown by fn on the leader's thread, rethrown on the caller's
    // Set when the leader's batch ended by an exception of its own: the group was rolled back.
    std::exception_ptr group_failure;
    bool done = false;  // guarded by queue_mu_
  };

  // Ends the leader's turn however its batch ends: marks every member done, lets the next caller
  // lead and wakes the waiters. Without it an exception out of RunBatch left leading_ set and
  // done unset, and every waiter and every later writer waited forever. Only noexcept steps
  // here (a failed Status is built later, on each caller's thread), so that it cannot fail
  // while it runs.
  struct EndTurn {
    SqliteDatabase& db;
    const std::vector<Pending*>& batch;
    std::exception_ptr failure;  // set by the leader when RunBatch threw
    ~EndTurn() {
      std::lock_guard lock(db.queue_mu_);
      for (Pending* p : batch) {
        p->group_failure = failure;
        p->done = true;
      }
      db.leading_ = false;
      db.queue_cv_.notify_all();
    }
  };

  // SQLite calls this after each commit on the writer with the WAL's size in pages.
  static int OnWalCommit(void* self, sqlite3*, const char*, int pages) {
    static_cast<SqliteDatabase*>(self)->wal_pages_.store(pages, std::memory_order_relaxed);
    return SQLITE_OK;
  }

  // Checkpoints the WAL once it has reached kCheckpointPages, as SQLite's auto-checkpoint would,
  // but called by a leader after its turn has ended: the members it committed already have their
  // answers, so only the leader's own caller waits for it (and the next group's leader, for the
  // writer lock, as it waited for the auto-checkpoint). PASSIVE, like the auto-checkpoint: it
  // copies what no reader still needs and waits for nobody. Durability is
  // unchanged: the commits were synced to the WAL before anyone was answered, and the checkpoint
  // syncs (synchronous=FULL) before the WAL can be reused.
  void CheckpointIfDue() noexcept {
    if (wal_pages_.load(std::memory_order_relaxed) < kCheckpointPages) return;
    try {
      Lock lock(*this);
      if (wal_pages_.load(std::memory_order_relaxed) < kCheckpointPages) return;  // done by another
      wal_pages_.store(0, std::memory_order_relaxed);
      sqlite3_wal_checkpoint_v2(writer_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
    } catch (...) {
      // Taking the lock failed (a mutex's system_error): the commits are safe in the WAL, and
      // the next commit's leader tries again.
    }
  }

  // What an exception says, for an error message.
  static std::string Describe(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "an exception that is not a std::exception";
    }
  }

  // Holds writer_mu_, remembering the holder so that re-entry from a transaction function on
  // the same thread aborts with a clear message instead of deadlocking.
  class Lock {
   public:
    explicit Lock(SqliteDatabase& db) : db_(db) {
      db_.CheckNotInsideOwnTransaction();
      db_.writer_mu_.lock();
      db_.holder_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    }
    ~Lock() {
      db_.holder_.store(std::thread::id(), std::memory_order_relaxed);
      db_.writer_mu_.unlock();
    }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    SqliteDatabase& db_;
  };

  // A reader connection borrowed from the pool, returned on destruction.
  class Reader {
   public:
    Reader(SqliteDatabase& db, std::unique_ptr<Connection> conn) : db_(&db), conn_(std::move(conn)) {}
    Reader(Reader&& other) noexcept = default;
    ~Reader() {
      if (conn_ != nullptr) db_->ReleaseReader(std::move(conn_));
    }
    Connection& conn() { return *conn_; }

   private:
    SqliteDatabase* db_;
    std::unique_ptr<Connection> conn_;
  };

  void CheckNotInsideOwnTransaction() const {
    CHECK_MSG(holder_.load(std::memory_order_relaxed) != std::this_thread::get_id(),
              "the Database was used from inside its own Transaction function; use the "
              "Database& passed to the function");
  }

  // Runs a batch of transactions in one SQLite transaction on the writer connection. If it
  // throws (an exception of the machinery, not of a transaction function), nothing of the batch
  // is committed: the group is rolled back first.
  void RunBatch(const std::vector<Pending*>& batch) {
    Lock lock(*this);
    try {
      RunBatchLocked(batch);
    } catch (...) {
      // Not rolled back, the group's writes would stay in the open transaction, to fail every
      // later BEGIN or to be committed by a later group. The statement is run without the
      // statement cache, which could allocate.
      if (writer_.InTransaction()) writer_.Rollback();
      throw;
    }
  }

  void RunBatchLocked(const std::vector<Pending*>& batch) {
    auto run = [&](Pending& p, int depth) {
      try {
        p.status = RunInTransaction(writer_, depth, *p.fn);
      } catch (...) {
        p.exception = std::current_exception();
        p.status = Fail(ErrorCode::kInternal, "the transaction function threw");
      }
    };
    auto fail_all = [&](const Error& e) {
      for (Pending* p : batch)
        if (p->status.has_value() && !p->exception) p->status = std::unexpected(e);
    };
    if (auto usable = EnsureNoTransactionLeft(); !usable) {
      fail_all(usable.error());
      return;
    }
    if (batch.size() == 1) {
      run(*batch.front(), 0);
      // Its rollback failed (a success has committed): close the transaction now, not at the
      // next write, so that the write lock is not held meanwhile.
      if (writer_.InTransaction()) static_cast<void>(EnsureNoTransactionLeft());
      return;
    }
    if (auto begun = writer_.Execute("BEGIN IMMEDIATE", {}); !begun) {
      fail_all(begun.error().WithContext("cannot begin a transaction"));
      return;
    }
    for (Pending* p : batch) {
      run(*p, 1);
      if (!writer_.InTransaction()) {
        // SQLite rolled the whole transaction back (an I/O error, a full disk): the batch's
        // earlier transactions are gone too, and nothing more can run in it.
        fail_all(p->status.has_value() ? Error(ErrorCode::kDatabase, "the transaction was rolled back")
                                       : p->status.error());
        return;
      }
      if (writer_.rollback_failed()) {
        // p failed and its savepoint could not be rolled back: its writes may be part of the
        // group now, and committing the others would make them durable. The group goes whole.
        Status undone = EnsureNoTransactionLeft();
        Error e(ErrorCode::kDatabase,
                "another transaction in the same group commit could not be rolled back, so the "
                "whole group was rolled back");
        fail_all(undone ? e : undone.error());
        return;
      }
    }
    if (before_group_commit_for_testing_) before_group_commit_for_testing_();
    // Nothing may throw once COMMIT has succeeded: DoTransaction would report the committed
    // transactions as failed.
    if (auto committed = writer_.Execute("COMMIT", {}); !committed) {
      // A failed COMMIT may leave the transaction open (a deferred constraint, SQLITE_BUSY).
      static_cast<void>(EnsureNoTransactionLeft());
      fail_all(committed.error().WithContext("cannot commit"));
    }
  }

  // Makes sure the writer is outside any transaction before it is used, or says why it cannot
  // be. A transaction can be left open by a ROLLBACK that failed; left so, every later BEGIN
  // would fail until restart, and a statement run outside a transaction would join it. It is
  // rolled back, and if SQLite still reports it open (sqlite3_get_autocommit() == 0), the writer
  // connection is replaced: closing the old one rolls the transaction back. The caller holds
  // the writer lock.
  Status EnsureNoTransactionLeft() {
    if (!writer_.InTransaction() && !writer_.rollback_failed()) return Ok();
    if (writer_.Rollback()) return Ok();
    const std::string context =
        "a transaction could not be rolled back and the database cannot be reopened";
    // Another connection to ":memory:" would be another, empty, database.
    if (in_memory_) return Fail(ErrorCode::kDatabase, context);
    SqlitePtr db = TRY_CONTEXT(OpenConnection(path_, /*create=*/false), context);
    Connection fresh(std::move(db));
    TRY(ConfigureWriter(fresh, /*in_memory=*/false, context));
    writer_.Replace(std::move(fresh));
    TakeOverCheckpoints();
    return Ok();
  }

  Result<Reader> AcquireReader() {
    std::unique_lock lock(readers_mu_);
    for (;;) {
      if (!idle_readers_.empty()) {
        std::unique_ptr<Connection> conn = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        return Reader(*this, std::move(conn));
      }
      if (reader_count_ < kMaxReaders) break;
      readers_cv_.wait(lock);
    }
    ++reader_count_;
    lock.unlock();
    auto db = OpenConnection(path_, /*create=*/false);
    if (db) {
      // Readers never write: a statement that would is sent to the writer instead.
      if (sqlite3_exec(db->get(), "PRAGMA query_only = 1; PRAGMA synchronous = FULL; "
                                  "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr) == SQLITE_OK)
        return Reader(*this, std::make_unique<Connection>(std::move(*db)));
    }
    lock.lock();
    --reader_count_;
    readers_cv_.notify_one();
    if (!db) return Fail(db.error());
    return Fail(SqliteError(db->get(), sqlite3_errcode(db->get()), "cannot open database " + path_));
  }

  void ReleaseReader(std::unique_ptr<Connection> conn) {
    std::lock_guard lock(readers_mu_);
    idle_readers_.push_back(std::move(conn));
    readers_cv_.notify_one();
  }

  static constexpr size_t kMaxReaders = 4;

  const std::string path_;
  const bool in_memory_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending*> queue_;  // waiting for the next batch
  bool leading_ = false;         // a batch is running

  std::mutex writer_mu_;
  std::atomic<std::thread::id> holder_;
  Connection writer_;
  std::function<void()> before_group_commit_for_testing_;  // guarded by writer_mu_
  std::atomic<int> wal_pages_{0};  // the WAL's size after the writer's last commit

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
  size_t reader_count_ = 0;
};

Status ValidateMigrations(std::span<const Migration> migrations) {
  int previous = 0;
  for (const Migration& m : migrations) {
    if (m.version <= previous) {
      return Fail(ErrorCode::kInvalidArgument,
                  "migration versions must be positive and strictly increasing; " +
                      std::to_string(m.version) + " follows " + std::to_string(previous));
    }
    previous = m.version;
  }
  return Ok();
}

// Checks the directory and creates the file with mode 0600 before SQLite sees it (SQLite would
// create it 0644; its -wal and -shm files copy the database file's mode).
Status PrepareFile(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return Fail(ErrorCode::kIo, "cannot open database " + path + ": directory " + dir +
                                    (errno == ENOENT ? " does not exist"
                                                     : ": " + std::string(std::strerror(errno))));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kIo,
                "cannot open database " + path + ": " + dir + " is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(ErrorCode::kIo, "cannot open database " + path + ": directory " + dir +
                                    " is not writable (SQLite keeps its WAL files there)");
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    // The umask may have narrowed the mode; make it exactly 0600. Then make the new directory
    // entry durable.
    bool ok = ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
    ::close(fd);
    if (ok) {
      int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      ok = dir_fd >= 0 && ::fsync(dir_fd) == 0;
      if (dir_fd >= 0) ::close(dir_fd);
    }
    if (!ok) {
      return Fail(ErrorCode::kIo,
                  "cannot create database " + path + ": " + std::string(std::strerror(errno)));
    }
    return Ok();
  }
  if (errno != EEXIST) {
    return Fail(ErrorCode::kIo,
                "cannot create database " + path + ": " + std::string(std::strerror(errno)));
  }
  fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kIo,
                "cannot open database " + path + ": " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return Ok();
}

// Refuses a schema newer than the last migration this build knows; subject names the database
// or component.
Status CheckNotNewer(const std::string& subject, int64_t current, int64_t latest) {
  if (current <= latest) return Ok();
  return Fail(ErrorCode::kDatabase,
              subject + " has schema version " + std::to_string(current) +
                  ", newer than the latest this autoseal knows (" + std::to_string(latest) +
                  "); it was written by a newer autoseal, so upgrade autoseal to use it");
}

Result<int64_t> UserVersion(Connection& conn) {
  std::vector<Row> rows = TRY(conn.Query("PRAGMA user_version", {}, 1));
  if (rows.empty()) return Fail(ErrorCode::kDatabase, "PRAGMA user_version returned nothing");
  return rows.front().Int(0);
}

Status Migrate(Connection& conn, const std::string& path, std::span<const Migration> migrations) {
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  auto check_not_newer = [&](int64_t current) {
    return CheckNotNewer("database " + path, current, latest);
  };
  // The common case, an up-to-date schema, takes no write lock.
  const int64_t seen = TRY(UserVersion(conn));
  TRY(check_not_newer(seen));
  if (seen == latest) return Ok();
  return RunInTransaction(conn, 0, [&](Database&) -> Status {
    // Re-read under the write lock: another process may have migrated meanwhile.
    const int64_t current = TRY(UserVersion(conn));
    TRY(check_not_newer(current));
    for (const Migration& m : migrations) {
      if (m.version <= current) continue;
      const std::string what = "database " + path + ": migration " + std::to_string(m.version);
      TRY(conn.ExecuteScript(m.sql, what));
      TRY(conn.ExecuteScript("PRAGMA user_version = " + std::to_string(m.version), what));
    }
    return Ok();
  });
}

}  // namespace

size_t QueuedTransactionsForTesting(Database& db) {
  auto* sqlite = dynamic_cast<SqliteDatabase*>(&db);
  CHECK_MSG(sqlite != nullptr, "QueuedTransactionsForTesting needs a database from OpenSqlite");
  return sqlite->QueuedForTesting();
}

void SetBeforeGroupCommitForTesting(Database& db, std::function<void()> hook) {
  auto* sqlite = dynamic_cast<SqliteDatabase*>(&db);
  CHECK_MSG(sqlite != nullptr, "SetBeforeGroupCommitForTesting needs a database from OpenSqlite");
  sqlite->SetBeforeGroupCommitForTesting(std::move(hook));
}

void SetRollbacksFailForTesting(Database& db, bool fail) {
  auto* sqlite = dynamic_cast<SqliteDatabase*>(&db);
  CHECK_MSG(sqlite != nullptr, "SetRollbacksFailForTesting needs a database from OpenSqlite");
  sqlite->SetRollbacksFailForTesting(fail);
}

Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                             std::span<const Migration> migrations) {
  TRY(ValidateMigrations(migrations));
  if (sqlite3_threadsafe() == 0) {
    return Fail(ErrorCode::kUnsupported, "the SQLite library was built without thread support");
  }
  const bool in_memory = path == ":memory:";
  if (!in_memory) TRY(PrepareFile(path));

  SqlitePtr db = TRY(OpenConnection(path, in_memory));

  auto database = std::make_unique<SqliteDatabase>(path, in_memory, std::move(db));
  Connection& conn = database->writer();
  TRY(ConfigureWriter(conn, in_memory, "cannot open database " + path));
  database->TakeOverCheckpoints();

  TRY(Migrate(conn, path, migrations));
  return std::unique_ptr<Database>(std::move(database));
}

Status ApplyMigrations(Database& db, std::string_view component,
                       std::span<const Migration> migrations) {
  TRY(ValidateMigrations(migrations));
  auto* sqlite = dynamic_cast<SqliteDatabase*>(&db);
  if (sqlite == nullptr)
    return Fail(ErrorCode::kInvalidArgument, "ApplyMigrations needs a database from OpenSqlite");
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  const std::string name(component);
  auto version = [&](Database& d) -> Result<int64_t> {
    auto row = TRY(d.QueryRow("SELECT version FROM schema_versions WHERE component = ?", {name}));
    return row ? TRY(row->Int(0)) : 0;
  };
  auto check_not_newer = [&](int64_t current) {
    return CheckNotNewer("component " + name, current, latest);
  };
  // The common case, an up-to-date schema, takes no write lock.
  if (auto seen = version(db); seen && *seen == latest) return Ok();
  return db.Transaction([&](Database& tx) -> Status {
    TRY(tx.Execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"));
    const int64_t current = TRY(version(tx));
    TRY(check_not_newer(current));
    for (const Migration& m : migrations) {
      if (m.version <= current) continue;
      // The transaction function runs on the writer connection, which it may use directly.
      TRY(sqlite->writer().ExecuteScript(m.sql, name + " migration " + std::to_string(m.version)));
      TRY(tx.Execute("INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                     "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                     {name, m.version}));
    }
    return Ok();
  });
}

}  // namespace autoseal::store
