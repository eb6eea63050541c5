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
  // The typed record of the choice (what a rollout reads), not the span text.
  ASSERT_EQ(trace.split_choices.size(), 1u);
  EXPECT_EQ(trace.split_choices[0].route, "canary");
  EXPECT_EQ(trace.split_choices[0].child, "b");
}

const std::string kRollout = kCanary + R"(    rollout:
      candidate: b
      steps: [5, 50, 100]
      hold_s: 2.5
      min_requests: 30
      start: manual
      gates: {max_success_drop: 0.02, max_p95_ratio: 1.5}
)";

TEST(SplitRoute, RolloutBlockIsParsed) {
  Harness h(config(kRollout));
  auto& split = dynamic_cast<SplitRoute&>(h.route("canary"));
  const control::RolloutSpec* spec = split.rollout();
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->candidate, "b");
  EXPECT_EQ(spec->steps, (std::vector<double>{5, 50, 100}));
  EXPECT_EQ(spec->hold_ms, 2500);
  EXPECT_EQ(spec->min_requests, 30);
  EXPECT_TRUE(spec->manual_start);
  EXPECT_EQ(spec->evaluate_every_ms, 1000);
  EXPECT_EQ(spec->gates.max_success_drop, 0.02);
  EXPECT_EQ(spec->gates.max_p95_ratio, 1.5);
  EXPECT_FALSE(spec->gates.max_cost_ratio.has_value());
  EXPECT_FALSE(spec->gates.min_agreement.has_value());
  EXPECT_DOUBLE_EQ(split.config_weight(1), 10);
  Harness plain(config(kCanary));
  EXPECT_EQ(dynamic_cast<SplitRoute&>(plain.route("canary")).rollout(), nullptr);
}

TEST(SplitRoute, RolloutErrorsNameTheField) {
  auto error_of = [](const std::string& from, const std::string& to) {
    std::string text = kRollout;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    return build_error(config(text));
  };
  const std::string candidate = error_of("candidate: b", "candidate: c");
  EXPECT_NE(candidate.find(":12: routes[0].rollout.candidate: 'c' is not a child of this split "
                           "(children: a, b)"),
            std::string::npos)
      << candidate;
  const std::string order = error_of("[5, 50, 100]", "[5, 5, 100]");
  EXPECT_NE(order.find("routes[0].rollout.steps[1]: steps must increase"), std::string::npos)
      << order;
  const std::string last = error_of("[5, 50, 100]", "[5, 50]");
  EXPECT_NE(last.find("routes[0].rollout.steps[1]: the last step must be 100"), std::string::npos)
      << last;
  const std::string gates = error_of("{max_success_drop: 0.02, max_p95_ratio: 1.5}", "{}");
  EXPECT_NE(gates.find("routes[0].rollout.gates: a rollout needs at least one gate"),
            std::string::npos)
      << gates;
  const std::string typo = error_of("max_p95_ratio", "max_p59_ratio");
  EXPECT_NE(typo.find("routes[0].rollout.gates"), std::string::npos) << typo;
  EXPECT_NE(typo.find("max_p95_ratio"), std::string::npos) << typo;
  const std::string hold = error_of("hold_s: 2.5", "hold_s: 0");
  EXPECT_NE(hold.find("routes[0].rollout.hold_s: must be > 0"), std::string::npos) << hold;
  const std::string start = error_of("start: manual", "start: later");
  EXPECT_NE(start.find("routes[0].rollout.start"), std::string::npos) << start;
  // The others must be able to take the traffic back.
  const std::string others = error_of("{route: a, weight: 90}", "{route: a, weight: 0}");
  EXPECT_NE(others.find("routes[0].rollout.candidate: the other children's weights are all 0"),
            std::string::npos)
      << others;
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
