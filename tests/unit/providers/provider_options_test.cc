// Each provider owns its options block: it reads its typed options from the YAML config keeps
// for it (defaults, path resolution), checks its rules about endpoint/api_key_env, and the
// registry applies those checks at load (as config's catalog) and again when it builds a client.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "providers/anthropic.h"
#include "providers/local.h"
#include "providers/openai.h"
#include "providers/provider.h"
#include "providers/replay.h"

namespace triage::providers {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kModels = R"(models:
  - name: gpt-4o
    provider: openai
    endpoint: https://api.openai.com/v1/
    openai: {organization: org-123}
  - name: claude
    provider: anthropic
    endpoint: http://localhost:8081
    anthropic: {version: "2023-01-01", default_max_tokens: 2048}
  - name: mixtral
    provider: replay
    replay:
      dataset: data/routellm.csv
      format: routellm
      response_column: weak_response
      prompt_column: question
      score_column: weak_score
      ttft_ms: 120.5
      tokens_per_s: 80
      jitter: 0.25
      synthesize_missing: yes
  - name: faq-bot
    provider: local
    local:
      model_path: /opt/models/faq.ftz
      answers:
        billing: "See {label} docs"
        refund: Refunds take 5 days.
      default_answer: "I don't know"
  - name: bare-claude
    provider: anthropic
    endpoint: https://api.anthropic.com/v1
  - name: bare-replay
    provider: replay
    replay: {dataset: x.csv, response_column: r}
)";

const ProviderRegistry& builtin() {
  static const ProviderRegistry r = [] {
    ProviderRegistry reg;
    register_builtin_providers(reg);
    return reg;
  }();
  return r;
}

TEST(ProviderOptions, EachProviderReadsItsOwnBlock) {
  const config::Config c = config::parse_config(kModels, "/etc/triage/triage.yaml", &builtin());
  EXPECT_EQ(parse_openai_options(c, c.models[0]).organization, "org-123");

  const AnthropicOptions a = parse_anthropic_options(c, c.models[1]);
  EXPECT_EQ(a.version, "2023-01-01");
  EXPECT_EQ(a.default_max_tokens, 2048);

  const ReplayOptions r = parse_replay_options(c, c.models[2]);
  EXPECT_EQ(r.dataset, "/etc/triage/data/routellm.csv");  // against the config's directory
  EXPECT_EQ(r.format, "routellm");
  EXPECT_EQ(r.response_column, "weak_response");
  EXPECT_EQ(r.prompt_column, "question");
  EXPECT_EQ(r.score_column, "weak_score");
  EXPECT_DOUBLE_EQ(r.ttft_ms, 120.5);
  EXPECT_DOUBLE_EQ(r.tokens_per_s, 80);
  EXPECT_DOUBLE_EQ(r.jitter, 0.25);
  EXPECT_TRUE(r.synthesize_missing);

  const LocalOptions l = parse_local_options(c, c.models[3]);
  EXPECT_EQ(l.model_path, "/opt/models/faq.ftz");
  EXPECT_EQ(l.answers.size(), 2u);
  EXPECT_EQ(l.answers.at("billing"), "See {label} docs");
  EXPECT_EQ(l.answers.at("refund"), "Refunds take 5 days.");
  EXPECT_EQ(l.default_answer, "I don't know");
}

TEST(ProviderOptions, DefaultsApplyWithoutABlock) {
  const config::Config c = config::parse_config(kModels, "/srv/cfg/t.yaml", &builtin());
  const AnthropicOptions a = parse_anthropic_options(c, c.models[4]);
  EXPECT_EQ(a.version, "2023-06-01");
  EXPECT_EQ(a.default_max_tokens, 1024);
  EXPECT_TRUE(parse_openai_options(c, config::Model{}).organization.empty());
  const ReplayOptions r = parse_replay_options(c, c.models[5]);
  EXPECT_EQ(r.dataset, "/srv/cfg/x.csv");
  EXPECT_EQ(r.format, "auto");
  EXPECT_EQ(r.prompt_column, "prompt");
  EXPECT_FALSE(r.synthesize_missing);
}

