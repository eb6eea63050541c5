#pragma once
#include <string>

namespace triage::offline {

// Prints a summary of a request store to stdout: requests, errors, cost and latency
// percentiles per model and overall. Returns a process exit code (non-zero when the store
// cannot be read). Reads the database read-only; safe while a gateway is writing to it (WAL).
int print_report(const std::string& store_path);

}  // namespace triage::offline
