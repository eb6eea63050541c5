#include "telemetry/counterfactual.h"

#include <algorithm>

namespace triage::telemetry {

double counterfactual_cost_usd(const config::Prices& reference, int64_t tokens_in,
                               int64_t tokens_out, int64_t requests) {
  const double in = static_cast<double>(std::max<int64_t>(tokens_in, 0));
  const double out = static_cast<double>(std::max<int64_t>(tokens_out, 0));
  const double calls = static_cast<double>(std::max<int64_t>(requests, 0));
  return (in * reference.input_per_mtok + out * reference.output_per_mtok) / 1e6 +
         reference.per_call * calls;
}

}  // namespace triage::telemetry
