// The `resilience:` block and a model's retries / breaker / overflow / deployments.
#include <gtest/gtest.h>

#include "config/config.h"

namespace triage::config {
namespace {

const char* kBase = R"(
resilience:
  retries: {max: 3, base_ms: 100, cap_ms: 1000, budget_share: 0.5}
  breaker: {consecutive_failures: 7, cool_down_ms: 2000}
models:
  - name: a
    provider: openai
    endpoint: http://127.0.0.1:1/v1
    retries: {max: 0}
    overflow: b
    deployments:
      - {endpoint: "http://127.0.0.1:2/v1", region: eu, max_concurrency: 16}
      - {endpoint: "http://127.0.0.1:3/v1/", api_key_env: KEY_US, region: us}
  - name: b
    provider: openai
    endpoint: http://127.0.0.1:1/v1
)";

TEST(ResilienceConfig, DefaultsBlockThenPerModelOverrides) {
  Config cfg = parse_config(kBase, "t.yaml");
  const Model& a = *cfg.find_model("a");
  const Model& b = *cfg.find_model("b");
  EXPECT_EQ(a.resilience.retries.max, 0);
  EXPECT_EQ(a.resilience.retries.base_ms, 100);  // the rest from `resilience:`
  EXPECT_EQ(a.resilience.breaker.consecutive_failures, 7);
  EXPECT_EQ(b.resilience.retries.max, 3);
  EXPECT_DOUBLE_EQ(b.resilience.retries.budget_share, 0.5);
  EXPECT_EQ(b.resilience.breaker.cool_down_ms, 2000);
  EXPECT_EQ(b.resilience.breaker.min_calls, 20);  // the built-in default
  EXPECT_EQ(a.overflow, "b");
  ASSERT_EQ(a.deployments.size(), 2u);
  EXPECT_EQ(a.deployments[1].endpoint, "http://127.0.0.1:3/v1");
  EXPECT_EQ(a.deployments[1].api_key_env, "KEY_US");
  EXPECT_EQ(a.deployments[0].region, "eu");
  EXPECT_EQ(a.deployments[0].max_concurrency, 16);
  EXPECT_EQ(a.deployments[1].max_concurrency, 0);  // none of its own
  EXPECT_TRUE(b.deployments.empty());
}

TEST(ResilienceConfig, BuiltInDefaults) {
  Config cfg = parse_config("models:\n  - {name: a, provider: openai}\n", "t.yaml");
  const Resilience& r = cfg.find_model("a")->resilience;
  EXPECT_EQ(r.retries.max, 2);
  EXPECT_EQ(r.retries.base_ms, 250);
  EXPECT_EQ(r.retries.cap_ms, 4000);
  EXPECT_DOUBLE_EQ(r.retries.budget_share, 0.2);
  EXPECT_EQ(r.breaker.consecutive_failures, 5);
  EXPECT_EQ(r.breaker.cool_down_ms, 5000);
}

void expect_error(const std::string& yaml, const std::string& want) {
  try {
    parse_config(yaml, "t.yaml");
    ADD_FAILURE() << "no error, want " << want;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

TEST(ResilienceConfig, ErrorsNameTheField) {
  expect_error("models:\n  - {name: a, provider: openai, overflow: c}\n",
               "t.yaml:2: models[0].overflow: unknown model 'c'");
  expect_error("models:\n  - {name: a, provider: openai, overflow: a}\n",
               "a model cannot overflow to itself");
  expect_error("models:\n  - {name: a, provider: openai, retries: {max: -1}}\n",
               "models[0].retries.max");
  expect_error("models:\n  - {name: a, provider: openai, retries: {tries: 1}}\n",
               "models[0].retries");
  expect_error("resilience:\n  breaker: {failure_rate: 2}\nmodels:\n  - {name: a, provider: openai}\n",
               "resilience.breaker.failure_rate");
  expect_error("models:\n  - {name: a, provider: openai, deployments: []}\n",
               "models[0].deployments");
  expect_error("models:\n  - {name: a, provider: openai, deployments: "
               "[{endpoint: 'http://x/v1', max_concurrency: -2}]}\n",
               "models[0].deployments[0].max_concurrency");
}

}  // namespace
}  // namespace triage::config
