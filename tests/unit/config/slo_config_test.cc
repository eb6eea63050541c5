// The `slos:` list: fields land in the structs, and every mistake is a FILE:LINE: PATH error,
// the knob's existence and range included (checked once the routes are built).
#include "config/slo_config.h"

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "engine/built_config.h"

namespace triage::config {
namespace {

const std::string kBase =
    "tiers: [small, medium]\n"
    "models:\n"
    "  - {name: s, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: small}\n"
    "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: medium}\n"
    "routes:\n"
    "  - name: main\n"
    "    type: split\n"
    "    children: [{route: s, weight: 90}, {route: m, weight: 10}]\n";

std::string error_of(const std::string& slos) {
  try {
    engine::build_config(kBase + slos, "t.yaml", [](const char*) -> const char* { return nullptr; });
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SloConfig, FieldsAndDefaults) {
  const Config cfg = parse_config(kBase +
                                      "slos:\n"
                                      "  - name: small-tier\n"
                                      "    scope: {tier: small}\n"
                                      "    target: 0.9\n"
                                      "    window_s: 30\n"
                                      "    min_requests: 40\n"
                                      "    mode: observe\n"
                                      "    action: {route: main, knob: \"children[1].weight\", "
                                      "toward: 90, step: 40, hold_s: 5, margin: 0.05}\n"
                                      "  - {name: route-main, scope: {route: main}, target: 0.95}\n"
                                      "slo_controller: {interval_ms: 50}\n",
                                  "t.yaml");
  ASSERT_EQ(cfg.slos.size(), 2u);
  const Slo& a = cfg.slos[0];
  EXPECT_EQ(a.name, "small-tier");
  EXPECT_EQ(a.scope, SloScope::kTier);
  EXPECT_EQ(a.scope_name, "small");
  EXPECT_DOUBLE_EQ(a.target, 0.9);
  EXPECT_EQ(a.window_s, 30);
  EXPECT_EQ(a.min_requests, 40);
  EXPECT_TRUE(a.observe);
  ASSERT_TRUE(a.action);
  EXPECT_EQ(a.action->knob, "children[1].weight");
  EXPECT_DOUBLE_EQ(a.action->toward, 90);
  EXPECT_DOUBLE_EQ(a.action->step, 40);
  EXPECT_EQ(a.action->hold_s, 5);
  EXPECT_DOUBLE_EQ(a.action->margin, 0.05);
  const Slo& b = cfg.slos[1];
  EXPECT_EQ(b.scope, SloScope::kRoute);
  EXPECT_EQ(b.window_s, 60);
  EXPECT_EQ(b.min_requests, 20);
  EXPECT_FALSE(b.observe);
  EXPECT_FALSE(b.action);
  EXPECT_EQ(cfg.slo_controller.interval_ms, 50);
}

TEST(SloConfig, MistakesNameTheFileLineAndField) {
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {tier: tiny}, target: 0.9}\n"),
            "t.yaml:10: slos[0].scope.tier: unknown tier 'tiny' (known: small, medium)");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {tier: small, model: s}, target: 0.9}\n"),
            "t.yaml:10: slos[0].scope: give exactly one of model, tier, route, router");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {model: x}, target: 0.9}\n"),
            "t.yaml:10: slos[0].scope.model: unknown model 'x' (did you mean 's'?)");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {router: nope}, target: 0.9}\n"),
            "t.yaml:10: slos[0].scope.router: unknown route 'nope' (known: main)");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {tier: small}, target: 1.5}\n"),
            "t.yaml:10: slos[0].target: must be between 0 and 1, got 1.5");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {tier: small}, target: 0.9}\n"
                     "  - {name: a, scope: {tier: small}, target: 0.9}\n"),
            "t.yaml:11: slos[1].name: duplicate SLO name 'a' (first declared at line 10)");
  EXPECT_EQ(error_of("slos:\n  - {name: a, scope: {tier: small}, target: 0.9, mode: watch}\n"),
            "t.yaml:10: slos[0].mode: unknown mode 'watch' (known: act, observe)");
  const std::string action = "slos:\n  - {name: a, scope: {tier: small}, target: 0.9, action: ";
  EXPECT_EQ(error_of(action + "{route: main, knob: \"children[1].weight\", toward: 90, step: 0}}\n"),
            "t.yaml:10: slos[0].action.step: must be > 0, got 0");
  EXPECT_EQ(error_of(action + "{route: main, knob: \"children[1].wieght\", toward: 90, step: 10}}\n"),
            "t.yaml:10: slos[0].action.knob: route 'main' has no knob 'children[1].wieght' (did "
            "you mean 'children[1].weight'?)");
  EXPECT_EQ(error_of(action + "{route: main, knob: \"children[1].weight\", toward: 150, step: 10}}\n"),
            "t.yaml:10: slos[0].action.toward: 150 is outside the knob's range [0, 100]");
  EXPECT_EQ(error_of(action + "{route: main, knob: \"children[1].weight\", toward: 90, step: 10}}\n"
                     "  - {name: b, scope: {tier: medium}, target: 0.9, action: {route: main, "
                     "knob: \"children[1].weight\", toward: 0, step: 10}}\n"),
            "t.yaml:11: slos[1].action: SLO 'a' already moves knob 'children[1].weight' of route "
            "'main'; one controller per knob");
  EXPECT_EQ(error_of(action + "{route: main, knob: \"children[1].weight\", toward: 90, step: 10}}\n"),
            "");
}

}  // namespace
}  // namespace triage::config
