// Limits shared by replicas (docs/security.md, "Limits across replicas"): two gateways on one
// Redis hold one key's requests per minute together; Redis killed gives each key's
// on_redis_error (503 closed, admitted open), counted in /metrics, and the gateways recover
// when it is back; an unreachable Redis fails start-up with the config's line.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "support/redis_server.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kUpstreamKey[] = "sk-test-UPSTREAM-5e7f1a9b3c";
constexpr char kRateKey[] = "rate-SECRET-6c1e9a2f4b70";
constexpr char kOpenKey[] = "open-SECRET-1f9b3c7a2e58";
constexpr char kBudgetKey[] = "budget-SECRET-83d0b6e1c4a9";
constexpr char kAdminToken[] = "admin-SECRET-redis-9a4c2e7f";

std::string config_yaml(int upstream_port, const std::string& db_path,
                        const std::string& redis_url) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         // Rows wait a minute for their commit unless something flushes the store: a restore
         // of spend after Redis comes back must commit them first, or it misses them.
         "store: {type: sqlite, path: " +
         db_path +
         ", flush_interval_ms: 60000}\n"
         "models:\n"
         "  - {name: up-small, provider: openai, endpoint: \"" +
         ep +
         "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: small, "
         "prices: {input: 0.1, output: 0.1}}\n"
         "auth:\n"
         "  admin_token_env: ADMIN_TOKEN\n"
         "  keys:\n"
         "    - {name: budget, secret_env: BUDGET_KEY, usd_per_day: 100}\n"
         "    - {name: rate, secret_env: RATE_KEY, requests_per_minute: 5}\n"
         "    - {name: open, secret_env: OPEN_KEY, requests_per_minute: 1000, "
         "on_redis_error: open}\n"
         "limits: {backend: redis, redis_url: \"" +
         redis_url + "\", key_prefix: \"it:\"}\n";
}

std::map<std::string, std::string> bearer(const std::string& secret) {
  return {{"content-type", "application/json"}, {"authorization", "Bearer " + secret}};
}

const std::string kBody = json::serialize(
    json::object{{"model", "up-small"},
                 {"max_tokens", 8},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", "hello"}}}}});

class RedisLimitsGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = RedisServer::start();
    if (!redis_) GTEST_SKIP() << RedisServer::kMissing;
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    for (int i = 0; i < 2; ++i) {
      // A named number: "t" + std::to_string(i) trips GCC 12's -Wrestrict (a false positive).
      const std::string n = std::to_string(i);
      const std::string path = dir_.file("triage" + n + ".yaml");
      write_file(path, config_yaml(up_.port(), dir_.file("t" + n + ".db"), redis_->url()));
      gateways_.push_back(std::make_unique<Gateway>(path, env()));
      ASSERT_GT(gateways_.back()->port(), 0) << gateways_.back()->process().stderr_text();
    }
  }
  static std::map<std::string, std::string> env() {
    return {{"TEST_UPSTREAM_KEY", kUpstreamKey}, {"RATE_KEY", kRateKey}, {"OPEN_KEY", kOpenKey},
            {"BUDGET_KEY", kBudgetKey},         {"ADMIN_TOKEN", kAdminToken}};
  }
  HttpResponse chat(int gateway, const std::string& secret) {
    return http_request(gateways_[static_cast<std::size_t>(gateway)]->port(), "POST",
                        "/v1/chat/completions", kBody, bearer(secret), Millis(10000));
  }
  std::string metrics(int gateway) {
    return http_request(gateways_[static_cast<std::size_t>(gateway)]->port(), "GET", "/metrics")
        .body;
  }

  // Today's spend of key `name` as gateway 0's GET /admin/keys reports it (Redis's counters).
  double usd_today(const std::string& name) {
    const HttpResponse listed =
        http_request(gateways_[0]->port(), "GET", "/admin/keys", "",
                     {{"authorization", std::string("Bearer ") + kAdminToken}});
    EXPECT_EQ(listed.status, 200) << listed.body;
    if (listed.status != 200) return -1;
    const json::value all = json::parse(listed.body);  // named: the loop reads into it
    for (const json::value& k : all.at("data").as_array()) {
      if (k.at("name").as_string() == name) {
        return k.at("spend").at("usd_today").to_number<double>();
      }
    }
    ADD_FAILURE() << "no key " << name << " in " << listed.body;
    return -1;
  }

  std::unique_ptr<RedisServer> redis_;
  Upstream up_;
  TempDir dir_;
  std::vector<std::unique_ptr<Gateway>> gateways_;
};

