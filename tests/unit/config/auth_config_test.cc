// The `auth:` block (docs/security.md): keys by digest or env var, never plaintext; allow-lists
// checked against routes and models; secure by default (no auth: loopback only).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace triage::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kModels =
    "models:\n"
    "  - {name: small, provider: local, local: {model_path: m.bin}}\n"
    "  - {name: large, provider: local, local: {model_path: m.bin}}\n"
    "routes:\n"
    "  - {name: support, type: model, model: small}\n";
constexpr int kAuthLine = 6;  // the first line after kModels
constexpr const char* kHex64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

std::string error_of(const std::string& auth) {
  try {
    parse_config(std::string(kModels) + auth, "triage.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string at(int line_offset, const std::string& path) {
  return "triage.yaml:" + std::to_string(kAuthLine + line_offset) + ": " + path + ": ";
}

TEST(AuthConfig, ParsesKeysAndLimits) {
  const Config c = parse_config(std::string(kModels) +
                                    "auth:\n"
                                    "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
                                    "  keys:\n"
                                    "    - name: team-a\n"
                                    "      sha256: " +
                                    std::string(kHex64) +
                                    "\n"
                                    "      routes: [support]\n"
                                    "      models: [small]\n"
                                    "      cohort: search\n"
                                    "      requests_per_minute: 60\n"
                                    "      tokens_per_minute: 10000\n"
                                    "      usd_per_day: 1.5\n"
                                    "      usd_per_month: 20\n"
                                    "    - {name: team-b, secret_env: TEAM_B_KEY}\n",
                                "triage.yaml");
  ASSERT_TRUE(c.auth.has_value());
  EXPECT_EQ(c.auth->admin_token_env, "TRIAGE_ADMIN_TOKEN");
  ASSERT_EQ(c.auth->keys.size(), 2u);
  const ApiKeyConfig& a = c.auth->keys[0];
  EXPECT_EQ(a.name, "team-a");
  EXPECT_EQ(a.sha256_hex, kHex64);
  EXPECT_EQ(a.routes, std::vector<std::string>{"support"});
  EXPECT_EQ(a.models, std::vector<std::string>{"small"});
  EXPECT_EQ(a.cohort, "search");
  EXPECT_EQ(a.requests_per_minute, 60);
  EXPECT_EQ(a.tokens_per_minute, 10000);
  EXPECT_DOUBLE_EQ(a.usd_per_day, 1.5);
  EXPECT_DOUBLE_EQ(a.usd_per_month, 20);
  EXPECT_EQ(a.path, "auth.keys[0]");
  EXPECT_EQ(c.auth->keys[1].secret_env, "TEAM_B_KEY");
  EXPECT_EQ(c.auth->keys[1].requests_per_minute, 0);  // absent: unlimited
}

TEST(AuthConfig, AbsentBlockMeansNoAuth) {
  EXPECT_FALSE(parse_config(kModels, "triage.yaml").auth.has_value());
}

struct AuthCase {
  const char* name;
  const char* yaml;
  int line_offset;
  const char* path;
  const char* what;
};

void PrintTo(const AuthCase& c, std::ostream* os) { *os << c.name; }

class BrokenAuth : public ::testing::TestWithParam<AuthCase> {};

TEST_P(BrokenAuth, NamesFileLineAndPath) {
  const AuthCase& c = GetParam();
  const std::string msg = error_of(c.yaml);
  EXPECT_THAT(msg, StartsWith(at(c.line_offset, c.path))) << msg;
  EXPECT_THAT(msg, HasSubstr(c.what)) << msg;
}

const AuthCase kAuthCases[] = {
    {"PlaintextSecretRefused",
     "auth:\n  keys:\n    - name: a\n      secret: tri_0123456789abcdef0123456789\n", 3,
     "auth.keys[0].secret", "use"},
    {"PlaintextKeyFieldRefused",
     "auth:\n  keys:\n    - name: a\n      key: hunter2hunter2hunter2\n", 3, "auth.keys[0].key",
     "sha256: <64 hex digits>"},
    {"NoSecretAtAll", "auth:\n  keys:\n    - name: a\n", 2, "auth.keys[0]",
     "missing the key's secret"},
    {"BothSecrets",
     "auth:\n  keys:\n    - {name: a, sha256: "
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c"
     "15b0f00a08, secret_env: A_KEY}\n",
     2, "auth.keys[0]", "not both"},
    {"ShortDigest", "auth:\n  keys:\n    - name: a\n      sha256: abc123\n", 3,
     "auth.keys[0].sha256", "64 hex digits (got 6 characters)"},
    {"SecretInSecretEnv",
     "auth:\n  keys:\n    - name: a\n      secret_env: tri_0123456789abcdef0123456789\n", 3,
     "auth.keys[0].secret_env", "not the secret itself"},
    {"BadEnvName", "auth:\n  keys:\n    - name: a\n      secret_env: team-key\n", 3,
     "auth.keys[0].secret_env", "[A-Z_][A-Z0-9_]*"},
    {"AdminTokenIsAnEnvName", "auth:\n  admin_token_env: my token\n", 1, "auth.admin_token_env",
     "[A-Z_][A-Z0-9_]*"},
    {"UnknownRoute", "auth:\n  keys:\n    - {name: a, secret_env: A_KEY, routes: [suport]}\n", 2,
     "auth.keys[0].routes[0]", "unknown route 'suport' (did you mean 'support'?)"},
    {"UnknownModel", "auth:\n  keys:\n    - {name: a, secret_env: A_KEY, models: [medium]}\n", 2,
     "auth.keys[0].models[0]", "unknown model 'medium'"},
    {"NegativeBudget",
     "auth:\n  keys:\n    - name: a\n      secret_env: A_KEY\n      usd_per_day: -1\n", 4,
     "auth.keys[0].usd_per_day", "must be >= 0"},
    {"DuplicateName",
     "auth:\n  keys:\n    - {name: a, secret_env: A_KEY}\n    - {name: a, secret_env: B_KEY}\n", 3,
     "auth.keys[1].name", "duplicate key name 'a'"},
    {"UnknownField", "auth:\n  keys:\n    - {name: a, secret_env: A_KEY, rpm: 5}\n", 2,
     "auth.keys[0].rpm", "unknown field 'rpm'"},
    {"UnknownAuthField", "auth:\n  admin_token: X\n", 1, "auth.admin_token",
     "unknown field 'admin_token'"},
};

INSTANTIATE_TEST_SUITE_P(Table, BrokenAuth, ::testing::ValuesIn(kAuthCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AuthConfig, PlaintextIsNeverEchoed) {
  const std::string msg =
      error_of("auth:\n  keys:\n    - name: a\n      secret: tri_SECRETSECRETSECRET0000\n");
  EXPECT_THAT(msg, HasSubstr("sha256"));
  EXPECT_THAT(msg, HasSubstr("secret_env"));
  EXPECT_THAT(msg, Not(HasSubstr("SECRETSECRET")));
  EXPECT_THAT(error_of("auth:\n  keys:\n    - name: a\n      secret_env: tri_SECRETSECRET0000x\n"),
              Not(HasSubstr("SECRETSECRET")));
}

TEST(Exposure, LoopbackHosts) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "127.0.0.1.example.com", "1270.0.0.1",
                           "example.com", "127.0.0"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(Exposure, WithoutAuthOnlyLoopback) {
  Config c = parse_config(kModels, "triage.yaml");
  c.server.host = "127.0.0.1";
  EXPECT_NO_THROW(check_exposure(c));
  c.server.host = "0.0.0.0";
  try {
    check_exposure(c);
    FAIL() << "0.0.0.0 without auth must be refused";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith("triage.yaml: server.host: '0.0.0.0'"));
    EXPECT_THAT(e.what(), HasSubstr("auth:"));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1"));
  }
}

TEST(Exposure, WithAuthAnyHost) {
  Config c = parse_config(std::string(kModels) + "auth:\n  admin_token_env: TRIAGE_ADMIN\n",
                          "triage.yaml");
  c.server.host = "0.0.0.0";
  EXPECT_NO_THROW(check_exposure(c));
}

}  // namespace
}  // namespace triage::config