TEST(ProviderOptions, RelativePathsResolveAgainstAConfigGivenByARelativePath) {
  const config::Config rel = config::parse_config(
      "models:\n  - {name: a, provider: local, local: {model_path: m.bin}}\n", "examples/t.yaml",
      &builtin());
  EXPECT_EQ(parse_local_options(rel, rel.models[0]).model_path,
            (std::filesystem::current_path() / "examples" / "m.bin").string());
}

TEST(ProviderOptions, SetReplayDatasetLeavesTheOriginalAndKeepsPositions) {
  const config::Config c = config::parse_config(kModels, "/etc/triage/triage.yaml", &builtin());
  config::Model m = c.models[2];
  set_replay_dataset(m, "/data/eval.csv");
  EXPECT_EQ(parse_replay_options(c, m).dataset, "/data/eval.csv");
  EXPECT_EQ(parse_replay_options(c, m).response_column, "weak_response");
  EXPECT_EQ(parse_replay_options(c, c.models[2]).dataset, "/etc/triage/data/routellm.csv");
  // The other fields keep their positions: an error in one still names its line.
  const config::Config bad = config::parse_config(
      "models:\n"
      "  - name: a\n"
      "    provider: replay\n"
      "    replay:\n"
      "      dataset: d.csv\n"
      "      response_column: r\n"
      "      jitter: 2\n",
      "t.yaml");  // no catalog: the block is not checked at load
  config::Model moved = bad.models[0];
  set_replay_dataset(moved, "/data/eval.csv");
  try {
    (void)parse_replay_options(bad, moved);
    FAIL() << "expected a ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "t.yaml:7: models[0].replay.jitter: must be between 0 and 1, got 2");
  }
}

TEST(ProviderRegistry, CreateChecksTheModelFirstEvenWithoutTheCatalogAtLoad) {
  // Loaded without a catalog: the registry still refuses what the loader would have.
  const config::Config c = config::parse_config(
      "models:\n"
      "  - name: a\n"
      "    provider: replay\n"
      "    endpoint: http://x\n"
      "    replay: {dataset: d.csv, response_column: r}\n"
      "  - name: b\n"
      "    provider: opnai\n",
      "t.yaml");
  auto env = [](const char*) -> const char* { return nullptr; };
  try {
    (void)builtin().create(c, c.models[0], env);
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "t.yaml:4: models[0].endpoint: provider 'replay' does not call a URL; remove "
              "'endpoint'");
  }
  try {
    (void)builtin().create(c, c.models[1], env);
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "t.yaml:7: models[1].provider: unknown provider 'opnai' (known: openai, "
              "anthropic, replay, local)");
  }
}

TEST(ProviderRegistry, ReplacingTheFactoryKeepsTheCheck) {
  ProviderRegistry reg;
  register_builtin_providers(reg);
  int built = 0;
  reg.add("replay", [&built](const config::Config&, const config::Model&, const EnvLookup&)
                        -> std::unique_ptr<ModelClient> {
    ++built;
    return nullptr;
  });
  EXPECT_EQ(reg.provider_names(),
            (std::vector<std::string>{"openai", "anthropic", "replay", "local"}));
  const config::Config c = config::parse_config(
      "models:\n  - {name: a, provider: replay, replay: {dataset: d.csv}}\n", "t.yaml");
  auto env = [](const char*) -> const char* { return nullptr; };
  EXPECT_THROW((void)reg.create(c, c.models[0], env), config::ConfigError);  // no response_column
  EXPECT_EQ(built, 0);
  // A provider registered with a factory only has no check.
  reg.add("fake", [&built](const config::Config&, const config::Model&, const EnvLookup&)
                      -> std::unique_ptr<ModelClient> {
    ++built;
    return nullptr;
  });
  const config::Config f =
      config::parse_config("models:\n  - {name: a, provider: fake, fake: {anything: 1}}\n", "t.yaml");
  (void)reg.create(f, f.models[0], env);
  EXPECT_EQ(built, 1);
}

}  // namespace
}  // namespace triage::providers
