#include "routes/split_route.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "route_harness.h"

namespace triage::routes {
namespace {

using testing::Harness;
using testing::build_error;
using testing::user_request;

const char* kModels = R"(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)";

std::string config(const std::string& route) {
  register_split_kind();
  return std::string(kModels) + "routes:\n" + route;
}

const std::string kCanary = R"(  - name: canary
    type: split
    children:
      - {route: a, weight: 90}
      - {route: b, weight: 10}
)";

core::ChatRequest request(const std::string& id, const std::string& user = {}) {
  core::ChatRequest r = user_request("hello");
  r.meta.request_id = id;
  r.meta.user = user;
  return r;
}

TEST(SplitRoute, PickCoversTheCumulativeWeights) {
  EXPECT_EQ(SplitRoute::pick({90, 10}, 0.0), 0u);
  EXPECT_EQ(SplitRoute::pick({90, 10}, 0.8999), 0u);
  EXPECT_EQ(SplitRoute::pick({90, 10}, 0.9001), 1u);
  EXPECT_EQ(SplitRoute::pick({90, 10}, 0.99999), 1u);
  EXPECT_EQ(SplitRoute::pick({0, 5, 0}, 0.5), 1u);
  EXPECT_EQ(SplitRoute::pick({-3, 1}, 0.1), 1u);  // negative counts as 0
  EXPECT_EQ(SplitRoute::pick({0, 0}, 0.7), 0u);   // all 0: the first child
}

TEST(SplitRoute, DistributionFollowsTheWeights) {
  Harness h(config(kCanary));
  auto& split = dynamic_cast<SplitRoute&>(h.route("canary"));
  EXPECT_EQ(split.kind(), "split/1");
  int to_b = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) to_b += split.choose(request("req_" + std::to_string(i))) == 1;
  // 10% expected; binomial sd is ~0.2%, so 1.5% is a wide but failing-capable tolerance.
  EXPECT_NEAR(static_cast<double>(to_b) / n, 0.10, 0.015);
}

TEST(SplitRoute, RunRecordsTheChoiceAndCallsThatChild) {
  Harness h(config(kCanary));
  auto& split = dynamic_cast<SplitRoute&>(h.route("canary"));
  // Find one request per child, then check run() agrees with choose().
  std::map<size_t, std::string> id_for;
  for (int i = 0; id_for.size() < 2 && i < 1000; ++i) {
    std::string id = "req_" + std::to_string(i);
    id_for.emplace(split.choose(request(id)), id);
  }
  ASSERT_EQ(id_for.size(), 2u);
  core::Trace trace;
  auto result = h.run("canary", request(id_for[1]), trace);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->content, "answer from b");
  EXPECT_EQ(h.fake("b").calls, 1);
  EXPECT_EQ(h.fake("a").calls, 0);
  ASSERT_FALSE(trace.spans.empty());
  EXPECT_EQ(trace.spans.front().kind, core::SpanKind::kRoute);
  EXPECT_EQ(trace.spans.front().name, "canary");
  EXPECT_EQ(trace.spans.front().detail, "-> b (weight 10/100, sticky none)");
}

TEST(SplitRoute, StickyUserKeepsOneUserOnOneChild) {
  Harness h(config(kCanary + "    sticky: user\n"));
  auto& split = dynamic_cast<SplitRoute&>(h.route("canary"));
  EXPECT_EQ(split.sticky(), Sticky::kUser);
  int users_on_b = 0;
  for (int u = 0; u < 2000; ++u) {
    const std::string user = "user-" + std::to_string(u);
    std::set<size_t> seen;
    for (int r = 0; r < 5; ++r) seen.insert(split.choose(request("req_" + std::to_string(r), user)));
    EXPECT_EQ(seen.size(), 1u) << user;
    users_on_b += *seen.begin() == 1;
  }
  EXPECT_NEAR(users_on_b / 2000.0, 0.10, 0.03);
  // Without a user, the request id decides: not every request lands on the same child.
  std::set<size_t> anonymous;
  for (int r = 0; r < 200; ++r) anonymous.insert(split.choose(request("req_" + std::to_string(r))));
  EXPECT_EQ(anonymous.size(), 2u);
}

TEST(SplitRoute, WeightsAreKnobs) {
  Harness h(config(kCanary + "    sticky: api_key\n"));
  Route& route = h.route("canary");
  auto& split = dynamic_cast<SplitRoute&>(route);
  std::vector<Knob*> knobs = knobs_of(route);
  ASSERT_EQ(knobs.size(), 2u);
  EXPECT_EQ(knobs[1]->name(), "children[1].weight");
  EXPECT_EQ(knobs[1]->get(), 10.0);
  knobs[1]->set(0.0);  // roll the canary back
  for (int i = 0; i < 500; ++i) {
    core::ChatRequest r = request("req_" + std::to_string(i));
    r.meta.api_key_id = "key_" + std::to_string(i);
    EXPECT_EQ(split.choose(r), 0u);
  }
  knobs[0]->set(0.0);
  knobs[1]->set(1.0);  // everything to the canary
  EXPECT_EQ(split.choose(request("req_1")), 1u);
  EXPECT_EQ(split.weight(1), 1.0);
}

TEST(SplitRoute, ValidationErrorsNameTheField) {
  const std::string negative = build_error(config(R"(  - name: s
    type: split
    children:
      - {route: a, weight: 90}
      - {route: b, weight: -1}
)"));
  EXPECT_NE(negative.find("routes[0].children[1].weight: must be >= 0, got -1"),
            std::string::npos)
      << negative;
  const std::string zero = build_error(config(R"(  - name: s
    type: split
    children:
      - {route: a, weight: 0}
)"));
  EXPECT_NE(zero.find("routes[0].children: every weight is 0"), std::string::npos) << zero;
  const std::string unknown = build_error(config(R"(  - name: s
    type: split
    children:
      - {route: c, weight: 1}
)"));
  EXPECT_NE(unknown.find("routes[0].children[0].route"), std::string::npos) << unknown;
  const std::string sticky = build_error(config(kCanary + "    sticky: usr\n"));
  EXPECT_NE(sticky.find("routes[0].sticky"), std::string::npos) << sticky;
  EXPECT_NE(sticky.find("user"), std::string::npos) << sticky;
  const std::string empty = build_error(config("  - {name: s, type: split, children: []}\n"));
  EXPECT_NE(empty.find("routes[0].children: a split needs at least one child"),
            std::string::npos)
      << empty;
  const std::string missing = build_error(config("  - {name: s, type: split, children: [{route: a}]}\n"));
  EXPECT_NE(missing.find("routes[0].children[0]"), std::string::npos) << missing;
  EXPECT_NE(missing.find("weight"), std::string::npos) << missing;
}

}  // namespace
}  // namespace triage::routes
