#pragma once
// Capability-aware routing (docs/routes.md "Capabilities"): a model that cannot take a request
// (config::ineligibility) is refused at the one place model calls are made,
// ModelRuntime::call, with a typed outcome (ErrorCode::kNoEligibleModel and a model-call span
// whose `skipped` says why) that every route kind treats like an open circuit: it takes its
// next choice. When no choice is left the request ends with a 400 that names what no model
// could take.
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "routes/route.h"

namespace triage::routes {

// Why `model` cannot take `req`, or nullopt.
std::optional<core::SkipReason> ineligibility(const config::Model& model,
                                              const core::ChatRequest& req);

// Appends the model-call span of a skipped model: ok = false, error "no_eligible_model",
// detail "skipped: <reason>", `skipped` = reason.
void record_skip(ExecContext& ctx, const config::Model& model, const core::SkipReason& reason);

// A chooser skipped a refused choice: records the typed skip span when the refusal is an
// ineligibility of a model (an open circuit leaves no span, as before).
void record_refusal(ExecContext& ctx, const Refusal& refusal);

// The refusal of `model` for `req`: records the skip and returns the kNoEligibleModel error
// that says which need the model does not meet; nullopt when the model can take it.
std::optional<Error> refuse_ineligible(const config::Model& model, const core::ChatRequest& req,
                                       ExecContext& ctx);

// The 400 of route `route` none of whose choices could take the request: names every model
// skipped since span `first_span` of the trace and why (read from the typed skip spans).
Error no_eligible_error(const std::string& route, const ExecContext& ctx, std::size_t first_span);

}  // namespace triage::routes
