// Valid configs: every field lands in the struct, defaults apply, paths resolve, costs add up.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/capabilities.h"
#include "engine/builtins.h"

namespace triage::config {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFull = R"(# every field set
server:
  host: 0.0.0.0
  port: 9090
  threads: 4
  max_body_bytes: 8MiB
  request_timeout_ms: 30000
  shutdown_grace_ms: 5000
  idle_timeout_ms: 15000
  log_level: debug
store:
  type: sqlite
  path: data/traces.db
  queue_capacity: 1000
  batch_size: 64
  flush_interval_ms: 50
tiers: [faq, small, medium, large]
models:
  - name: gpt-4o
    provider: openai
    endpoint: https://api.openai.com/v1/
    api_key_env: OPENAI_API_KEY
    upstream_model: gpt-4o-2024-08-06
    tier: large
    prices: {input: 2.5, output: 10, cached_input: 1.25, per_call: 0.001}
    context_window: 128000
    timeout_ms: 20000
    max_concurrency: 32
    max_queue_ms: 100
    version: "2024-08-06"
    openai: {organization: org-123}
  - name: claude
    provider: anthropic
    endpoint: http://localhost:8081
    api_key_env: ANTHROPIC_API_KEY
    tier: medium
    prices: {input: 3, output: 15}
    anthropic: {version: "2023-01-01", default_max_tokens: 2048}
  - name: mixtral
    provider: replay
    tier: small
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
    tier: faq
    local:
      model_path: /opt/models/faq.ftz
      answers:
        billing: "See {label} docs"
        refund: Refunds take 5 days.
      default_answer: "I don't know"
routes:
  - name: support
    type: cascade
    children: [faq-bot, mixtral, gpt-4o]
  - name: cheap
    type: model
    model: mixtral
reference_model: claude
)";

TEST(Config, FullConfigParsesIntoStructs) {
  const Config c = parse_config(kFull, "/etc/triage/triage.yaml");
  EXPECT_EQ(c.path, "/etc/triage/triage.yaml");
  EXPECT_EQ(c.dir, "/etc/triage");

  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.max_body_bytes, 8 << 20);
  EXPECT_EQ(c.server.request_timeout_ms, 30000);
  EXPECT_EQ(c.server.shutdown_grace_ms, 5000);
  EXPECT_EQ(c.server.idle_timeout_ms, 15000);
  EXPECT_EQ(c.server.log_level, "debug");

  EXPECT_EQ(c.store.type, "sqlite");
  EXPECT_EQ(c.store.path, "/etc/triage/data/traces.db");
  EXPECT_EQ(c.store.queue_capacity, 1000);
  EXPECT_EQ(c.store.batch_size, 64);
  EXPECT_EQ(c.store.flush_interval_ms, 50);

  EXPECT_EQ(c.tiers, (std::vector<std::string>{"faq", "small", "medium", "large"}));
  EXPECT_EQ(c.tier_index("faq"), 0);
  EXPECT_EQ(c.tier_index("large"), 3);
  EXPECT_EQ(c.tier_index("huge"), -1);

  ASSERT_EQ(c.models.size(), 4u);
  const Model& o = c.models[0];
  EXPECT_EQ(o.name, "gpt-4o");
  EXPECT_EQ(o.provider, "openai");
  EXPECT_EQ(o.endpoint, "https://api.openai.com/v1");  // trailing slash dropped
  EXPECT_EQ(o.api_key_env, "OPENAI_API_KEY");
  EXPECT_EQ(o.upstream_model, "gpt-4o-2024-08-06");
  EXPECT_EQ(o.tier, "large");
  EXPECT_DOUBLE_EQ(o.prices.input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(o.prices.output_per_mtok, 10);
  EXPECT_DOUBLE_EQ(o.prices.cached_input_per_mtok, 1.25);
  EXPECT_DOUBLE_EQ(o.prices.per_call, 0.001);
  EXPECT_EQ(o.context_window, 128000);
  EXPECT_EQ(o.timeout_ms, 20000);
  EXPECT_EQ(o.max_concurrency, 32);
  EXPECT_EQ(o.max_queue_ms, 100);
  EXPECT_EQ(o.version, "2024-08-06");
  EXPECT_EQ(o.line, 19);
  // The provider's own block is kept as written, with its position, for the provider to read
  // (tests/unit/providers/provider_options_test.cc reads these same blocks).
  EXPECT_EQ(o.declaration.path, "models[0]");
  EXPECT_EQ(o.declaration.line, 19);
  EXPECT_EQ(o.options.path, "models[0].openai");
  EXPECT_EQ(o.options.line, 31);
  EXPECT_EQ(o.options.node["organization"].as<std::string>(), "org-123");

  const Model& a = c.models[1];
  EXPECT_EQ(a.endpoint, "http://localhost:8081");
  EXPECT_EQ(a.upstream_model, "claude");
  EXPECT_EQ(a.options.path, "models[1].anthropic");
  EXPECT_EQ(a.options.node["default_max_tokens"].as<int>(), 2048);
  EXPECT_DOUBLE_EQ(a.prices.cached_input_per_mtok, -1.0);

  const Model& r = c.models[2];
  EXPECT_EQ(r.options.path, "models[2].replay");
  EXPECT_EQ(r.options.line, 42);
  EXPECT_EQ(r.options.node["dataset"].as<std::string>(), "data/routellm.csv");  // as written
  EXPECT_TRUE(r.endpoint.empty());

  const Model& l = c.models[3];
  EXPECT_EQ(l.options.path, "models[3].local");
  EXPECT_EQ(l.options.node["answers"].size(), 2u);

  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].name, "support");
  EXPECT_EQ(c.routes[0].type, "cascade");
  EXPECT_EQ(c.routes[0].path, "routes[0]");
  EXPECT_EQ(c.routes[0].line, 62);
  EXPECT_EQ(c.routes[0].node["children"].size(), 3u);
  EXPECT_EQ(c.routes[1].node["model"].as<std::string>(), "mixtral");

  EXPECT_EQ(c.reference_model, "claude");
  ASSERT_NE(c.find_model("mixtral"), nullptr);
  EXPECT_EQ(c.find_model("mixtral")->provider, "replay");
  EXPECT_EQ(c.find_model("support"), nullptr);
  ASSERT_NE(c.find_route("cheap"), nullptr);
  EXPECT_EQ(c.find_route("cheap")->type, "model");
  EXPECT_EQ(c.find_route("gpt-4o"), nullptr);
}

