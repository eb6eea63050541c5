// Broken configs: every error names file, line and field path, and says how to fix it. Loaded
// as `serve` and `eval` load them: with the built-in providers' catalog, so the providers' own
// checks (their options blocks, endpoint/api_key_env rules) answer exactly as the loader did
// when it listed them itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "config/config.h"
#include "config/yaml_util.h"
#include "providers/provider.h"

namespace triage::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct BrokenCase {
  const char* name;
  const char* yaml;
  const char* where;  // "triage.yaml:LINE: PATH: " the message must start with
  const char* what;   // a substring the message must contain
};

const providers::ProviderRegistry& builtin_providers() {
  static const providers::ProviderRegistry registry = [] {
    providers::ProviderRegistry r;
    providers::register_builtin_providers(r);
    return r;
  }();
  return registry;
}

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "triage.yaml", &builtin_providers());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

// Without a catalog (config alone, e.g. `triage report`): names and blocks as written.
std::string error_without_catalog(const std::string& yaml) {
  try {
    parse_config(yaml, "triage.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }

class BrokenConfig : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenConfig, NamesFileLineAndPath) {
  const BrokenCase& c = GetParam();
  const std::string msg = error_of(c.yaml);
  EXPECT_THAT(msg, StartsWith(c.where)) << c.yaml;
  EXPECT_THAT(msg, HasSubstr(c.what)) << c.yaml;
  if (std::getenv("TRIAGE_PRINT_ERRORS")) std::cout << msg << "\n";
}

const BrokenCase kCases[] = {
    {"UnknownModelKind",
     "models:\n"
     "  - {name: a, provider: openai, endpoint: \"http://x/v1\", kind: embeding}\n",
     "triage.yaml:2: models[0].kind: ", "embedding"},
    {"EmbeddingModelNeedsTheOpenAIProvider",
     "models:\n"
     "  - {name: a, provider: anthropic, endpoint: \"http://x/v1\", kind: embedding}\n",
     "triage.yaml:2: models[0].kind: ", "embedding models must use provider: openai"},
    {"ChatModelCannotOverflowToAnEmbeddingModel",
     "models:\n"
     "  - {name: a, provider: openai, endpoint: \"http://x/v1\", overflow: e}\n"
     "  - {name: e, provider: openai, endpoint: \"http://x/v1\", kind: embedding}\n",
     "triage.yaml:2: models[0].overflow: ", "'e' is an embedding model"},
    {"UnknownFieldWithSuggestion",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    prics: {input: 1}\n"
     "    replay: {dataset: d.csv, response_column: r}\n",
     "triage.yaml:4: models[0].prics: ", "unknown field 'prics' (did you mean 'prices'?)"},
    {"UnknownTopLevelField", "server: {port: 1}\nmodles: []\n",
     "triage.yaml:2: modles: ", "unknown field 'modles' (did you mean 'models'?)"},
    {"UnknownFieldWithoutCloseMatchListsKnown", "server:\n  bananas: 3\n",
     "triage.yaml:2: server.bananas: ", "unknown field 'bananas' (known: host, port, threads"},
    {"UnknownNestedField",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay:\n"
     "      dataset: d.csv\n"
     "      response_column: r\n"
     "      jiter: 0.1\n",
     "triage.yaml:7: models[0].replay.jiter: ", "unknown field 'jiter' (did you mean 'jitter'?)"},
    {"PriceNotANumber",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay: {dataset: d.csv, response_column: r}\n"
     "    prices:\n"
     "      input: cheap\n",
     "triage.yaml:6: models[0].prices.input: ", "expected a number, got 'cheap'"},
    {"NegativePrice",
     "models:\n"
     "  - {name: a, provider: replay, replay: {dataset: d.csv, response_column: r}}\n"
     "  - name: b\n"
     "    provider: replay\n"
     "    replay: {dataset: d.csv, response_column: r}\n"
     "    prices: {output: -2}\n",
     "triage.yaml:6: models[1].prices.output: ", "must be >= 0, got -2"},
    {"PortNotAnInteger", "server:\n  port: 80.5\n",
     "triage.yaml:2: server.port: ", "expected a whole number, got '80.5'"},
    {"PortOutOfRange", "server:\n  port: 70000\n",
     "triage.yaml:2: server.port: ", "must be between 0 and 65535, got 70000"},
    {"BusyPollOutOfRange", "server:\n  busy_poll_us: 20000\n",
     "triage.yaml:2: server.busy_poll_us: ", "must be between 0 and 10000, got 20000"},
    {"ServerNotAMapping", "server: [1, 2]\n",
     "triage.yaml:1: server: ", "expected a mapping, got a list"},
    {"BadLogLevel", "server:\n  log_level: verbose\n", "triage.yaml:2: server.log_level: ",
     "unknown log_level 'verbose' (known: trace, debug, info, warn, error, off)"},
    {"BadBodySize", "server:\n  max_body_bytes: lots\n",
     "triage.yaml:2: server.max_body_bytes: ", "expected a size like"},
    {"BadStoreType", "store: {type: mysql}\n",
     "triage.yaml:1: store.type: ", "unknown type 'mysql' (known: sqlite, postgres, none)"},
    {"PostgresWithoutUrl", "store: {type: postgres}\n",
     "triage.yaml:1: store.type: ", "store type 'postgres' needs url: a connection URI"},
    {"PostgresUrlWithPassword",
     "store:\n  type: postgres\n  url: postgres://triage:hunter2@db:5432/triage\n",
     "triage.yaml:3: store.url: ", "must not contain the password"},
    {"PostgresConninfoWithPassword",
     "store:\n  type: postgres\n  url: host=db password=hunter2 dbname=triage\n",
     "triage.yaml:3: store.url: ", "put the name of the environment variable that holds it in "
     "store.password_env"},
    {"PostgresUrlNotAConnectionString", "store:\n  type: postgres\n  url: db.internal\n",
     "triage.yaml:3: store.url: ", "must be a PostgreSQL connection URI"},
    {"UrlForSqlite", "store:\n  url: postgres://db/triage\n",
     "triage.yaml:2: store.url: ", "is for store type 'postgres'"},
    {"PasswordEnvIsTheSecret",
     "store:\n  type: postgres\n  url: postgres://db/triage\n  password_env: hunter2\n",
     "triage.yaml:4: store.password_env: ", "must be an environment variable name"},
    {"TimeoutZero",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    timeout_ms: 0\n"
     "    replay: {dataset: d.csv, response_column: r}\n",
     "triage.yaml:4: models[0].timeout_ms: ", "must be > 0, got 0"},
    {"BoolExpected",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay:\n"
     "      dataset: d.csv\n"
     "      response_column: r\n"
     "      synthesize_missing: maybe\n",
     "triage.yaml:7: models[0].replay.synthesize_missing: ", "expected true or false, got 'maybe'"},
    {"JitterOutOfRange",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay: {dataset: d.csv, response_column: r, jitter: 1.5}\n",
     "triage.yaml:4: models[0].replay.jitter: ", "must be between 0 and 1, got 1.5"},
    {"MissingName",
     "models:\n  - provider: replay\n    replay: {dataset: d.csv, response_column: r}\n",
     "triage.yaml:2: models[0].name: ", "missing required field 'name'"},
    {"EmptyName", "models:\n  - name: ''\n    provider: local\n    local: {model_path: m.bin}\n",
     "triage.yaml:2: models[0].name: ", "must not be empty"},
    {"MissingProvider", "models:\n  - name: a\n",
     "triage.yaml:2: models[0].provider: ", "missing required field 'provider'"},
    {"BadProvider",
     "models:\n"
     "  - name: a\n"
     "    provider: opnai\n",
     "triage.yaml:3: models[0].provider: ",
     "unknown provider 'opnai' (known: openai, anthropic, replay, local)"},
    {"MissingEndpoint", "models:\n  - name: a\n    provider: openai\n",
     "triage.yaml:2: models[0].endpoint: ", "provider 'openai' needs the base URL"},
    {"BadUrlScheme",
     "models:\n"
     "  - name: a\n"
     "    provider: openai\n"
     "    endpoint: ftp://example.com/v1\n",
     "triage.yaml:4: models[0].endpoint: ", "must be an http:// or https:// URL"},
    {"UrlWithoutScheme",
     "models:\n"
     "  - name: a\n"
     "    provider: anthropic\n"
     "    endpoint: api.anthropic.com\n",
     "triage.yaml:4: models[0].endpoint: ",
     "must be an http:// or https:// URL, got 'api.anthropic.com'"},
    {"UrlBadPort",
     "models:\n"
     "  - name: a\n"
     "    provider: openai\n"
     "    endpoint: http://localhost:99999/v1\n",
     "triage.yaml:4: models[0].endpoint: ", "invalid port '99999'"},
    {"EndpointOnReplay",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    endpoint: http://x\n"
     "    replay: {dataset: d.csv, response_column: r}\n",
     "triage.yaml:4: models[0].endpoint: ", "does not call a URL"},
    {"KeyInsteadOfEnvName",
     "models:\n"
     "  - name: a\n"
     "    provider: openai\n"
     "    endpoint: https://api.openai.com/v1\n"
     "    api_key_env: sk-proj-abc123\n",
     "triage.yaml:5: models[0].api_key_env: ",
     "api_key_env takes the NAME of an environment variable, not the key itself"},
    {"BadEnvName",
     "models:\n"
     "  - name: a\n"
     "    provider: openai\n"
     "    endpoint: https://api.openai.com/v1\n"
     "    api_key_env: openai-key\n",
     "triage.yaml:5: models[0].api_key_env: ",
     "must be an environment variable name matching [A-Z_][A-Z0-9_]*"},
    {"DuplicateModelNames",
     "models:\n"
     "  - name: a\n"
     "    provider: local\n"
     "    local: {model_path: m.bin}\n"
     "  - name: a\n"
     "    provider: local\n"
     "    local: {model_path: m.bin}\n",
     "triage.yaml:5: models[1].name: ", "duplicate model name 'a' (first declared at line 2)"},
    {"EmptyModels", "models: []\n", "triage.yaml:1: models: ", "the list is empty"},
    {"MissingModels", "server: {port: 1}\n",
     "triage.yaml:1: models: ", "missing required field 'models'"},
    {"ModelsNotAList", "models: {a: 1}\n",
     "triage.yaml:1: models: ", "expected a list of models, got a mapping"},
    {"BadTier",
     "models:\n"
     "  - name: a\n"
     "    provider: local\n"
     "    tier: huge\n"
     "    local: {model_path: m.bin}\n",
     "triage.yaml:4: models[0].tier: ", "unknown tier 'huge' (known: small, medium, large;"},
    {"TierNotInCustomList",
     "tiers: [faq, cheap, strong]\n"
     "models:\n"
     "  - name: a\n"
     "    provider: local\n"
     "    local: {model_path: m.bin}\n",
     "triage.yaml:3: models[0].tier: ", "unknown tier 'medium' (known: faq, cheap, strong;"},
    {"DuplicateTier", "tiers:\n  - small\n  - small\n",
     "triage.yaml:3: tiers[1]: ", "duplicate tier 'small'"},
    {"MismatchedProviderBlock",
     "models:\n"
     "  - name: a\n"
     "    provider: openai\n"
     "    endpoint: https://api.openai.com/v1\n"
     "    anthropic: {version: x}\n",
     "triage.yaml:5: models[0].anthropic: ",
     "block 'anthropic' does not apply to provider 'openai'"},
    {"ReplayMissingDataset",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n",
     "triage.yaml:2: models[0].replay: ", "provider 'replay' needs a 'replay:' block"},
    {"ReplayBlockWithoutDataset",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay:\n"
     "      response_column: r\n",
     "triage.yaml:5: models[0].replay.dataset: ", "missing required field 'dataset'"},
    {"ReplayMissingResponseColumn",
     "models:\n"
     "  - name: a\n"
     "    provider: replay\n"
     "    replay:\n"
     "      dataset: d.csv\n",
     "triage.yaml:5: models[0].replay.response_column: ",
     "missing required field 'response_column'"},
    {"LocalMissingBlock", "models:\n  - name: a\n    provider: local\n",
     "triage.yaml:2: models[0].local: ", "provider 'local' needs a 'local:' block"},
    {"LocalMissingModelPath",
     "models:\n  - name: a\n    provider: local\n    local: {default_answer: x}\n",
     "triage.yaml:4: models[0].local.model_path: ", "missing required field 'model_path'"},
    // An unclosed flow is reported at its opening bracket, not where yaml-cpp gave up (the
    // next line, or past the end of the file).
    {"YamlSyntaxError", "models:\n  - name: a\n    provider: [local\n  - name: b\n",
     "triage.yaml:3: ", "invalid YAML: end of sequence flow not found (column 15: this '[' is "
     "never closed)"},
    {"YamlUnclosedListAtEnd", "server:\n  port: 1\nmodels: [\n", "triage.yaml:3: ",
     "(column 9: this '[' is never closed)"},
    {"YamlUnclosedMapBeforeNextKey", "server: {port: 1\nstore: {type: none}\n",
     "triage.yaml:1: ", "end of map flow not found (column 9: this '{' is never closed)"},
    {"YamlUnclosedInnerFlow", "tiers: [a, b]\nmodels: [{name: a, provider: local\n",
     "triage.yaml:2: ", "(column 10: this '{' is never closed)"},
    {"YamlBracketsInScalarsAndCommentsAreNotFlows",
     "# a [ in a comment\nserver: {host: 'x[y'}\nmodels: [\n  {name: a}\n",
     "triage.yaml:3: ", "(column 9: this '[' is never closed)"},
    {"YamlBadIndent", "server:\n  port: 1\n    host: x\n", "triage.yaml:3: ", "invalid YAML"},
    {"DuplicateKey", "server:\n  port: 1\n  port: 2\n",
     "triage.yaml:3: server.port: ", "duplicate field 'port' (first at line 2)"},
    {"EmptyDocument", "", "triage.yaml:1: ", "the config is empty"},
    {"TopLevelNotAMapping", "- a\n- b\n", "triage.yaml:1: ", "the top level must be a mapping"},
    {"RouteCollidesWithModel",
     "models:\n"
     "  - name: a\n"
     "    provider: local\n"
     "    local: {model_path: m.bin}\n"
     "routes:\n"
     "  - name: a\n"
     "    type: model\n",
     "triage.yaml:6: routes[0].name: ", "route name 'a' is already a model name (line 2)"},
    {"DuplicateRoute",
     "models:\n"
     "  - {name: a, provider: local, local: {model_path: m.bin}}\n"
     "routes:\n"
     "  - {name: r, type: model}\n"
     "  - name: r\n"
     "    type: model\n",
     "triage.yaml:5: routes[1].name: ", "duplicate route name 'r' (first declared at line 4)"},
    {"RouteMissingType",
     "models:\n"
     "  - {name: a, provider: local, local: {model_path: m.bin}}\n"
     "routes:\n"
     "  - name: r\n",
     "triage.yaml:4: routes[0].type: ", "missing required field 'type'"},
    {"UnknownReferenceModel",
     "models:\n"
     "  - {name: gpt-4o, provider: local, local: {model_path: m.bin}}\n"
     "reference_model: gpt4o\n",
     "triage.yaml:3: reference_model: ", "unknown model 'gpt4o' (did you mean 'gpt-4o'?)"},
    {"ListItemWrongType", "models:\n  - just-a-name\n",
     "triage.yaml:2: models[0]: ", "expected a mapping, got 'just-a-name'"},
};

INSTANTIATE_TEST_SUITE_P(Table, BrokenConfig, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigErrors, FullMessageFormat) {
  EXPECT_EQ(
      error_of("models:\n"
               "  - name: a\n"
               "    provider: opnai\n"),
      "triage.yaml:3: models[0].provider: unknown provider 'opnai' (known: openai, anthropic, "
      "replay, local)");
  EXPECT_EQ(error_of("models:\n"
                     "  - name: a\n"
                     "    provider: local\n"
                     "    local: {model_path: m.bin}\n"
                     "    prices:\n"
                     "      input: cheap\n"),
            "triage.yaml:6: models[0].prices.input: expected a number, got 'cheap'");
}

TEST(ConfigErrors, SecretIsNeverEchoed) {
  const std::string msg = error_of(
      "models:\n"
      "  - name: a\n"
      "    provider: openai\n"
      "    endpoint: https://api.openai.com/v1\n"
      "    api_key_env: sk-proj-SECRETSECRET123\n");
  EXPECT_THAT(msg, HasSubstr("not the key itself"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("SECRET")));
}

TEST(ConfigErrors, StorePasswordIsNeverEchoed) {
  for (const char* url : {"postgres://triage:hunter2@db:5432/triage",
                          "postgresql://triage:hunter2@db/triage?sslmode=require",
                          "host=db user=triage password=hunter2 dbname=triage"}) {
    const std::string msg = error_of(std::string("store:\n  type: postgres\n  url: '") + url + "'\n");
    EXPECT_THAT(msg, HasSubstr("store.password_env")) << url;
    EXPECT_THAT(msg, ::testing::Not(HasSubstr("hunter2"))) << url;
  }
}

TEST(ConfigErrors, LongOpaqueTokenLooksLikeAKey) {
  EXPECT_THAT(error_of("models:\n"
                       "  - name: a\n"
                       "    provider: anthropic\n"
                       "    endpoint: https://api.anthropic.com/v1\n"
                       "    api_key_env: ab12cd34ef56gh78ij90kl12mn34\n"),
              HasSubstr("not the key itself"));
}

TEST(ConfigErrors, YamlSyntaxErrorNamesTheLine) {
  const std::string msg = error_of("server:\n  port: 1\nmodels: [\n");
  EXPECT_THAT(msg, ::testing::MatchesRegex("triage\\.yaml:[0-9]+: invalid YAML: .*"));
}

TEST(ConfigErrors, WithoutACatalogProviderNamesAndBlocksAreTakenAsWritten) {
  // Any provider name; its block is not read here (the provider reads it when the client is
  // built: ProviderRegistry::create()).
  const Config c = parse_config(
      "models:\n"
      "  - name: a\n"
      "    provider: carrier-pigeon\n"
      "    carrier-pigeon: {birds: 3}\n",
      "triage.yaml");
  EXPECT_EQ(c.models[0].provider, "carrier-pigeon");
  EXPECT_EQ(c.models[0].options.path, "models[0].carrier-pigeon");
  EXPECT_EQ(c.models[0].options.line, 4);
  EXPECT_EQ(c.models[0].options.node["birds"].as<int>(), 3);
  // Another provider's block is still a key the model does not have.
  EXPECT_THAT(error_without_catalog("models:\n"
                                    "  - name: a\n"
                                    "    provider: openai\n"
                                    "    endpoint: https://api.openai.com/v1\n"
                                    "    replay: {dataset: d.csv}\n"),
              StartsWith("triage.yaml:5: models[0].replay: unknown field 'replay'"));
}

TEST(ConfigErrors, ACatalogNamesTheProvidersAndChecksEachModel) {
  // The loader's side of the contract, with a catalog that is not the built-in one.
  struct Catalog final : ProviderCatalog {
    std::vector<std::string> provider_names() const override { return {"pigeon", "owl"}; }
    void check_model(const Config& cfg, const Model& m) const override {
      checked.push_back(m.name);
      if (!m.options.present())
        fail_at(cfg.path, m.options.line, m.options.path, "needs its block");
    }
    mutable std::vector<std::string> checked;
  } catalog;
  auto error = [&](const std::string& yaml) {
    try {
      parse_config(yaml, "t.yaml", &catalog);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(error("models:\n  - {name: a, provider: pigeon, pigeon: {}}\n"
                  "  - {name: b, provider: owl, owl: {}}\n"),
            "<no error>");
  EXPECT_EQ(catalog.checked, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(error("models:\n  - {name: a, provider: crow}\n"),
            "t.yaml:2: models[0].provider: unknown provider 'crow' (known: pigeon, owl)");
  EXPECT_EQ(error("models:\n  - {name: a, provider: pigeon, pigeon: {}, owl: {}}\n"),
            "t.yaml:2: models[0].owl: block 'owl' does not apply to provider 'pigeon'; remove it "
            "or set provider: owl");
  EXPECT_EQ(error("models:\n  - name: a\n    provider: owl\n"),
            "t.yaml:2: models[0].owl: needs its block");
}

TEST(ConfigErrors, MissingFile) {
  try {
    load_config("/nonexistent/dir/triage.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith("/nonexistent/dir/triage.yaml: config file not found"));
  }
}

}  // namespace
}  // namespace triage::config
