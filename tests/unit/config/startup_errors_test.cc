// Config mistakes that surface when the engine is built from a loaded config (route kinds and
// their children, provider files), as `triage serve` reports them at start-up: still
// "FILE:LINE: PATH: message", pointing at the field to fix, with a suggestion when a name is
// close to a known one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "engine/builtins.h"
#include "routes/route_table.h"

namespace triage::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const char kModels[] =
    "models:\n"
    "  - {name: small, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: small}\n"
    "  - {name: large, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", tier: large}\n";

// Loads `yaml` (written to a file, as serve does) with the built-in providers and builds the
// route table; returns the error message.
std::string startup_error(const std::string& yaml) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("triage_startup_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(file) << yaml;
  std::string message = "<no error>";
  try {
    const Config cfg = engine::load_config(file.string());
    providers::ProviderRegistry registry;
    engine::register_builtins(registry);
    (void)routes::RouteTable::build(cfg, registry, [](const char*) -> const char* { return nullptr; });
  } catch (const ConfigError& e) {
    message = e.what();
    const std::string prefix = file.string();
    if (message.rfind(prefix, 0) == 0) message = "t.yaml" + message.substr(prefix.size());
  }
  std::filesystem::remove(file);
  return message;
}

TEST(StartupErrors, UnknownRouteTypeSuggestsTheClosestKind) {
  EXPECT_EQ(startup_error(std::string(kModels) +
                          "routes:\n"
                          "  - name: support\n"
                          "    type: cascde\n"
                          "    steps: [small, large]\n"),
            "t.yaml:6: routes[0].type: unknown route type 'cascde' (did you mean 'cascade'?)");
  // Nothing close: the kinds are listed.
  EXPECT_THAT(startup_error(std::string(kModels) + "routes:\n  - {name: r, type: telepathy}\n"),
              AllOf(StartsWith("t.yaml:5: routes[0].type: unknown route type 'telepathy' (known: "),
                    HasSubstr("cascade"), HasSubstr("threshold")));
}

TEST(StartupErrors, UnknownChildSuggestsTheClosestRouteOrModel) {
  EXPECT_EQ(startup_error(std::string(kModels) +
                          "routes:\n"
                          "  - name: backup\n"
                          "    type: fallback\n"
                          "    children: [small, lareg]\n"),
            "t.yaml:7: routes[0].children[1]: unknown route or model 'lareg' (did you mean "
            "'large'?)");
  EXPECT_EQ(startup_error(std::string(kModels) +
                          "routes:\n"
                          "  - {name: cheap, type: model, model: small}\n"
                          "  - name: backup\n"
                          "    type: fallback\n"
                          "    children: [chaep, large]\n"),
            "t.yaml:8: routes[1].children[0]: unknown route or model 'chaep' (did you mean "
            "'cheap'?)");
  // A route declared further down is named as such.
  EXPECT_THAT(startup_error(std::string(kModels) +
                            "routes:\n"
                            "  - {name: backup, type: fallback, children: [later, large]}\n"
                            "  - {name: later, type: model, model: small}\n"),
              AllOf(StartsWith("t.yaml:5: routes[0].children[0]: unknown route or model 'later' "
                               "here: route 'later' (line 6) is not declared before this point"),
                    HasSubstr("declared earlier")));
}

TEST(StartupErrors, MissingModelFilePointsAtModelPath) {
  EXPECT_EQ(startup_error("models:\n"
                          "  - name: faq\n"
                          "    provider: local\n"
                          "    tier: small\n"
                          "    local:\n"
                          "      default_answer: \"{label}\"\n"
                          "      model_path: /nonexistent/faq.bin\n"),
            "t.yaml:7: models[0].local.model_path: model file /nonexistent/faq.bin of model 'faq' "
            "not found; run `make models` to train the shipped models");
}

TEST(StartupErrors, MissingReplayDatasetPointsAtDataset) {
  EXPECT_EQ(startup_error("models:\n"
                          "  - name: weak\n"
                          "    provider: replay\n"
                          "    replay:\n"
                          "      response_column: weak\n"
                          "      dataset: /nonexistent/d.csv\n"),
            "t.yaml:6: models[0].replay.dataset: dataset /nonexistent/d.csv of model 'weak' does "
            "not exist");
}

}  // namespace
}  // namespace triage::config
