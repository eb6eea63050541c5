#pragma once
// The request store's PostgreSQL schema and its migrations (docs/store.md "PostgreSQL"). The
// tables and columns are SQLite's (sqlite_schema.h) at the same version number, with
// PostgreSQL types. A new database is created at kPgFirstVersion in one step; every later
// version is one migration step in its own transaction. Replicas starting together serialise
// on an advisory lock, so the schema is created or migrated once.
#include <string>
#include <vector>

#include "common/result.h"
#include "telemetry/pg_db.h"

namespace triage::telemetry {

// The first version PostgreSQL stores exist at (SQLite's version 10: the same tables).
inline constexpr int kPgFirstVersion = 10;
// The version this build reads and writes.
inline constexpr int kPgSchemaVersion = 11;

// One step: SQL that takes a database from `from` to from + 1 (run in one transaction with
// the meta update).
struct PgMigration {
  int from = 0;
  std::string sql;
};

// This build's migrations after kPgFirstVersion.
const std::vector<PgMigration>& pg_migrations();

// Creates the schema in an empty database (at kPgFirstVersion), then applies `migrations` in
// order up to `target_version`. A database already at target_version is left alone; a newer
// one is refused. Error (kUnavailable), the message naming `where` (describe_conninfo):
// "cannot create schema", "cannot migrate schema from version N to N+1",
// "unsupported schema_version N (this build reads and writes M)".
Result<void> create_or_migrate_pg_schema(
    pg::Connection& db, const std::string& where, int target_version = kPgSchemaVersion,
    const std::vector<PgMigration>& migrations = pg_migrations());

// meta.schema_version; 0 when the database has no store schema; error on a failed query.
Result<int> pg_schema_version(pg::Connection& db);

}  // namespace triage::telemetry
