#pragma once
// Savings are measured against one counterfactual: the same tokens on the reference model
// (config `reference_model`, default the priciest). This is its one definition; the
// Prometheus window (telemetry/metrics), the dashboard summary, `triage report` and
// `triage roi --from-store` all price through it (docs/dashboard.md, docs/store.md).
#include <cstdint>

#include "config/config.h"

namespace triage::telemetry {

// USD of `requests` calls of the reference model that read `tokens_in` and wrote `tokens_out`
// tokens in all: input and output tokens at its per-1M prices plus its per-call price per
// request. Negative counts count as 0. For one request it equals config::cost_usd(reference,
// tokens_in, tokens_out) bit for bit (no cached-input discount: the counterfactual has none).
double counterfactual_cost_usd(const config::Prices& reference, int64_t tokens_in,
                               int64_t tokens_out, int64_t requests = 1);

}  // namespace triage::telemetry
