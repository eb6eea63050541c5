// The gateway on the PostgreSQL store (store.type: postgres) against a throwaway PostgreSQL
// server (tests/pg/pg_server.h) and the real test upstream: it serves requests, writes each row
// exactly once, the dashboard API reads them back (the same numbers as on SQLite:
// gateway_dashboard_test.cc sends the same traffic), and `triage report --store postgres://...`
// reads them offline. The password's variable is set and its value never shows in a log or an
// answer. Skipped only when the PostgreSQL server binaries are absent.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "dashboard_traffic.h"
#include "harness.h"
#include "pg_server.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr const char* kPassword = "pg-secret-never-logged";

// One number from the database, read with libpq itself (independently of the gateway).
double pg_value(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(c);
  const double v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
                       ? std::stod(PQgetvalue(r, 0, 0))
                       : -1;
  PQclear(r);
  PQfinish(c);
  return v;
}

class PostgresGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIAGE_PG_SERVER_OR_SKIP();
    auto& server = shared_pg_server();
    const std::string db = server.create_database();
    url_ = server.url(db);
    conninfo_ = server.conninfo(db);
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(
        dir_.file("triage.yaml"),
        dashboard_config_yaml(up_.port(), "store: {type: postgres, url: '" + url_ +
                                              "', password_env: TEST_PG_PASSWORD, "
                                              "flush_interval_ms: 20, keep_payloads: true}"));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), std::map<std::string, std::string>{
                                                                  {"TEST_UPSTREAM_KEY", "sk-t"},
                                                                  {"TEST_PG_PASSWORD", kPassword}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }

  int ask(const std::string& model, const std::string& text) {
    return ask_chat(gw_->port(), model, text);
  }
  json::value get_json(const std::string& target) {
    auto r = http_request(gw_->port(), "GET", target, {}, {}, Millis(10000));
    EXPECT_EQ(r.status, 200) << target << ": " << r.body << r.error << "\n"
                             << gw_->process().stderr_text()
                             << "running=" << gw_->process().running();
    EXPECT_EQ(r.body.find(kPassword), std::string::npos) << target;
    return r.json();
  }
  void wait_for_requests(int64_t n) { wait_for_dashboard_requests(gw_->port(), n); }

  std::string url_, conninfo_;
  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(PostgresGatewayTest, ServesStoresOnceAndTheDashboardAndReportReadIt) {
  send_dashboard_traffic(gw_->port());
  constexpr int64_t kRequests = kDashboardRequests;

  // Every request is one row, written once; the rollups sum to the rows.
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(*) FROM requests"), kRequests);
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(DISTINCT request_id) FROM requests"), kRequests);
  EXPECT_EQ(pg_value(conninfo_, "SELECT SUM(requests) FROM rollup_minute"), kRequests);
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(*) FROM prompts"), kRequests);
  const double cost = pg_value(conninfo_, "SELECT SUM(cost_usd) FROM requests");
  ASSERT_GT(cost, 0.0);

  const json::value s = get_json("/v1/dashboard/summary?from=0");
  EXPECT_EQ(s.at("requests").as_int64(), kRequests);
  EXPECT_EQ(s.at("errors").as_int64(), 3);
  EXPECT_NEAR(s.at("cost_usd").to_number<double>(), cost, 1e-12);

  // The funnel reads the cascades' typed span records through PostgreSQL's JSON functions.
  const json::value f = get_json("/v1/dashboard/funnel?from=0");
  EXPECT_EQ(f.at("scanned").as_int64(), 15);
  const json::array& routes = f.at("routes").as_array();
  ASSERT_EQ(routes.size(), 2u) << f;
  EXPECT_EQ(std::string(routes[0].at("route").as_string()), "support");
  EXPECT_EQ(routes[0].at("requests").as_int64(), 10);
  const json::array& steps = routes[0].at("steps").as_array();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].at("stopped").as_int64(), 5);
  EXPECT_EQ(steps[1].at("stopped").as_int64(), 3);
  EXPECT_EQ(steps[2].at("stopped").as_int64(), 2);
  EXPECT_EQ(routes[1].at("requests").as_int64(), 5);

  const json::value models = get_json("/v1/dashboard/models?from=0");
  int64_t model_requests = 0;
  for (const json::value& m : models.at("models").as_array()) {
    model_requests += m.at("requests").as_int64();
  }
  EXPECT_EQ(model_requests, kRequests) << models;

  // Offline: `triage report --store postgres://...` reads the same rows.
  ChildProcess report(gateway_binary(), {"report", "--store", url_});
  auto status = report.wait_exit(Millis(60000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(report.wait_output_closed(Millis(5000)));
  std::string out;
  for (const auto& l : report.stdout_lines()) out += l + "\n";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out << report.stderr_text();
  EXPECT_NE(out.find(": 19 requests, 3 errors"), std::string::npos) << out;

  // The password never reaches a log line.
  ASSERT_TRUE(gw_->process().terminate(Millis(10000)).has_value());
  ASSERT_TRUE(gw_->process().wait_output_closed(Millis(5000)));
  std::string logs = gw_->process().stderr_text();
  for (const auto& l : gw_->process().stdout_lines()) logs += l + "\n";
  EXPECT_NE(logs.find("postgres/1"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(kPassword), std::string::npos) << logs;
  // Stopping drained the queue: still exactly one row per request.
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(*) FROM requests"), kRequests);
}

// The database goes away under a running gateway: requests are still served, /readyz and
// /metrics say the store's database is unreachable, and when it is back every request of the
// outage is in the store, once.
TEST_F(PostgresGatewayTest, KeepsServingWhileTheDatabaseIsAwayAndLosesNoRow) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ask("up-small", "before " + std::to_string(i)), 200);
  wait_for_requests(3);
  auto& server = shared_pg_server();
  ASSERT_TRUE(server.stop());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask("up-small", "during " + std::to_string(i)), 200);
  // The writer notices at its next batch (flush_interval_ms: 20).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  HttpResponse ready;
  while (std::chrono::steady_clock::now() < deadline) {
    ready = http_request(gw_->port(), "GET", "/readyz");
    if (ready.body.find("database unreachable") != std::string::npos) break;
  }
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("\"store\":\"database unreachable\""), std::string::npos) << ready.body;
  const HttpResponse metrics = http_request(gw_->port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("triage_store_database_up 0"), std::string::npos);
  ASSERT_TRUE(server.start());
  wait_for_requests(8);
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(*) FROM requests"), 8);
  EXPECT_EQ(pg_value(conninfo_, "SELECT COUNT(*) FROM requests WHERE requested_model = 'up-small'"),
            8);
  const HttpResponse after = http_request(gw_->port(), "GET", "/readyz");
  EXPECT_EQ(after.body, R"({"status":"ready"})");
  const HttpResponse m2 = http_request(gw_->port(), "GET", "/metrics");
  EXPECT_NE(m2.body.find("triage_store_reconnects_total 1"), std::string::npos);
  EXPECT_NE(m2.body.find("triage_store_dropped_total 0"), std::string::npos);
}

}  // namespace
}  // namespace triage::testing
