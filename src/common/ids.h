#pragma once
#include <cstdint>
#include <string>

namespace triage {

// A 24-hex-digit random id ("req_" prefix added by callers that want one). Thread-safe, no locks:
// each thread has its own generator seeded from std::random_device.
std::string random_hex_id(int hex_digits = 24);

// 24 hex digits: 12 of unix milliseconds, then 12 random. Ids sort by creation time, so the
// request store's primary-key index is appended to instead of written all over (random ids
// dirtied one index page per row: ~8 KB of WAL writes per request). Thread-safe.
std::string time_ordered_hex_id(int64_t unix_ms);

// This process's name among replicas sharing one store (docs/scaling.md): "HOST-PID-RANDOM"
// (hostname, process id, 6 random hex digits), made once and the same for the process's
// lifetime. Holds leases and labels the window counts a replica publishes. Thread-safe.
const std::string& replica_id();

}  // namespace triage
