#include "config/capabilities.h"

namespace triage::config {

std::optional<core::SkipReason> ineligibility(const Model& model,
                                              const core::RequestNeeds& needs) {
  const Capabilities& c = model.capabilities;
  if (needs.tools && !c.tools) return core::SkipReason{core::SkipKind::kTools};
  if (needs.images && !c.images) return core::SkipReason{core::SkipKind::kImages};
  if (needs.json_schema && !c.json_schema) return core::SkipReason{core::SkipKind::kJsonSchema};
  if (model.max_output_tokens > 0 && needs.max_tokens > model.max_output_tokens) {
    return core::SkipReason{core::SkipKind::kMaxOutput, needs.max_tokens, model.max_output_tokens};
  }
  if (model.context_window > 0 && needs.context_tokens() > model.context_window) {
    return core::SkipReason{core::SkipKind::kContext, needs.context_tokens(),
                            model.context_window};
  }
  return std::nullopt;
}

}  // namespace triage::config
