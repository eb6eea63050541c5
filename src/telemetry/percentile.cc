#include "telemetry/percentile.h"

#include <algorithm>
#include <cmath>

namespace triage::telemetry {

size_t percentile_rank(double p, size_t n) {
  if (n == 0) return 1;
  const uint64_t ppm = static_cast<uint64_t>(std::llround(std::clamp(p, 0.0, 1.0) * 1e6));
  const uint64_t rank = (ppm * n + 999'999) / 1'000'000;  // ceil(p * n), exactly
  return static_cast<size_t>(std::clamp<uint64_t>(rank, 1, n));
}

}  // namespace triage::telemetry
