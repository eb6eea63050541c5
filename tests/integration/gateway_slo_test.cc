// Error budgets that move traffic (docs/slo.md), end to end: the real gateway over the real test
// upstream, whose small model starts failing 20% of its calls (fail-share-200 behind the
// run-time switch "small"). The small tier's success drops from 100% to ~80%; within its window
// the controller moves the split's knob toward the medium model (an event in the store and in
// GET /admin/knobs, who "controller:small-tier") and requests really go to the medium model
// more often; the position survives a gateway restart; when the upstream recovers, the
// controller moves the knob back.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kAdminToken[] = "admin-TOKEN-slo-test-7f3a";
constexpr char kClientKey[] = "client-SECRET-slo-test-2c9e";
constexpr char kKnob[] = "children[1].weight";

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  // No retries and no breaker on the small model: each failed call is one failed request.
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " + db_path + ", flush_interval_ms: 20}\n"
         "tiers: [small, medium]\n"
         "models:\n"
         "  - {name: small-m, provider: openai, endpoint: \"" + ep +
         "\", upstream_model: \"mode:tokens-3,error-500,fail-share-200,switch-small\", tier: small,"
         " retries: {max: 0}, breaker: {consecutive_failures: 0, failure_rate: 0}}\n"
         "  - {name: medium-m, provider: openai, endpoint: \"" + ep +
         "\", upstream_model: \"mode:tokens-3\", tier: medium}\n"
         "routes:\n"
         "  - name: main\n"
         "    type: split\n"
         "    children: [{route: small-m, weight: 90}, {route: medium-m, weight: 10}]\n"
         "slos:\n"
         "  - name: small-tier\n"
         "    scope: {tier: small}\n"
         "    target: 0.9\n"
         "    window_s: 3\n"
         "    min_requests: 30\n"
         "    action: {route: main, knob: \"children[1].weight\", toward: 90, step: 80, "
         "hold_s: 1, margin: 0.05}\n"
         "slo_controller: {interval_ms: 100}\n"
         "auth:\n"
         "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
         "  keys:\n"
         "    - {name: client, secret_env: CLIENT_KEY}\n";
}

// model -> requests stored at or after `since_ms`.
std::map<std::string, int> models_since(const std::string& path, int64_t since_ms) {
  std::map<std::string, int> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT COALESCE(model, ''), COUNT(*) FROM requests WHERE ts_ms >= ?1 "
                         "GROUP BY 1", -1, &s, nullptr);
  sqlite3_bind_int64(s, 1, since_ms);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    out[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_int(s, 1);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// (who, reason) of the stored knob events, oldest first.
std::vector<std::pair<std::string, std::string>> stored_events(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT who, reason FROM knob_events ORDER BY id", -1, &s, nullptr);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                     reinterpret_cast<const char*>(sqlite3_column_text(s, 1)));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

class SloTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    start_gateway();
  }
  void start_gateway() {
    gw_.reset();
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{
                                        {"TRIAGE_ADMIN_TOKEN", kAdminToken},
                                        {"CLIENT_KEY", kClientKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }
  HttpResponse admin(const std::string& target, const std::string& token = kAdminToken) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["authorization"] = "Bearer " + token;
    return http_request(gw_->port(), "GET", target, "", h, Millis(10000));
  }
  // The knob's entry in GET /admin/knobs.
  json::object knob() {
    const json::value listed = admin("/admin/knobs").json();
    for (const json::value& k : listed.at("data").as_array()) {
      if (k.at("route") == "main" && k.at("knob") == kKnob) return k.as_object();
    }
    ADD_FAILURE() << "no knob " << kKnob;
    return {};
  }
  double weight() { return knob().at("value").to_number<double>(); }
  // models_since(since_ms), polled until it counts `expected` requests or 10 s have passed.
  std::map<std::string, int> stored_models_since(int64_t since_ms, int expected) {
    std::map<std::string, int> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      out = models_since(db_path(), since_ms);
      int total = 0;
      for (const auto& [model, n] : out) total += n;
      if (total >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the store's flush interval
    }
    return out;
  }
  // `n` chat requests to the split route; returns how many were answered 200.
  int send(int n) {
    int ok = 0;
    const std::string body =
        R"({"model":"main","messages":[{"role":"user","content":"hello there"}]})";
    for (int i = 0; i < n; ++i) {
      HttpResponse r = http_request(gw_->port(), "POST", "/v1/chat/completions", body,
                                    {{"content-type", "application/json"},
                                     {"authorization", std::string("Bearer ") + kClientKey}});
      if (r.status == 200) ++ok;
    }
    return ok;
  }
  // Sends traffic until the knob is at `value` (polled between batches), up to `limit`.
  bool traffic_until(double value, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      send(20);
      if (weight() == value) return true;
    }
    return false;
  }
  void flip(const std::string& state) {
    ASSERT_EQ(http_request(up_.port(), "GET", "/_switch/small/" + state).status, 200);
  }

  TempDir dir_;
  Upstream up_{2};
  std::unique_ptr<Gateway> gw_;
};

