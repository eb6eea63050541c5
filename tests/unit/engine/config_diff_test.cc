// engine::diff_configs: what `triage config diff` reports between two built configs: models
// added, removed and re-priced or re-pointed, routes added, removed and changed, knob values.
#include "engine/config_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace triage::engine {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<BuiltConfig> build(const std::string& yaml) {
  return build_config(yaml, "t.yaml", [](const char*) -> const char* { return nullptr; });
}

std::vector<std::string> lines(const std::string& a, const std::string& b) {
  std::vector<std::string> out;
  for (const ConfigChange& c : diff_configs(*build(a), *build(b))) out.push_back(describe(c));
  return out;
}

const std::string kBase = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small,
     prices: {input: 0.15, output: 0.6}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large,
     prices: {input: 2.5, output: 10}}
routes:
  - name: canary
    type: split
    children:
      - {route: small, weight: 90}
      - {route: large, weight: 10}
  - {name: direct, type: model, model: small}
)";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(ConfigDiff, SameConfigHasNoChanges) { EXPECT_TRUE(lines(kBase, kBase).empty()); }

TEST(ConfigDiff, PricesAndEndpointOfAModel) {
  std::string next = replace(kBase, "input: 0.15", "input: 0.2");
  next = replace(next, R"(name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1")",
                 R"(name: large, provider: openai, endpoint: "http://127.0.0.1:10/v1")");
  EXPECT_THAT(lines(kBase, next),
              ElementsAre("model small: prices.input_per_mtok 0.15 -> 0.2",
                          "model large: endpoint http://127.0.0.1:9/v1 -> "
                          "http://127.0.0.1:10/v1"));
}

TEST(ConfigDiff, ModelsAndRoutesAddedAndRemoved) {
  std::string next = replace(kBase, "  - {name: direct, type: model, model: small}\n",
                             "  - {name: direct2, type: model, model: medium}\n");
  next = replace(next, "routes:\n",
                 "  - {name: medium, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", "
                 "tier: medium}\nroutes:\n");
  EXPECT_THAT(lines(kBase, next), ElementsAre("model added: medium", "route added: direct2",
                                              "route removed: direct"));
  EXPECT_THAT(lines(next, kBase), ElementsAre("model removed: medium", "route added: direct",
                                              "route removed: direct2"));
}

TEST(ConfigDiff, KnobValuesAndRouteDefinitions) {
  const std::string weights = replace(replace(kBase, "weight: 90", "weight: 50"), "weight: 10",
                                      "weight: 50");
  EXPECT_THAT(lines(kBase, weights),
              ElementsAre("route canary: knob children[0].weight 90 -> 50",
                          "route canary: knob children[1].weight 10 -> 50"));
  const std::string repointed = replace(kBase, "model: small}", "model: large}");
  EXPECT_THAT(lines(kBase, repointed), ElementsAre("route direct: definition changed"));
}

TEST(ConfigDiff, SlosAddedRemovedAndChanged) {
  const std::string slos = kBase + R"(tiers: [small, large]
slos:
  - name: small-tier
    scope: {tier: small}
    target: 0.9
    window_s: 60
    action: {route: canary, knob: "children[1].weight", toward: 90, step: 40}
  - {name: cheap, scope: {model: small}, target: 0.95}
)";
  const std::string base = kBase + "tiers: [small, large]\n";
  EXPECT_THAT(lines(base, slos), ElementsAre("slo added: small-tier", "slo added: cheap"));
  EXPECT_THAT(lines(slos, base), ElementsAre("slo removed: small-tier", "slo removed: cheap"));
  std::string next = replace(slos, "target: 0.9\n", "target: 0.92\n    mode: observe\n");
  next = replace(next, "step: 40", "step: 20");
  next = replace(next, "scope: {model: small}", "scope: {tier: large}");
  EXPECT_THAT(lines(slos, next),
              ElementsAre("slo small-tier: target 0.9 -> 0.92", "slo small-tier: mode act -> observe",
                          "slo small-tier: action canary children[1].weight toward 90 step 40 "
                          "hold_s 60 margin 0.02 -> canary children[1].weight toward 90 step 20 "
                          "hold_s 60 margin 0.02",
                          "slo cheap: scope model: small -> tier: large"));
}

}  // namespace
}  // namespace triage::engine
