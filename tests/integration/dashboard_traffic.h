#pragma once
// The known traffic the dashboard tests send, one definition for every store backend
// (gateway_dashboard_test.cc on SQLite, gateway_postgres_test.cc on PostgreSQL), so that both
// check the same numbers. The upstream answers "echo: <last user message>", so a regex check
// on the answer decides a cascade step by what the prompt says: "easy" passes step 0,
// "medium" passes step 1.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>

#include "harness.h"

namespace triage::testing {

// `support` gets 5 easy, 3 medium and 2 hard questions (answered at steps 0, 1 and 2);
// `doomed` 2 easy ones (step 0) and 3 hard ones whose last step fails (502); plus 4 direct
// calls to up-small.
inline constexpr int64_t kDashboardRequests = 19;
inline constexpr int64_t kDashboardErrors = 3;

// The config: models up-small/medium/large (prices 1/2, 3/6, 10/30 per 1M tokens) and up-fail
// (always 500), routes `support` and `doomed`; `store_yaml` is the whole `store:` line.
inline std::string dashboard_config_yaml(int upstream_port, const std::string& store_yaml) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream, const std::string& tier,
                   const std::string& in, const std::string& out) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"" + upstream +
           "\", tier: " + tier + ", prices: {input: " + in + ", output: " + out + "}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n" + store_yaml + "\n" +
         "tiers: [small, medium, large]\n"
         "reference_model: up-large\n"
         // No retries: each doomed request fails up-fail once, so that its circuit (5 in a
         // row) stays closed and every doomed request reaches the upstream (502, not 503).
         "resilience: {retries: {max: 0}}\n"
         "models:\n" +
         model("up-small", "gpt-test", "small", "1", "2") +
         model("up-medium", "gpt-test", "medium", "3", "6") +
         model("up-large", "gpt-test", "large", "10", "30") +
         model("up-fail", "mode:error-500", "large", "10", "30") +
         "routes:\n"
         "  - name: support\n"
         "    type: cascade\n"
         "    steps:\n"
         "      - {route: up-small, checks: [{type: regex, must_match: easy}]}\n"
         "      - {route: up-medium, checks: [{type: regex, must_match: 'easy|medium'}]}\n"
         "      - {route: up-large}\n"
         "  - name: doomed\n"
         "    type: cascade\n"
         "    steps:\n"
         "      - {route: up-small, checks: [{type: regex, must_match: easy}]}\n"
         "      - {route: up-fail}\n";
}

// Sends one chat request to the gateway on `port`; its status.
inline int ask_chat(int port, const std::string& model, const std::string& text) {
  namespace json = boost::json;
  const json::object body{
      {"model", model},
      {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
  auto r = http_request(port, "POST", "/v1/chat/completions", json::serialize(body),
                        {{"content-type", "application/json"}}, Millis(10000));
  EXPECT_TRUE(r.complete) << r.error;
  return r.status;
}

// A trace reaches the store a moment after its response: polls the summary (which flushes the
// store's queue before reading) until it counts `n` requests, for at most 10 s.
inline void wait_for_dashboard_requests(int port, int64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int64_t seen = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = http_request(port, "GET", "/v1/dashboard/summary?from=0", {}, {}, Millis(10000));
    ASSERT_EQ(s.status, 200) << s.body;
    seen = s.json().at("requests").as_int64();
    if (seen == n) return;
  }
  FAIL() << "the dashboard counts " << seen << " of " << n << " requests after 10 s";
}

// Sends the known traffic and waits until the store has all of it.
inline void send_dashboard_traffic(int port) {
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(ask_chat(port, "support", "an easy one " + std::to_string(i)), 200);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(ask_chat(port, "support", "a medium one " + std::to_string(i)), 200);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(ask_chat(port, "support", "a hard one " + std::to_string(i)), 200);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(ask_chat(port, "doomed", "an easy one " + std::to_string(i)), 200);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(ask_chat(port, "doomed", "a hard one " + std::to_string(i)), 502);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(ask_chat(port, "up-small", "hello " + std::to_string(i)), 200);
  wait_for_dashboard_requests(port, kDashboardRequests);
}

}  // namespace triage::testing
