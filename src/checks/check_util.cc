#include "checks/check_util.h"

#include <algorithm>

#include "routes/check.h"
#include "routes/kind_util.h"

namespace triage::checks {

routes::Route& resolve_check_route(const config::Field& field, const routes::CheckContext& ctx) {
  if (!ctx.table) {
    field.fail("this check calls a route or model, so it can only be used where checks are "
               "built with the route table (e.g. in a cascade step)");
  }
  return routes::resolve_child(*ctx.table, field);
}

boost::asio::awaitable<Result<core::Completion>> call_for_check(routes::Route& route,
                                                                const core::ChatRequest& req,
                                                                routes::ExecContext& ctx) {
  core::Trace& t = ctx.trace;
  std::string model = t.model;
  std::string tier = t.tier;
  std::string provider = t.provider;
  std::string label = t.label;
  const double confidence = t.confidence;
  const bool synthesized = t.synthesized;
  Result<core::Completion> r = co_await route.run(req, ctx, nullptr);
  t.model = std::move(model);
  t.tier = std::move(tier);
  t.provider = std::move(provider);
  t.label = std::move(label);
  t.confidence = confidence;
  t.synthesized = synthesized;
  co_return r;
}

}  // namespace triage::checks
