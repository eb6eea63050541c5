// The dashboard's JSON API (/v1/dashboard/*) against the real gateway and the real test
// upstream, without a browser: known traffic through two cascades and direct model calls, then
// every endpoint's numbers against the traffic sent and against the store (read with SQLite
// directly, independently of the gateway's reader). The cascade funnel is filled from the
// cascades' typed span field (core::Span::cascade), never from their display text.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "dashboard_traffic.h"
#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};

class DashboardApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"),
               dashboard_config_yaml(up_.port(), "store: {type: sqlite, path: " + db_path() +
                                                     ", flush_interval_ms: 20}"));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), std::map<std::string, std::string>{
                                                                  {"TEST_UPSTREAM_KEY", "sk-t"}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }

  HttpResponse get(const std::string& target) {
    return http_request(gw_->port(), "GET", target, {}, {}, Millis(10000));
  }
  json::value get_json(const std::string& target) {
    auto r = get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    EXPECT_EQ(r.header("cache-control"), "no-store") << target;
    return r.json();
  }

  // One number from the store, read with SQLite itself.
  double store_value(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    double v = -1;
    if (s && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
  }
  std::vector<int64_t> store_column(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::vector<int64_t> out;
    while (s && sqlite3_step(s) == SQLITE_ROW) out.push_back(sqlite3_column_int64(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

  void send_traffic() { send_dashboard_traffic(gw_->port()); }
  static constexpr int64_t kRequests = kDashboardRequests;

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(DashboardApiTest, CascadeTrafficFillsTheFunnel) {
  send_traffic();
  const json::value f = get_json("/v1/dashboard/funnel?from=0");
  EXPECT_EQ(f.at("scanned").as_int64(), 15);  // the cascade requests; direct calls have none
  EXPECT_EQ(f.at("truncated").as_bool(), false);
  const json::array& routes = f.at("routes").as_array();
  ASSERT_EQ(routes.size(), 2u) << f;
  // Largest first. Per step: reached, stopped there, answered there.
  struct Step {
    std::string name;
    int64_t reached, stopped, answered;
  };
  auto expect_route = [](const json::value& r, const std::string& name, int64_t requests,
                         const std::vector<Step>& steps) {
    EXPECT_EQ(std::string(r.at("route").as_string()), name);
    EXPECT_EQ(r.at("requests").as_int64(), requests) << name;
    const json::array& got = r.at("steps").as_array();
    ASSERT_EQ(got.size(), steps.size()) << name << ": " << r;
    for (size_t i = 0; i < steps.size(); ++i) {
      const json::value& s = got[i];
      EXPECT_EQ(s.at("step").as_int64(), static_cast<int64_t>(i));
      EXPECT_EQ(std::string(s.at("name").as_string()), steps[i].name) << name << " step " << i;
      EXPECT_EQ(s.at("reached").as_int64(), steps[i].reached) << name << " step " << i;
      EXPECT_EQ(s.at("stopped").as_int64(), steps[i].stopped) << name << " step " << i;
      EXPECT_EQ(s.at("answered").as_int64(), steps[i].answered) << name << " step " << i;
    }
  };
  expect_route(routes[0], "support", 10,
               {{"up-small", 10, 5, 5}, {"up-medium", 5, 3, 3}, {"up-large", 2, 2, 2}});
  expect_route(routes[1], "doomed", 5, {{"up-small", 5, 2, 2}, {"up-fail", 3, 3, 0}});

  // The store holds the typed record the funnel counted (docs/store.md "spans").
  EXPECT_EQ(store_value("SELECT COUNT(*) FROM requests r, json_each(r.spans) s WHERE "
                        "json_extract(s.value, '$.cascade.outcome') = 'failed' AND "
                        "json_extract(s.value, '$.cascade.route') = 'up-fail'"),
            3);

  // A range without the traffic has no funnel.
  const json::value none = get_json("/v1/dashboard/funnel?from=0&to=1000");
  EXPECT_EQ(none.at("routes").as_array().size(), 0u);
  EXPECT_EQ(none.at("scanned").as_int64(), 0);
}

TEST_F(DashboardApiTest, SummaryModelsAndSeriesEqualTheStore) {
  send_traffic();
  const double cost = store_value("SELECT TOTAL(cost_usd) FROM requests");
  const double tokens_in = store_value("SELECT TOTAL(tokens_in) FROM requests");
  const double tokens_out = store_value("SELECT TOTAL(tokens_out) FROM requests");
  ASSERT_GT(cost, 0.0);

  const json::value s = get_json("/v1/dashboard/summary?from=0");
  EXPECT_EQ(s.at("requests").as_int64(), kRequests);
  EXPECT_EQ(s.at("errors").as_int64(), 3);
  EXPECT_DOUBLE_EQ(s.at("cost_usd").to_number<double>(), cost);
  EXPECT_DOUBLE_EQ(s.at("cpi_usd").to_number<double>(), cost / kRequests);
  EXPECT_EQ(s.at("tokens_in").as_int64(), static_cast<int64_t>(tokens_in));
  // The counterfactual: every token at up-large's prices ($10 / $30 per 1M).
  EXPECT_EQ(std::string(s.at("reference_model").as_string()), "up-large");
  const double counterfactual = (tokens_in * 10 + tokens_out * 30) / 1e6;
  EXPECT_NEAR(s.at("counterfactual_cost_usd").to_number<double>(), counterfactual,
              1e-12 * counterfactual);
  EXPECT_NEAR(s.at("savings_usd").to_number<double>(), counterfactual - cost,
              1e-12 * counterfactual);
  EXPECT_EQ(json::serialize(s.at("tiers")), R"(["small","medium","large"])");

  // Per model: the model that answered (or, for a failure, the last one tried).
  const json::value m = get_json("/v1/dashboard/models?from=0&slo=0.9");
  std::map<std::string, json::object> models;
  for (const json::value& row : m.at("models").as_array()) {
    models[std::string(row.at("model").as_string())] = row.as_object();
  }
  ASSERT_EQ(models.size(), 4u) << m;
  EXPECT_EQ(models["up-small"].at("requests").as_int64(), 5 + 2 + 4);
  EXPECT_EQ(models["up-medium"].at("requests").as_int64(), 3);
  EXPECT_EQ(models["up-large"].at("requests").as_int64(), 2);
  EXPECT_EQ(models["up-fail"].at("requests").as_int64(), 3);
  EXPECT_EQ(models["up-fail"].at("server_errors").as_int64(), 3);
  EXPECT_EQ(models["up-fail"].at("success_rate").to_number<double>(), 0.0);
  EXPECT_EQ(models["up-fail"].at("meets_slo").as_bool(), false);
  EXPECT_EQ(models["up-small"].at("success_rate").to_number<double>(), 1.0);
  EXPECT_EQ(models["up-small"].at("slo_target").to_number<double>(), 0.9);
  EXPECT_DOUBLE_EQ(models["up-medium"].at("cost_usd").to_number<double>(),
                   store_value("SELECT TOTAL(cost_usd) FROM requests WHERE model = 'up-medium'"));

  // Cost by route: the two cascades and the direct calls ("(none)").
  const json::value c =
      get_json("/v1/dashboard/timeseries?from=0&metric=cost&by=route&bucket=86400");
  EXPECT_EQ(std::string(c.at("by").as_string()), "route");
  std::map<std::string, int64_t> per_route;
  for (const json::value& series : c.at("series").as_array()) {
    int64_t n = 0;
    for (const json::value& v : series.at("requests").as_array()) n += v.as_int64();
    per_route[std::string(series.at("key").as_string())] = n;
  }
  EXPECT_EQ(per_route,
            (std::map<std::string, int64_t>{{"support", 10}, {"doomed", 5}, {"(none)", 4}}));

  // Latency over one bucket: the successful requests, percentiles by nearest rank (the one
  // definition, docs/store.md) of the store's total_us.
  const json::value l = get_json("/v1/dashboard/timeseries?from=0&metric=latency&bucket=86400");
  int64_t ok = 0;
  for (const json::value& v : l.at("requests").as_array()) ok += v.as_int64();
  EXPECT_EQ(ok, kRequests - 3);
  const std::vector<int64_t> totals =
      store_column("SELECT total_us FROM requests WHERE status < 400 ORDER BY total_us");
  ASSERT_EQ(totals.size(), static_cast<size_t>(kRequests - 3));
  if (l.at("buckets").as_array().size() == 1) {  // the traffic did not straddle a day boundary
    const json::object& total = l.at("parts").at("total").as_object();
    EXPECT_DOUBLE_EQ(total.at("p50_ms").at(0).to_number<double>(),
                     totals[7] * 1e-3);  // rank 8 of 16
    EXPECT_DOUBLE_EQ(total.at("p95_ms").at(0).to_number<double>(), totals[15] * 1e-3);  // rank 16
    EXPECT_DOUBLE_EQ(total.at("p99_ms").at(0).to_number<double>(), totals[15] * 1e-3);
  }
}

TEST_F(DashboardApiTest, ConfidenceCountsReviewLabels) {
  send_traffic();
  const json::value before = get_json("/v1/dashboard/confidence?from=0");
  EXPECT_EQ(before.at("with_confidence").as_int64(), 0);  // no classifier in this config
  EXPECT_EQ(before.at("histogram").as_array().size(), 20u);
  EXPECT_EQ(before.at("routing").at("labeled").as_int64(), 0);
  EXPECT_TRUE(before.at("routing").at("accuracy").is_null());

  // Label one large-tier answer as one the small tier would have given: over-routed.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT request_id FROM requests WHERE model = 'up-large' LIMIT 1", -1,
                         &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  const std::string id = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto label =
      http_request(gw_->port(), "POST", "/v1/review/" + id + "/label",
                   R"({"verdict":"correct","sufficient_tier":"small"})", kJson, Millis(10000));
  ASSERT_EQ(label.status, 200) << label.body;

  const json::value after = get_json("/v1/dashboard/confidence?from=0");
  const json::object& routing = after.at("routing").as_object();
  EXPECT_EQ(routing.at("labeled").as_int64(), 1);
  EXPECT_EQ(routing.at("over_routed").as_int64(), 1);
  EXPECT_EQ(routing.at("under_routed").as_int64(), 0);
  EXPECT_EQ(routing.at("over_routing_rate").to_number<double>(), 1.0);
}

TEST_F(DashboardApiTest, BadCallsGetTheGatewaysErrors) {
  auto unknown_param = get("/v1/dashboard/summary?color=red");
  EXPECT_EQ(unknown_param.status, 400);
  EXPECT_EQ(std::string(unknown_param.json().at("error").at("param").as_string()), "color");
  auto bad_metric = get("/v1/dashboard/timeseries?metric=bogus");
  EXPECT_EQ(bad_metric.status, 400);
  EXPECT_EQ(std::string(bad_metric.json().at("error").at("param").as_string()), "metric");
  auto reversed = get("/v1/dashboard/summary?from=10&to=5");
  EXPECT_EQ(reversed.status, 400);
  EXPECT_EQ(std::string(reversed.json().at("error").at("param").as_string()), "from");
  EXPECT_EQ(get("/v1/dashboard/nope").status, 404);
  auto post = http_request(gw_->port(), "POST", "/v1/dashboard/summary", "{}", kJson);
  EXPECT_EQ(post.status, 405);
  // An empty store: zeros and nulls, not errors.
  const json::value s = get_json("/v1/dashboard/summary?from=0");
  EXPECT_EQ(s.at("requests").as_int64(), 0);
  EXPECT_TRUE(s.at("cpi_usd").is_null());
  EXPECT_TRUE(s.at("first_ts_ms").is_null());
}

// A store that cannot be read back: the API says why (503); the page itself still loads.
TEST(DashboardApiWithoutStore, AnswersUnavailable) {
  TempDir dir;
  write_file(dir.file("triage.yaml"),
             "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
             "store: {type: none}\n"
             "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", "
             "tier: small}\n");
  Gateway gw(dir.file("triage.yaml"), {});
  ASSERT_GT(gw.port(), 0) << gw.process().stderr_text();
  auto r = http_request(gw.port(), "GET", "/v1/dashboard/summary");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.json().at("error").at("message").as_string().find("store.type: sqlite"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(http_request(gw.port(), "GET", "/dashboard").status, 200);
}

}  // namespace
}  // namespace triage::testing