TEST(Config, BusyPollCanBeSwitchedOff) {
  const Config c = parse_config(
      "server: {busy_poll_us: 0}\n"
      "models:\n"
      "  - {name: small, provider: openai, endpoint: http://127.0.0.1:8000/v1, prices: {input: 1, output: 1}}\n",
      "/srv/cfg/t.yaml");
  EXPECT_EQ(c.server.busy_poll_us, 0);
}

TEST(Config, DefaultsApply) {
  const Config c = parse_config(
      "models:\n"
      "  - name: small\n"
      "    provider: openai\n"
      "    endpoint: http://127.0.0.1:8000/v1\n"
      "    prices: {input: 0.15, output: 0.6}\n"
      "  - name: big\n"
      "    provider: anthropic\n"
      "    endpoint: https://api.anthropic.com/v1\n"
      "    prices: {input: 3, output: 15}\n"
      "  - name: same-output-cheaper-input\n"
      "    provider: replay\n"
      "    prices: {input: 1, output: 15}\n"
      "    replay: {dataset: x.csv, response_column: r}\n",
      "/srv/cfg/t.yaml");
  const ServerConfig server;
  EXPECT_EQ(c.server.host, server.host);
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.threads, 0);
  EXPECT_EQ(c.server.busy_poll_us, 200);
  EXPECT_EQ(c.server.max_body_bytes, 4 << 20);
  EXPECT_EQ(c.server.log_level, "info");
  EXPECT_EQ(c.store.type, "sqlite");
  EXPECT_EQ(c.store.path, "/srv/cfg/triage.db");
  EXPECT_EQ(c.store.queue_capacity, 100000);
  EXPECT_EQ(c.tiers, (std::vector<std::string>{"small", "medium", "large"}));
  EXPECT_TRUE(c.routes.empty());

  const Model& m = c.models[0];
  EXPECT_EQ(m.upstream_model, "small");
  EXPECT_EQ(m.tier, "medium");
  EXPECT_TRUE(m.api_key_env.empty());
  EXPECT_DOUBLE_EQ(m.prices.cached_input_per_mtok, -1.0);
  EXPECT_DOUBLE_EQ(m.prices.per_call, 0.0);
  EXPECT_EQ(m.context_window, 0);
  EXPECT_EQ(m.timeout_ms, 60000);
  EXPECT_EQ(m.max_concurrency, 0);
  EXPECT_EQ(m.max_queue_ms, 5000);
  // No `anthropic:` block: absent, at the model's line (the provider applies its defaults).
  EXPECT_FALSE(c.models[1].options.present());
  EXPECT_EQ(c.models[1].options.path, "models[1].anthropic");
  EXPECT_EQ(c.models[1].options.line, 6);

  // Highest output price wins; ties go to the higher input price.
  EXPECT_EQ(c.reference_model, "big");
}

TEST(Config, ReferenceTieGoesToFirstDeclared) {
  const Config c = parse_config(
      "models:\n"
      "  - {name: a, provider: local, local: {model_path: a.bin}}\n"
      "  - {name: b, provider: local, local: {model_path: b.bin}}\n",
      "t.yaml");
  EXPECT_EQ(c.reference_model, "a");
}

