#pragma once
// Mixin for routes whose choice of child is a pure function of the request (no model call):
// threshold, classify, rules, predict. A `shadow` route with `decide_only: true` asks such a
// candidate what it WOULD choose and records it in the primary's trace, without calling any
// model: the "router deciding in shadow only" mode that collects data for `triage analyze`.
//
// Queried with dynamic_cast, so the Route interface stays as it is. Threading: const, safe from
// any thread (the same reads run() does; knobs are read once).
#include <string>

#include "core/chat.h"

namespace triage::routes {

struct RouteDecision {
  std::string target;  // name of the child route or model the request would go to
  std::string detail;  // why, for the trace: "strong, p=0.730, t=0.500"
  // The trained router's version when a router file decided (threshold routes), else empty.
  std::string router_version;
};

class Decider {
 public:
  virtual ~Decider() = default;
  // What run() would choose for `req`. Named decide_request (not decide) because the routes'
  // own pure decide() functions already use that name with other signatures.
  virtual RouteDecision decide_request(const core::ChatRequest& req) const = 0;
};

}  // namespace triage::routes
