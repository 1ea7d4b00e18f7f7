#pragma once

// Test seams for store/sqlite.cc, for tests/store only: they make reachable the failure paths
// that a working disk and a well-behaved caller never take. Production code does not call them.
// Kept out of sqlite.h so that its users do not see them.

#include <cstddef>
#include <functional>

#include "store/database.h"

namespace autoseal::store {

// Returns how many transactions wait for the next group commit of db (a Database from
// OpenSqlite; anything else aborts), so that a test can start a group of a known size without
// sleeping. Thread-safe.
size_t QueuedTransactionsForTesting(Database& db);

// Makes the leader of each group of two or more transactions call hook after the members have
// run and before the group's COMMIT, outside every transaction function. A hook that throws
// stands for an exception of the group-commit machinery itself (bad_alloc, a mutex's
// system_error). An empty function removes it. Thread-safe (waits for the running group).
void SetBeforeGroupCommitForTesting(Database& db, std::function<void()> hook);

// While fail is true, every ROLLBACK and ROLLBACK TO on db's writer connection reports failure
// without running, and leaves the transaction open, as a rollback that fails (an I/O error) may.
// Thread-safe (waits for the running group).
void SetRollbacksFailForTesting(Database& db, bool fail);

}  // namespace autoseal::store