TEST(Config, MemoryStoreAndNoneStore) {
  const std::string models =
      "models:\n  - {name: a, provider: local, local: {model_path: a.bin}}\n";
  EXPECT_EQ(parse_config("store: {path: ':memory:'}\n" + models, "/x/t.yaml").store.path,
            ":memory:");
  EXPECT_EQ(parse_config("store: {type: none}\n" + models, "/x/t.yaml").store.type, "none");
}

TEST(Config, PostgresStoreTakesAUrlAndThePasswordsVariable) {
  const std::string models =
      "models:\n  - {name: a, provider: local, local: {model_path: a.bin}}\n";
  const Config c = parse_config(
      "store:\n  type: postgres\n  url: postgres://triage@db.internal:5432/triage\n"
      "  password_env: TRIAGE_PG_PASSWORD\n  batch_size: 256\n" +
          models,
      "/x/t.yaml");
  EXPECT_EQ(c.store.type, "postgres");
  EXPECT_EQ(c.store.url, "postgres://triage@db.internal:5432/triage");
  EXPECT_EQ(c.store.password_env, "TRIAGE_PG_PASSWORD");
  EXPECT_EQ(c.store.batch_size, 256);
  // A key=value connection string is a URL too (libpq takes both).
  EXPECT_EQ(parse_config("store: {type: postgres, url: 'host=db dbname=triage'}\n" + models,
                         "/x/t.yaml")
                .store.url,
            "host=db dbname=triage");
}

TEST(Config, BodySizesAcceptUnits) {
  const std::string models =
      "models:\n  - {name: a, provider: local, local: {model_path: a.bin}}\n";
  auto size = [&](const std::string& v) {
    return parse_config("server: {max_body_bytes: " + v + "}\n" + models, "t.yaml")
        .server.max_body_bytes;
  };
  EXPECT_EQ(size("1048576"), 1048576);
  EXPECT_EQ(size("512KiB"), 512 * 1024);
  EXPECT_EQ(size("'4 MiB'"), 4 << 20);
  EXPECT_EQ(size("1GB"), 1000000000);
  EXPECT_EQ(size("100kB"), 100000);
  EXPECT_THROW(size("0"), ConfigError);
  EXPECT_THROW(size("4XB"), ConfigError);
}

TEST(Config, ResolveAgainstConfigDirectory) {
  Config c;
  c.dir = "/etc/triage";
  EXPECT_EQ(c.resolve("data/x.csv"), "/etc/triage/data/x.csv");
  EXPECT_EQ(c.resolve("../datasets/x.csv"), "/etc/datasets/x.csv");
  EXPECT_EQ(c.resolve("/abs/x.csv"), "/abs/x.csv");
  EXPECT_EQ(c.resolve(""), "");

  // A relative config path gets an absolute directory, so later chdir()s do not matter.
  const Config rel = parse_config(
      "models:\n  - {name: a, provider: local, local: {model_path: m.bin}}\n", "examples/t.yaml");
  EXPECT_EQ(rel.dir, (fs::current_path() / "examples").string());
  EXPECT_EQ(rel.resolve("m.bin"), (fs::current_path() / "examples" / "m.bin").string());
}

TEST(Config, LoadConfigReadsTheFile) {
  const fs::path dir =
      fs::temp_directory_path() / ("triage_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "triage.yaml";
  {
    std::ofstream out(file);
    out << "models:\n  - name: a\n    provider: local\n    local: {model_path: m.ftz}\n";
  }
  const Config c = load_config(file.string());
  EXPECT_EQ(c.path, file.string());
  EXPECT_EQ(c.dir, dir.string());
  EXPECT_EQ(c.resolve("m.ftz"), (dir / "m.ftz").string());
  {
    std::ofstream out(file);
    out << "models:\n  - name: a\n    provider: locl\n";
  }
  try {
    engine::load_config(file.string());  // with the built-in providers
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), file.string() +
                                         ":3: models[0].provider: unknown provider 'locl' "
                                         "(known: openai, anthropic, replay, local)");
  }
  fs::remove_all(dir);
}

// Every shipped example must load: they are what users copy.
TEST(Config, ShippedExamplesLoad) {
  const fs::path examples = fs::path(TRIAGE_SOURCE_DIR) / "examples";
  if (!fs::exists(examples)) GTEST_SKIP() << "no examples/ directory";
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW({
      try {
        const Config c = engine::load_config(entry.path().string());  // providers' checks too
        EXPECT_FALSE(c.models.empty());
        EXPECT_NE(c.find_model(c.reference_model), nullptr);
      } catch (const ConfigError& e) {
        ADD_FAILURE() << e.what();
        throw;
      }
    });
    ++loaded;
  }
  EXPECT_GT(loaded, 0);
}

