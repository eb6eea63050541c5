#pragma once
// Finished requests of the small tier on route "main", as the SLO controller and the fleet
// windows consume them: shared by slo_controller_test.cc and fleet_windows_test.cc.
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"

namespace triage::server::testing {

// `n` traces with ids PREFIX0..PREFIX{n-1}; the first `failed` of them a 502 upstream error.
inline std::vector<core::TracePtr> small_tier_traces(int n, int failed, const std::string& prefix) {
  std::vector<core::TracePtr> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto t = std::make_shared<core::Trace>();
    t->request_id = prefix + std::to_string(i);
    t->model = "s";
    t->tier = "small";
    t->route = "main";
    if (i < failed) {
      t->http_status = 502;
      t->error_code = "upstream_error";
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace triage::server::testing
