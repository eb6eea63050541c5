// Fleet numbers end to end (docs/scaling.md "Fleet numbers"): two real gateways on one shared
// SQLite file with store.config_poll_ms set, one SLO in observe mode. Traffic is split across
// both; GET /admin/slos on either reports the requests of both and that they came from two
// replicas. Polled (bounded): the counts travel through the store every config_poll_ms.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kAdminToken[] = "admin-TOKEN-fleet-test-41d0";
constexpr char kClientKey[] = "client-SECRET-fleet-test-9b2e";

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " +
         db_path +
         ", flush_interval_ms: 20, config_poll_ms: 100}\n"
         "tiers: [small]\n"
         "models:\n"
         "  - {name: small-m, provider: openai, endpoint: \"" +
         ep +
         "\", upstream_model: \"mode:tokens-3\", tier: small}\n"
         "routes:\n"
         "  - {name: main, type: model, model: small-m}\n"
         "slos:\n"
         "  - name: small-tier\n"
         "    scope: {tier: small}\n"
         "    target: 0.9\n"
         "    window_s: 300\n"
         "    min_requests: 10\n"
         "    mode: observe\n"
         "slo_controller: {interval_ms: 100}\n"
         "auth:\n"
         "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
         "  keys:\n"
         "    - {name: client, secret_env: CLIENT_KEY}\n";
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), dir_.file("shared.db")));
    const std::map<std::string, std::string> env{{"TRIAGE_ADMIN_TOKEN", kAdminToken},
                                                 {"CLIENT_KEY", kClientKey}};
    a_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), env);
    ASSERT_GT(a_->port(), 0) << a_->process().stderr_text();
    b_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), env);
    ASSERT_GT(b_->port(), 0) << b_->process().stderr_text();
  }
  // `n` chat requests to `port`; how many were answered 200.
  static int send(int port, int n) {
    int ok = 0;
    const std::string body =
        R"({"model":"main","messages":[{"role":"user","content":"hello there"}]})";
    for (int i = 0; i < n; ++i) {
      HttpResponse r = http_request(port, "POST", "/v1/chat/completions", body,
                                    {{"content-type", "application/json"},
                                     {"authorization", std::string("Bearer ") + kClientKey}});
      if (r.status == 200) ++ok;
    }
    return ok;
  }
  static json::object slo(int port) {
    const HttpResponse r = http_request(port, "GET", "/admin/slos", "",
                                        {{"authorization", std::string("Bearer ") + kAdminToken}});
    const json::value v = r.json();
    if (!v.is_object()) return {};
    return v.at("data").at(0).as_object();
  }
  // Polls GET /admin/slos on `port` until it reports `requests` from 2 replicas (bounded).
  static json::object wait_for_fleet(int port, int64_t requests) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    json::object last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = slo(port);
      if (!last.empty() && last.at("requests").to_number<int64_t>() == requests &&
          last.at("replicas").to_number<int64_t>() == 2) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a poll interval
    }
    return last;
  }

  TempDir dir_;
  Upstream up_{2};
  std::unique_ptr<Gateway> a_, b_;
};

TEST_F(FleetTest, EitherReplicaReportsTheRequestsOfBoth) {
  ASSERT_EQ(send(a_->port(), 15), 15);
  ASSERT_EQ(send(b_->port(), 25), 25);
  for (int port : {a_->port(), b_->port()}) {
    const json::object s = wait_for_fleet(port, 40);
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.at("requests").to_number<int64_t>(), 40) << json::serialize(s);
    EXPECT_EQ(s.at("replicas").to_number<int64_t>(), 2) << json::serialize(s);
    EXPECT_DOUBLE_EQ(s.at("success_ratio").to_number<double>(), 1.0);
  }
  const std::string metrics = http_request(a_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("triage_fleet_replicas 2"), std::string::npos);
  EXPECT_NE(metrics.find("triage_fleet_publish_errors_total 0"), std::string::npos);
}

}  // namespace
}  // namespace triage::testing
