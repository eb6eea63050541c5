// engine::register_builtins: every built-in provider, route kind and check is registered (what
// `serve` and `eval` both run), registering again changes nothing, and a route type or provider
// nobody registered is a config error that names it and where it was declared.
#include "engine/builtins.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "routes/check.h"
#include "routes/route_table.h"

namespace triage::engine {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kProviders = {"anthropic", "local", "openai", "replay"};
const std::vector<std::string> kRouteKinds = {"cascade", "classify", "ensemble", "fallback",
                                              "model",   "pipeline", "predict",  "retrieve",
                                              "rules",   "shadow",   "split",    "threshold"};
const std::vector<std::string> kChecks = {"agreement", "arithmetic", "final_answer", "json",
                                          "length",    "logprob",    "non_empty",    "refusal",
                                          "regex",     "scorer",     "similarity",   "verifier"};

std::vector<std::string> providers_in(const providers::ProviderRegistry& registry) {
  std::vector<std::string> found;
  for (const std::string& name : kProviders) {
    if (registry.find(name)) found.push_back(name);
  }
  return found;
}

// The message of the ConfigError that loading and building `yaml` throws, or "no error".
std::string build_error(const std::string& yaml) {
  try {
    const config::Config cfg = config::parse_config(yaml, "t.yaml");
    providers::ProviderRegistry registry;
    register_builtins(registry);
    routes::RouteTable::build(cfg, registry, [](const char*) -> const char* { return nullptr; });
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

const std::string kModels = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)";

TEST(Builtins, RegistersEveryProviderRouteKindAndCheck) {
  providers::ProviderRegistry registry;
  EXPECT_TRUE(providers_in(registry).empty());
  register_builtins(registry);
  EXPECT_EQ(providers_in(registry), kProviders);
  EXPECT_EQ(registry.find("opneai"), nullptr);
  EXPECT_EQ(routes::RouteTable::kind_names(), kRouteKinds);
  EXPECT_EQ(routes::CheckRegistry::types(), kChecks);
}

TEST(Builtins, RegisteringAgainChangesNothing) {
  providers::ProviderRegistry first, second;
  register_builtins(first);
  register_route_kinds_and_checks();
  register_builtins(second);
  EXPECT_EQ(providers_in(second), kProviders);
  EXPECT_EQ(routes::RouteTable::kind_names(), kRouteKinds);
  EXPECT_EQ(routes::CheckRegistry::types(), kChecks);
  // What the registries build still works: a cascade of two models with built-in checks.
  EXPECT_EQ(build_error(kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - {route: small, checks: [non_empty, final_answer]}
      - {route: large}
)"),
            "no error");
}

TEST(Builtins, AnUnknownRouteTypeIsAConfigErrorWithItsPath) {
  const std::string e = build_error(kModels + R"(
routes:
  - name: default
    type: thresold
    weak: small
    strong: large
)");
  EXPECT_EQ(e.rfind("t.yaml:", 0), 0u) << e;
  EXPECT_THAT(e, HasSubstr(": routes[0].type: unknown route type 'thresold'"));
  EXPECT_THAT(e, HasSubstr("threshold"));  // the kinds a user could have meant are named
}

TEST(Builtins, AnUnknownProviderIsAConfigErrorNamingIt) {
  const std::string e = build_error(R"(
models:
  - {name: small, provider: opneai, endpoint: "http://127.0.0.1:9/v1"}
)");
  EXPECT_THAT(e, HasSubstr("'opneai'"));
  EXPECT_THAT(e, HasSubstr("openai"));
}

}  // namespace
}  // namespace triage::engine
