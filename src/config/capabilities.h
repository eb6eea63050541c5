#pragma once
// Can a catalog model take a request? The one rule (docs/routes.md "Capabilities") that every
// route kind applies through routes::ModelRuntime, and that `triage eval` applies because it
// runs the same routes. Unknown limits (0) are not enforced.
#include <optional>

#include "config/config.h"
#include "core/needs.h"
#include "core/trace.h"

namespace triage::config {

// The first need of `needs` that `model` does not meet (in the order tools, images,
// json_schema, max_output, context), or nullopt when it can take the request.
std::optional<core::SkipReason> ineligibility(const Model& model, const core::RequestNeeds& needs);

}  // namespace triage::config
