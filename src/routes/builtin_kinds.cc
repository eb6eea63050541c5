#include "routes/builtin_kinds.h"

#include "routes/cascade.h"
#include "routes/fallback.h"
#include "routes/rules.h"

namespace triage::routes {

void register_rules_fallback_cascade_kinds() {
  register_rules_kind();
  register_fallback_kind();
  register_cascade_kind();
}

}  // namespace triage::routes
