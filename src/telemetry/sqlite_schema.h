#pragma once
// The request store's SQLite schema and its migrations (docs/store.md). Version 1 is created
// on a new file; every later version is one migration step in its own transaction, run on old
// files and new ones alike, so the creation path is the migration path.
#include "telemetry/sqlite_db.h"

namespace triage::telemetry {

// Creates the version-1 schema if the file has none, then migrates it step by step to
// `target_version`. A step that fails is rolled back and the file stays at the version before
// it. Throws std::runtime_error "request store <path>: ..." (cannot create schema, cannot
// migrate schema from version N to N+1, unsupported schema_version).
void create_or_migrate_schema(sqlite::Connection& db, int target_version);

}  // namespace triage::telemetry