TEST_F(SloTest, AFailingSmallTierMovesTrafficToMediumAndBackWhenItRecovers) {
  EXPECT_EQ(admin("/admin/slos", "").status, 401);
  // Healthy: every small call succeeds; the knob stays at the file's 10.
  EXPECT_EQ(send(60), 60);
  json::value slos = admin("/admin/slos").json();
  const json::object& small = slos.at("data").at(0).as_object();
  EXPECT_EQ(small.at("name"), "small-tier");
  EXPECT_GE(small.at("requests").to_number<int64_t>(), 30);
  EXPECT_DOUBLE_EQ(small.at("success_ratio").to_number<double>(), 1.0);
  EXPECT_DOUBLE_EQ(weight(), 10);
  // The rows reach the store on its writer's next flush: poll until all 60 are there (a read
  // right after the last answer may find none of them on a loaded machine).
  std::map<std::string, int> healthy = stored_models_since(0, 60);

  // The small model fails 20% of its calls: the controller moves the knob toward medium.
  flip("on");
  ASSERT_TRUE(traffic_until(90, std::chrono::seconds(15))) << admin("/admin/slos").body;
  json::object k = knob();
  EXPECT_EQ(k.at("set_by"), "controller:small-tier");
  const std::string reason(k.at("reason").as_string());
  EXPECT_EQ(reason.rfind("slo small-tier 0.", 0), 0u) << reason;
  EXPECT_NE(reason.find("< 0.90 over 3 s (n="), std::string::npos) << reason;
  const std::string metrics = http_request(gw_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("triage_slo_burn_rate{slo=\"small-tier\"}"), std::string::npos);

  // Requests really go to the medium model now: ~50% (90 of 180) instead of ~10%.
  const int64_t moved_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  send(200);
  std::map<std::string, int> after = stored_models_since(moved_ms, 200);
  const double healthy_share =
      healthy["medium-m"] / static_cast<double>(healthy["medium-m"] + healthy["small-m"]);
  const double moved_share =
      after["medium-m"] / static_cast<double>(after["medium-m"] + after["small-m"]);
  EXPECT_LT(healthy_share, 0.25);
  EXPECT_GT(moved_share, 0.35) << after["medium-m"] << " of " << after["medium-m"] + after["small-m"];

  // A restart resumes at the controller's position (the file's value is unchanged).
  start_gateway();
  k = knob();
  EXPECT_DOUBLE_EQ(k.at("value").to_number<double>(), 90);
  EXPECT_EQ(k.at("set_by"), "controller:small-tier");
  EXPECT_NE(std::string(k.at("reason").as_string()).find("restored after a restart"),
            std::string::npos);

  // The upstream recovers: back above target + margin for hold_s, the knob goes back.
  flip("off");
  ASSERT_TRUE(traffic_until(10, std::chrono::seconds(20))) << admin("/admin/slos").body;
  k = knob();
  EXPECT_NE(std::string(k.at("reason").as_string()).find("back toward the file's 10"),
            std::string::npos);

  // Every move is an event, in the store and in GET /admin/knobs.
  const auto events = stored_events(db_path());
  ASSERT_EQ(events.size(), 3u);
  for (const auto& [who, why] : events) EXPECT_EQ(who, "controller:small-tier") << why;
  const json::value listed = admin("/admin/knobs").json();
  EXPECT_EQ(listed.at("events").as_array().size(), 3u);
}

}  // namespace
}  // namespace triage::testing
