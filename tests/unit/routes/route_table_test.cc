// RouteTable::reachable_models: the models a request naming a route may call, through nested
// routes; what a key's worst-case reservation is priced over (docs/security.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "composite_harness.h"

namespace triage::routes {
namespace {

std::vector<std::string> names(const std::vector<const config::Model*>& models) {
  std::vector<std::string> out;
  for (const config::Model* m : models) out.push_back(m->name);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RouteTableReachable, ModelsThroughNestedRoutes) {
  composite_testing::CompositeHarness h(R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium}
  - {name: c, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
routes:
  - {name: just-b, type: model, model: b}
  - {name: fb, type: fallback, children: [a, just-b]}
  - {name: outer, type: fallback, children: [fb, c]}
)");
  const RouteTable& t = h.table();
  EXPECT_EQ(names(t.reachable_models("a")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names(t.reachable_models("just-b")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names(t.reachable_models("fb")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(t.reachable_models("outer")), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(t.reachable_models("nope").empty());
}

}  // namespace
}  // namespace triage::routes
