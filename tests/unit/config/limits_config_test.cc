// The `limits:` block (docs/security.md, "Limits across replicas"): memory by default, Redis by
// URL or env var (never a password in the file), on_redis_error defaulting to closed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace triage::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kBase =
    "models:\n"
    "  - {name: small, provider: local, local: {model_path: m.bin}}\n"
    "auth:\n"
    "  keys:\n"
    "    - {name: team-a, secret_env: TEAM_A_KEY, requests_per_minute: 5}\n"
    "    - {name: team-b, secret_env: TEAM_B_KEY, on_redis_error: open}\n";
constexpr int kLimitsLine = 7;  // the first line after kBase

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "triage.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(LimitsConfig, MemoryByDefaultAndClosedOnRedisErrors) {
  const Config c = parse_config(kBase, "triage.yaml");
  EXPECT_EQ(c.limits.backend, LimitsConfig::Backend::kMemory);
  EXPECT_EQ(c.limits.on_redis_error, OnRedisError::kClosed);
  EXPECT_EQ(c.auth->keys[0].on_redis_error, OnRedisError::kDefault);
  EXPECT_EQ(c.auth->keys[1].on_redis_error, OnRedisError::kOpen);
}

TEST(LimitsConfig, ParsesTheRedisBackend) {
  const Config c =
      parse_config(std::string(kBase) +
                       "limits: {backend: redis, redis_url: \"redis://10.0.0.5:6380/1\", "
                       "key_prefix: \"fleet:\", on_redis_error: open}\n",
                   "triage.yaml");
  EXPECT_EQ(c.limits.backend, LimitsConfig::Backend::kRedis);
  EXPECT_EQ(c.limits.redis_url, "redis://10.0.0.5:6380/1");
  EXPECT_EQ(c.limits.key_prefix, "fleet:");
  EXPECT_EQ(c.limits.on_redis_error, OnRedisError::kOpen);
  EXPECT_EQ(c.limits.reservation_lease_ms, 3'600'000);
  EXPECT_EQ(c.limits.line, kLimitsLine);
  const Config e = parse_config(
      std::string(kBase) + "limits: {backend: redis, redis_url_env: TRIAGE_REDIS_URL}\n",
      "triage.yaml");
  EXPECT_EQ(e.limits.redis_url_env, "TRIAGE_REDIS_URL");
  const Config l = parse_config(std::string(kBase) +
                                    "limits: {backend: redis, redis_url: \"redis://h:1\", "
                                    "reservation_lease_ms: 600000}\n",
                                "triage.yaml");
  EXPECT_EQ(l.limits.reservation_lease_ms, 600'000);
}

TEST(LimitsConfig, BrokenBlocksNameFileLineAndPath) {
  const std::string at = "triage.yaml:" + std::to_string(kLimitsLine) + ": ";
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {backend: redis}\n"),
              HasSubstr(at + "limits.backend: backend: redis needs redis_url"));
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {backend: postgres}\n"),
              HasSubstr("limits.backend: unknown"));
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {backend: redis, redis_url: \"http://x\"}\n"),
              HasSubstr(at + "limits.redis_url: expected redis://HOST[:PORT][/DB]"));
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {redis_url: \"redis://h:1\"}\n"),
              HasSubstr("limits.redis_url: only used with backend: redis"));
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {backend: redis, on_redis_error: maybe, "
                                            "redis_url: \"redis://h:1\"}\n"),
              HasSubstr("limits.on_redis_error: unknown"));
  // A lease shorter than a request could last would charge live requests as dead ones.
  EXPECT_THAT(error_of(std::string(kBase) + "limits: {backend: redis, redis_url: \"redis://h:1\", "
                                            "reservation_lease_ms: 1000}\n"),
              HasSubstr(at + "limits.reservation_lease_ms"));
  EXPECT_THAT(error_of("models:\n  - {name: small, provider: local, local: {model_path: m.bin}}\n"
                       "limits: {backend: redis, redis_url: \"redis://h:1\"}\n"),
              HasSubstr("limits.backend: limits count the API keys of the auth: block"));
}

TEST(LimitsConfig, APasswordInTheFileIsRefusedAndNeverEchoed) {
  const std::string e = error_of(
      std::string(kBase) + "limits: {backend: redis, redis_url: \"redis://:hunter2@h:6379\"}\n");
  EXPECT_THAT(e, HasSubstr("limits.redis_url: a password does not belong in the config file"));
  EXPECT_THAT(e, HasSubstr("redis_url_env"));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace triage::config
