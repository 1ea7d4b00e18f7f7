#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"
#include "store/database.h"

namespace autoseal::store {

// One step of a schema: the SQL that takes the schema from the previous version to `version`.
// A service declares its migrations once, in order, and never edits one that has shipped.
struct Migration {
  int version;           // > 0, strictly increasing along the list
  std::string_view sql;  // one or more statements; no parameters, no BEGIN/COMMIT
};

// Opens (creating if needed, mode 0600) the SQLite database at path and brings its schema up to
// date with migrations, returning a Database that owns the one connection. ":memory:" opens a
// private in-memory database (for tests).
//
// Durability (DESIGN.md §5): WAL journal with synchronous=FULL, so a transaction that has
// returned success survives a crash or power loss; foreign keys are enforced; a writer waits up
// to 5 s for another process's write lock before failing.
//
// Migrations: the schema version lives in `PRAGMA user_version`. The pending migrations (those
// with a version above it) run in order inside one write transaction, which also sets
// user_version, so a failed or interrupted upgrade leaves the previous schema intact and
// reopening applies nothing twice. A database whose version is newer than the last migration
// fails with kDatabase (written by a newer autoseal).
//
// Thread-safety: the returned Database is safe to share between threads; one mutex serialises
// every statement and transaction on its single connection (readers included). Several
// processes may open the same file; their writers are serialised by SQLite's lock.
//
// Errors: kInvalidArgument for a malformed migration list; kIo naming the path when its
// directory does not exist or is not writable, or the file cannot be created or opened;
// kDatabase with SQLite's message otherwise.
Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                             std::span<const Migration> migrations);

}  // namespace autoseal::store
