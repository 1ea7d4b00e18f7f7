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
// Thread-safety: the returned Database is safe to share between threads. Writes (transactions,
// and single INSERT/UPDATE/DELETE/REPLACE statements, each run as a transaction) go through one
// writer connection with group commit: transactions that arrive while another batch commits run
// together in one SQLite transaction, each in its own savepoint, and share one fdatasync; each
// still succeeds or fails alone, and none returns before the commit is durable. (Only when a
// failed one cannot be rolled back to its savepoint does the whole group fail and roll back,
// so that no write of a failed transaction becomes durable.) A transaction
// function may therefore run on another caller's thread while its own caller waits. Reads run on
// up to four reader connections and see the last committed state without waiting for the
// writer; a statement passed to Query that writes (INSERT ... RETURNING) goes to the writer.
// Other statements (PRAGMA, DDL, ATTACH) run alone on the writer connection. ":memory:" uses one
// connection for everything. Several processes may open the same file; their writers are
// serialised by SQLite's lock.
//
// Errors: kInvalidArgument for a malformed migration list; kIo naming the path when its
// directory does not exist or is not writable, or the file cannot be created or opened;
// kDatabase with SQLite's message otherwise.
Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path,
                                             std::span<const Migration> migrations);

// Brings the tables of one component up to date inside a database that OpenSqlite opened (and
// migrated) for another, so that two services can share a file and commit together: the ACME
// server keeps its tables in the CA's database. Versions are kept per component in a table
// `schema_versions (component, version)`; the pending migrations run in order in one write
// transaction, as OpenSqlite's do. kInvalidArgument for a malformed list or a database not from
// OpenSqlite; kDatabase when the component's version is newer than the last migration.
Status ApplyMigrations(Database& db, std::string_view component,
                       std::span<const Migration> migrations);

}  // namespace autoseal::store