TEST(CostUsd, InputAndOutputPerMillion) {
  Prices p;
  p.input_per_mtok = 2.5;
  p.output_per_mtok = 10;
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000000, 0), 2.5);
  EXPECT_DOUBLE_EQ(cost_usd(p, 0, 1000000), 10.0);
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000, 500), 0.0025 + 0.005);
  EXPECT_DOUBLE_EQ(cost_usd(p, 0, 0), 0.0);
}

TEST(CostUsd, CachedInputUsesCachedPriceWhenSet) {
  Prices p;
  p.input_per_mtok = 2.5;
  p.output_per_mtok = 10;
  p.cached_input_per_mtok = 1.25;
  // 1000 prompt tokens of which 400 cached: 600 * 2.5 + 400 * 1.25 = 2000 per 1M.
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000, 0, 400), 0.002);
  p.cached_input_per_mtok = -1;  // not billed separately: cached tokens cost normal input
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000, 0, 400), 0.0025);
  p.cached_input_per_mtok = 0;  // free cache hits
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000, 0, 1000), 0.0);
}

TEST(CostUsd, PerCallAndClamping) {
  Prices p;
  p.input_per_mtok = 1;
  p.output_per_mtok = 2;
  p.per_call = 0.01;
  EXPECT_DOUBLE_EQ(cost_usd(p, 0, 0), 0.01);
  EXPECT_DOUBLE_EQ(cost_usd(p, 1000000, 1000000), 3.01);
  p.cached_input_per_mtok = 0.5;
  EXPECT_DOUBLE_EQ(cost_usd(p, 100, 0, 500), 0.01 + 100 * 0.5 / 1e6);  // cached capped at input
  EXPECT_DOUBLE_EQ(cost_usd(p, -5, -5, -5), 0.01);
}

}  // namespace
}  // namespace triage::config

namespace triage::config {
namespace {

TEST(ConfigCapabilities, DefaultsTakeEverythingAndUnknownLimitsAreNotEnforced) {
  Config cfg = parse_config(R"(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:9/v1"}
)", "t.yaml");
  const Model& m = cfg.models[0];
  EXPECT_TRUE(m.capabilities.tools && m.capabilities.images && m.capabilities.json_schema);
  EXPECT_EQ(m.max_output_tokens, 0);
  EXPECT_FALSE(m.cache);
  core::RequestNeeds huge{1'000'000, 100'000, true, true, true};
  EXPECT_FALSE(ineligibility(m, huge));
}

TEST(ConfigCapabilities, EachUnmetNeedIsNamedInOrder) {
  Config cfg = parse_config(R"(
models:
  - name: m
    provider: openai
    endpoint: "http://127.0.0.1:9/v1"
    context_window: 8000
    max_output_tokens: 1000
    capabilities: {tools: false, images: false, json_schema: false}
)", "t.yaml");
  const Model& m = cfg.models[0];
  EXPECT_EQ(ineligibility(m, {10, 0, true, true, true})->kind, core::SkipKind::kTools);
  EXPECT_EQ(ineligibility(m, {10, 0, false, true, true})->kind, core::SkipKind::kImages);
  EXPECT_EQ(ineligibility(m, {10, 0, false, false, true})->kind, core::SkipKind::kJsonSchema);
  EXPECT_EQ(ineligibility(m, {10, 2000, false, false, false})->kind, core::SkipKind::kMaxOutput);
  const auto ctx = ineligibility(m, {7500, 600, false, false, false});
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->kind, core::SkipKind::kContext);
  EXPECT_EQ(ctx->need, 8100);
  EXPECT_EQ(ctx->limit, 8000);
  EXPECT_FALSE(ineligibility(m, {7000, 1000, false, false, false}));
}

TEST(ConfigCache, RouteAndModelCacheBlocks) {
  Config cfg = parse_config(R"(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:9/v1", cache: {ttl_s: 30, max_entries: 10}}
routes:
  - name: r
    type: model
    model: m
    cache: {max_bytes: 1MiB, allow_sampling: true}
)", "t.yaml");
  ASSERT_TRUE(cfg.models[0].cache);
  EXPECT_EQ(cfg.models[0].cache->ttl_s, 30);
  EXPECT_EQ(cfg.models[0].cache->max_entries, 10);
  ASSERT_TRUE(cfg.routes[0].cache);
  EXPECT_EQ(cfg.routes[0].cache->max_bytes, 1 << 20);
  EXPECT_TRUE(cfg.routes[0].cache->allow_sampling);
  EXPECT_FALSE(cfg.routes[0].node["cache"]);  // kinds never see it
}

TEST(ConfigCache, UnknownCacheFieldIsAnError) {
  EXPECT_THROW(parse_config(R"(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:9/v1", cache: {ttl: 30}}
)", "t.yaml"), ConfigError);
}

}  // namespace
}  // namespace triage::config
