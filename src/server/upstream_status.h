#pragma once
// The live state of every catalog model's upstreams, for the dashboard's "Upstreams" panel
// (GET /v1/dashboard/upstreams): per deployment its circuit (state, opens, time until a probe),
// latency average, calls in flight, picks, retry budget over the current window and own
// concurrency gate; per model the budgets' sum and the model's concurrency gate. Read from the
// running ModelRuntimes, not from the store: a breaker that opened a second ago shows at once,
// whatever the store's write interval.
//
// Thread safety: reads atomics and takes the gate's and budget's short locks only; callable
// from any thread while the gateway serves.
#include <boost/json/object.hpp>

#include "routes/route_table.h"

namespace triage::server {

// {"models":[{"model","tier","provider","available","deployments":[{"name","state",
//   "opens","retry_after_ms","latency_ms","in_flight","picks","retry_budget":{"calls",
//   "retries","allowed"},"gate":{"limit","in_use","waiting"}}],"retry_budget":{...},
//   "gate":{...}}], "open_circuits": N}
// Models in catalog order. A deployment's `retry_budget` and `gate` are its own; the model's
// `retry_budget` is the sum over its deployments and its `gate` is max_concurrency's. A `limit`
// of 0 means no bound.
boost::json::object upstream_status(const routes::RouteTable& routes);

}  // namespace triage::server