TEST_F(RedisLimitsGatewayTest, TwoGatewaysOnOneRedisShareAKeysRequestsPerMinute) {
  std::atomic<int> ok{0};
  std::atomic<int> limited{0};
  std::atomic<int> other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 2; ++i) {
        const HttpResponse r = chat(c % 2, kRateKey);
        (r.status == 200 ? ok : r.status == 429 ? limited : other).fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 5) << "the fleet admits the key's requests_per_minute, not 5 per gateway";
  EXPECT_EQ(limited.load(), 11);
  EXPECT_EQ(other.load(), 0);
  // Both gateways see the fleet's count.
  const HttpResponse refused = chat(0, kRateKey);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(refused.body.find("requests_per_minute"), std::string::npos) << refused.body;
}

TEST_F(RedisLimitsGatewayTest, RedisAwayRefusesClosedKeysAdmitsOpenOnesAndRecovers) {
  ASSERT_EQ(chat(0, kRateKey).status, 200);
  redis_->kill_now();
  const HttpResponse closed = chat(0, kRateKey);
  EXPECT_EQ(closed.status, 503) << closed.body;
  EXPECT_NE(closed.body.find("limit store for API key 'rate' is unreachable"), std::string::npos)
      << closed.body;
  EXPECT_EQ(closed.body.find("127.0.0.1"), std::string::npos) << "no internals: " << closed.body;
  const HttpResponse open = chat(0, kOpenKey);
  EXPECT_EQ(open.status, 200) << open.body;
  const std::string m = metrics(0);
  EXPECT_NE(m.find("triage_limit_backend_errors_total{backend=\"redis\",outcome=\"refused\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("triage_limit_backend_errors_total{backend=\"redis\",outcome=\"admitted_"
                   "uncounted\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("triage_limit_backend_up{backend=\"redis\"} 0"), std::string::npos);

  ASSERT_TRUE(redis_->restart());
  // The gateway reconnects by itself (every 0.5 s while away): bounded wait for a 200.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    status = chat(0, kRateKey).status;
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
  EXPECT_NE(metrics(0).find("triage_limit_backend_up{backend=\"redis\"} 1"), std::string::npos);
}

// Redis restarted without persistence loses every counter; the gateway notices the reconnect and
// raises each key's spend back to what its store holds, so a restart does not hand out a fresh
// daily budget (docs/security.md, "Limits across replicas").
TEST_F(RedisLimitsGatewayTest, ARestartedRedisGetsTheKeysSpendBackFromTheStore) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(chat(0, kBudgetKey).status, 200);
  const double before = usd_today("budget");
  ASSERT_GT(before, 0.0);
  redis_->kill_now();
  ASSERT_TRUE(redis_->restart());
  ASSERT_EQ(redis_->command({"DBSIZE"}), "0") << "the test's Redis keeps nothing over a restart";
  // Bounded wait: the first command after the restart reconnects and restores in the background.
  double after = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    after = usd_today("budget");
    if (after >= before - 1e-12) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NEAR(after, before, 1e-9) << "the day's spend was not restored after Redis lost it";
}

TEST(RedisLimitsStartupTest, AnUnreachableRedisFailsStartUpWithTheConfigLine) {
  Upstream up;
  TempDir dir;
  const std::string path = dir.file("triage.yaml");
  // Port 9 (discard) on loopback: nothing listens there.
  write_file(path, config_yaml(up.port(), dir.file("t.db"), "redis://127.0.0.1:9"));
  Gateway gw(path,
             {{"TEST_UPSTREAM_KEY", kUpstreamKey}, {"RATE_KEY", kRateKey}, {"OPEN_KEY", kOpenKey}});
  EXPECT_EQ(gw.port(), 0);
  gw.process().wait_output_closed(Millis(5000));
  const std::string err = gw.process().stderr_text();
  EXPECT_NE(err.find("limits.redis_url: cannot reach Redis at redis://127.0.0.1:9"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace triage::testing
