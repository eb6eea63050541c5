#pragma once
#include <string>

namespace triage {

// A 24-hex-digit random id ("req_" prefix added by callers that want one). Thread-safe, no locks:
// each thread has its own generator seeded from std::random_device.
std::string random_hex_id(int hex_digits = 24);

}  // namespace triage
