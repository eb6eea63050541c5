// The `otel:` section (OTLP/HTTP JSON trace export).
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace triage::config {
namespace {

constexpr const char* kModels = R"(
models:
  - {name: m, provider: openai, endpoint: "http://127.0.0.1:1/v1", tier: small}
)";

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OtelConfig, AbsentMeansNoExportAndDefaultsApply) {
  EXPECT_FALSE(parse_config(kModels, "t.yaml").otel.has_value());

  for (const char* block : {"otel: {}\n", "otel:\n"}) {
    Config c = parse_config(std::string(block) + kModels, "t.yaml");
    ASSERT_TRUE(c.otel.has_value()) << block;
    EXPECT_EQ(c.otel->endpoint, "http://127.0.0.1:4318/v1/traces");
    EXPECT_EQ(c.otel->service_name, "triage");
    EXPECT_EQ(c.otel->batch_size, 256);
    EXPECT_EQ(c.otel->flush_interval_ms, 1000);
    EXPECT_EQ(c.otel->queue_capacity, 10000);
    EXPECT_EQ(c.otel->timeout_ms, 10000);
    EXPECT_TRUE(c.otel->headers.empty());
  }
}

TEST(OtelConfig, EveryField) {
  Config c = parse_config(std::string(R"(otel:
  endpoint: https://otlp.example.com/v1/traces
  service_name: triage-eu
  batch_size: 64
  flush_interval_ms: 250
  queue_capacity: 500
  timeout_ms: 3000
  headers: {Authorization: "${OTLP_TOKEN}", X-Scope-OrgID: team-a}
)") + kModels,
                          "t.yaml");
  ASSERT_TRUE(c.otel.has_value());
  EXPECT_EQ(c.otel->endpoint, "https://otlp.example.com/v1/traces");
  EXPECT_EQ(c.otel->service_name, "triage-eu");
  EXPECT_EQ(c.otel->batch_size, 64);
  EXPECT_EQ(c.otel->flush_interval_ms, 250);
  EXPECT_EQ(c.otel->queue_capacity, 500);
  EXPECT_EQ(c.otel->timeout_ms, 3000);
  EXPECT_EQ(c.otel->headers.at("Authorization"), "${OTLP_TOKEN}");
  EXPECT_EQ(c.otel->headers.at("X-Scope-OrgID"), "team-a");
}

TEST(OtelConfig, ErrorsNameTheLineAndPath) {
  EXPECT_EQ(error_of(std::string("otel:\n  endpont: http://x:4318/v1/traces\n") + kModels),
            "t.yaml:2: otel.endpont: unknown field 'endpont' (did you mean 'endpoint'?)");
  EXPECT_EQ(error_of(std::string("otel:\n  batch_size: 0\n") + kModels),
            "t.yaml:2: otel.batch_size: must be > 0, got 0");
  EXPECT_NE(error_of(std::string("otel:\n  endpoint: grpc://x:4317\n") + kModels)
                .find("t.yaml:2: otel.endpoint: must be an http:// or https:// URL"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("otel:\n  endpoint: http://x:4318/v1/traces?a=1\n") + kModels)
                .find("otel.endpoint: must not contain a query"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("otel:\n  service_name: \"\"\n") + kModels)
                .find("t.yaml:2: otel.service_name: must not be empty"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("otel:\n  headers:\n    Host: x\n") + kModels)
                .find("t.yaml:3: otel.headers.Host: header 'Host' is set by Triage"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("otel:\n  headers:\n    \"a b\": x\n") + kModels)
                .find("otel.headers.a b: invalid header name"),
            std::string::npos);
  EXPECT_NE(
      error_of(std::string("otel: [1]\n") + kModels).find("t.yaml:1: otel: expected a mapping"),
      std::string::npos);
}

}  // namespace
}  // namespace triage::config
