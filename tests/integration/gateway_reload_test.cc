// Versioned configuration through the real gateway and upstream (docs/config_versions.md):
// hot reload under load without a failed request, every stored row tied to the version that
// served it (and priced by it), a refused bad file that leaves the version alone, SIGHUP,
// history and rollback, the admin credential, and a stream that finishes on the version it
// started on after that version's model was removed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kAdminToken[] = "admin-TOKEN-reload-51c2";
constexpr char kClientKey[] = "client-SECRET-reload-9e7d";

// Two configs that differ in a route (main -> up-a or up-b), a price (up-a's) and a model
// (up-slow only in A, up-extra only in B). Prices are per 1M tokens.
struct Variant {
  double a_price;
  const char* main_model;
};
constexpr Variant kA{1000, "up-a"};
constexpr Variant kB{3000, "up-b"};
constexpr double kBPrice = 2000;  // up-b, the same in both

std::string config_yaml(int upstream_port, const std::string& db_path, const Variant& v,
                        bool with_slow, int threads = 2) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  std::string y = "server: {host: 127.0.0.1, port: 0, threads: " + std::to_string(threads) +
                  "}\n"
                  "store: {type: sqlite, path: " + db_path + ", flush_interval_ms: 20}\n"
                  "tiers: [small, large]\n"
                  "models:\n"
                  "  - {name: up-a, provider: openai, endpoint: \"" + ep +
                  "\", upstream_model: \"mode:tokens-5\", tier: small, prices: {input: " +
                  std::to_string(v.a_price) + ", output: " + std::to_string(v.a_price) + "}}\n"
                  "  - {name: up-b, provider: openai, endpoint: \"" + ep +
                  "\", upstream_model: \"mode:tokens-5\", tier: large, prices: {input: " +
                  std::to_string(kBPrice) + ", output: " + std::to_string(kBPrice) + "}}\n";
  if (with_slow) {
    y += "  - {name: up-slow, provider: openai, endpoint: \"" + ep +
         "\", upstream_model: \"mode:tokens-30,delay-chunks-40\", tier: large, prices: "
         "{input: 500, output: 500}}\n";
  } else {
    y += "  - {name: up-extra, provider: openai, endpoint: \"" + ep +
         "\", tier: small, prices: {input: 1, output: 1}}\n";
  }
  y += "routes:\n"
       "  - {name: main, type: model, model: " + std::string(v.main_model) + "}\n"
       "  - name: canary\n"
       "    type: split\n"
       "    children: [{route: up-a, weight: 90}, {route: up-b, weight: 10}]\n"
       "auth:\n"
       "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
       "  keys:\n"
       "    - {name: client, secret_env: CLIENT_KEY}\n";
  return y;
}

std::string chat_body(const std::string& model, bool stream) {
  json::object body{{"model", model},
                    {"messages", json::array{json::object{{"role", "user"},
                                                          {"content", "two words"}}}}};
  if (stream) body["stream"] = true;
  return json::serialize(body);
}

std::map<std::string, std::string> bearer(const std::string& secret) {
  return {{"content-type", "application/json"}, {"authorization", "Bearer " + secret}};
}

struct Row {
  std::string request_id;
  int64_t version = 0;
  std::string model;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  double cost = 0;
  int status = 0;
};

std::vector<Row> stored_rows(const std::string& path) {
  std::vector<Row> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return rows;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT request_id, COALESCE(config_version, 0), COALESCE(model, ''), "
                     "tokens_in, tokens_out, cost_usd, status FROM requests ORDER BY ts_ms",
                     -1, &s, nullptr);
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    rows.push_back({reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                    sqlite3_column_int64(s, 1),
                    reinterpret_cast<const char*>(sqlite3_column_text(s, 2)),
                    sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4),
                    sqlite3_column_double(s, 5), sqlite3_column_int(s, 6)});
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return rows;
}

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(config_path(), yaml(kA, true));
    gw_ = std::make_unique<Gateway>(config_path(), std::map<std::string, std::string>{
                                                       {"TRIAGE_ADMIN_TOKEN", kAdminToken},
                                                       {"CLIENT_KEY", kClientKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string yaml(const Variant& v, bool with_slow, int threads = 2) const {
    return config_yaml(up_.port(), db_path(), v, with_slow, threads);
  }
  std::string config_path() const { return dir_.file("triage.yaml"); }
  std::string db_path() const { return dir_.file("triage.db"); }
  int port() const { return gw_->port(); }

  HttpResponse admin(const std::string& method, const std::string& target,
                     const std::string& body = {}, const std::string& token = kAdminToken,
                     const std::string& actor = {}) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["authorization"] = "Bearer " + token;
    if (!actor.empty()) h["x-triage-actor"] = actor;
    return http_request(port(), method, target, body, h, Millis(20000));
  }
  // POST /admin/config; the new seq, or 0 with the failure reported.
  int64_t apply(const std::string& yaml_text, const std::string& reason = "test") {
    const HttpResponse r = admin("POST", "/admin/config?reason=" + reason, yaml_text);
    EXPECT_EQ(r.status, 200) << r.body;
    const json::value v = r.json();
    return r.status == 200 ? v.at("seq").as_int64() : 0;
  }
  int64_t current_version() {
    const HttpResponse r = admin("GET", "/admin/config");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json().at("current").at("seq").as_int64() : -1;
  }
  // Stops the gateway, which flushes the store.
  void stop() {
    ASSERT_TRUE(gw_->process().terminate(Millis(15000)).has_value());
  }

  Upstream up_{2};
  TempDir dir_;
  std::unique_ptr<Gateway> gw_;
};

// The price of `model` under version `seq` when odd versions are config A and even ones B.
double price_of(int64_t seq, const std::string& model) {
  if (model == "up-b") return kBPrice;
  if (model == "up-slow") return 500;
  if (model == "up-a") return seq % 2 == 1 ? kA.a_price : kB.a_price;
  return -1;
}

TEST_F(ReloadTest, TwentyReloadsUnderLoadLoseNoRequestAndTagEveryRow) {
  std::atomic<bool> done{false};
  std::atomic<int> sent{0}, failed{0};
  std::vector<std::string> failures;
  std::mutex failures_mu;
  auto client = [&](bool stream, const std::string& model) {
    while (!done.load()) {
      const std::string body = chat_body(model, stream);
      const HttpResponse r =
          stream ? http_stream(port(), "/v1/chat/completions", body, bearer(kClientKey),
                               Millis(20000))
                 : http_request(port(), "POST", "/v1/chat/completions", body,
                                bearer(kClientKey), Millis(20000));
      ++sent;
      const bool ok = r.status == 200 && r.complete &&
                      (!stream || r.body.find("data: [DONE]") != std::string::npos);
      if (!ok) {
        ++failed;
        std::lock_guard lk(failures_mu);
        failures.push_back(std::to_string(r.status) + " " + r.error + " " + r.body);
      }
    }
  };
  std::vector<std::thread> clients;
  clients.emplace_back(client, false, "main");
  clients.emplace_back(client, true, "main");
  clients.emplace_back(client, false, "up-a");
  clients.emplace_back(client, true, "up-b");

  const std::string a = yaml(kA, true), b = yaml(kB, false);
  int64_t expected = 1;
  for (int i = 0; i < 20; ++i) {
    if (i == 10) {
      // A bad file: refused with the loader's FILE:LINE error; the version does not move.
      std::string bad = b;
      bad.replace(bad.find("model: up-b}"), 12, "model: up-nope}");
      const HttpResponse r = admin("POST", "/admin/config", bad);
      EXPECT_EQ(r.status, 400) << r.body;
      const std::string message(r.json().at("error").at("message").as_string());
      EXPECT_TRUE(std::regex_search(message, std::regex("triage\\.yaml:[0-9]+: routes\\[0\\]")))
          << message;
      EXPECT_NE(message.find("up-nope"), std::string::npos) << message;
      EXPECT_EQ(current_version(), expected);
    }
    EXPECT_EQ(apply(i % 2 == 0 ? b : a), ++expected);
  }
  done = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(current_version(), 21);
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures.front());
  EXPECT_GT(sent.load(), 40);

  const HttpResponse metrics = http_request(port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("triage_config_version 21"), std::string::npos);
  EXPECT_NE(metrics.body.find("triage_config_reloads_total{result=\"applied\"} 20"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("triage_config_reloads_total{result=\"refused\"} 1"),
            std::string::npos);

  stop();
  const std::vector<Row> rows = stored_rows(db_path());
  EXPECT_EQ(static_cast<int>(rows.size()), sent.load());
  std::set<int64_t> versions;
  for (const Row& r : rows) {
    ASSERT_GE(r.version, 1) << r.request_id;
    ASSERT_LE(r.version, 21) << r.request_id;
    versions.insert(r.version);
    EXPECT_EQ(r.status, 200) << r.request_id;
    const double price = price_of(r.version, r.model);
    const double expected_cost = static_cast<double>(r.tokens_in + r.tokens_out) * price / 1e6;
    EXPECT_NEAR(r.cost, expected_cost, 1e-9)
        << r.request_id << " v" << r.version << " " << r.model;
  }
  // The load ran across the reloads: rows of many versions, each priced by its own.
  EXPECT_GE(versions.size(), 5u);
}

TEST_F(ReloadTest, AStreamFinishesOnTheVersionItStartedOn) {
  // up-slow streams 30 words 40 ms apart (~1.2 s); version 2 removes it while it streams.
  HttpResponse streamed;
  std::thread stream([&] {
    streamed = http_stream(port(), "/v1/chat/completions", chat_body("up-slow", true),
                           bearer(kClientKey), Millis(20000));
  });
  // Wait (bounded) until the upstream has the call: the request holds version 1 from here.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (up_.request_count() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GE(up_.request_count(), 1);
  EXPECT_EQ(apply(yaml(kB, false)), 2);
  const HttpResponse gone = http_request(port(), "POST", "/v1/chat/completions",
                                         chat_body("up-slow", false), bearer(kClientKey));
  EXPECT_EQ(gone.status, 404) << gone.body;  // new requests see version 2
  stream.join();
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.complete);
  EXPECT_NE(streamed.body.find("tok30"), std::string::npos);
  EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos);
  stop();
  const std::vector<Row> rows = stored_rows(db_path());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].model, "up-slow");
  EXPECT_EQ(rows[0].version, 1);
  EXPECT_EQ(rows[0].tokens_out, 30);
  EXPECT_EQ(rows[1].version, 2);
  EXPECT_EQ(rows[1].status, 404);
}

TEST_F(ReloadTest, SighupHistoryAndRollback) {
  write_file(config_path(), yaml(kB, false));
  ASSERT_EQ(::kill(gw_->process().pid(), SIGHUP), 0);
  ASSERT_TRUE(gw_->process().wait_for_line("triage: config version 2 applied", Millis(10000)));
  HttpResponse r = http_request(port(), "POST", "/v1/chat/completions", chat_body("main", false),
                                bearer(kClientKey));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-triage-model"), "up-b");
  EXPECT_EQ(r.header("x-triage-config-version"), "2");

  // A restart-only change is refused, naming the field.
  const HttpResponse threads = admin("POST", "/admin/config", yaml(kA, true, 3));
  EXPECT_EQ(threads.status, 400);
  EXPECT_NE(threads.body.find("server.threads: cannot change on reload"), std::string::npos)
      << threads.body;

  // Who acts is named by x-triage-actor; a malformed name is refused and nothing changes.
  const HttpResponse bad_actor = admin("POST", "/admin/config/rollback", R"({"seq": 1})",
                                       kAdminToken, "alice smith");
  EXPECT_EQ(bad_actor.status, 400);
  EXPECT_NE(bad_actor.body.find("x-triage-actor: name who acts with 1 to 64 letters"),
            std::string::npos)
      << bad_actor.body;
  const HttpResponse back = admin("POST", "/admin/config/rollback",
                                  R"({"seq": 1, "reason": "B was worse"})", kAdminToken,
                                  "alice@example.com");
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.json().at("seq").as_int64(), 3);
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("main", false),
                   bearer(kClientKey));
  EXPECT_EQ(r.header("x-triage-model"), "up-a");
  EXPECT_EQ(admin("POST", "/admin/config/rollback", R"({"seq": 99})").status, 404);

  const HttpResponse list = admin("GET", "/admin/config");
  ASSERT_EQ(list.status, 200) << list.body;
  const json::value listed = list.json();
  const json::array& data = listed.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0].at("who").as_string(), "startup");
  EXPECT_EQ(data[1].at("who").as_string(), "sighup");
  EXPECT_EQ(data[2].at("who").as_string(), "admin:alice@example.com");
  EXPECT_EQ(data[2].at("reason").as_string(), "rollback to version 1: B was worse");
  EXPECT_EQ(data[0].at("sha256"), data[2].at("sha256"));
  EXPECT_NE(data[0].at("sha256"), data[1].at("sha256"));
  EXPECT_FALSE(data[0].as_object().contains("yaml"));
  const HttpResponse one = admin("GET", "/admin/config?seq=3");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.json().at("yaml").as_string(), yaml(kA, true));
  // The stored YAML names env vars, never their values.
  EXPECT_EQ(one.body.find(kClientKey), std::string::npos);
  EXPECT_EQ(one.body.find(kAdminToken), std::string::npos);

  // A restart on the file of the latest version is that version; history survives it.
  write_file(config_path(), yaml(kA, true));
  stop();
  gw_ = std::make_unique<Gateway>(config_path(), std::map<std::string, std::string>{
                                                     {"TRIAGE_ADMIN_TOKEN", kAdminToken},
                                                     {"CLIENT_KEY", kClientKey}});
  ASSERT_GT(gw_->port(), 0);
  EXPECT_EQ(current_version(), 3);
  EXPECT_EQ(admin("GET", "/admin/config").json().at("data").as_array().size(), 3u);
}

TEST_F(ReloadTest, AdminEndpointsRefuseWithoutTheAdminToken) {
  EXPECT_EQ(admin("GET", "/admin/config", "", "").status, 401);
  EXPECT_EQ(admin("POST", "/admin/config", yaml(kB, false), "").status, 401);
  EXPECT_EQ(admin("POST", "/admin/config", yaml(kB, false), kClientKey).status, 401);
  EXPECT_EQ(admin("POST", "/admin/config/rollback", R"({"seq": 1})", "wrong").status, 401);
  EXPECT_EQ(current_version(), 1);
}

TEST_F(ReloadTest, KnobsMoveWithinTheirRangeAsRecordedEvents) {
  HttpResponse r = admin("GET", "/admin/knobs");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value listed = r.json();
  ASSERT_EQ(listed.at("data").as_array().size(), 2u) << r.body;
  const json::value& first = listed.at("data").as_array()[0];
  EXPECT_EQ(first.at("route").as_string(), "canary");
  EXPECT_EQ(first.at("knob").as_string(), "children[0].weight");
  EXPECT_EQ(first.at("value").to_number<double>(), 90);
  EXPECT_EQ(first.at("range").as_array()[1].to_number<double>(), 100);
  EXPECT_EQ(first.at("set_by").as_string(), "config");

  const std::string move =
      R"({"route": "canary", "knob": "children[0].weight", "value": 0, "reason": "all to b"})";
  EXPECT_EQ(admin("PUT", "/admin/knobs", move, "").status, 401);
  r = admin("PUT", "/admin/knobs", move);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().at("before").to_number<double>(), 90);
  // Every request now takes the other child.
  for (int i = 0; i < 10; ++i) {
    const HttpResponse c = http_request(port(), "POST", "/v1/chat/completions",
                                        chat_body("canary", false), bearer(kClientKey));
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(c.header("x-triage-model"), "up-b");
  }
  const HttpResponse outside = admin(
      "PUT", "/admin/knobs", R"({"route": "canary", "knob": "children[0].weight", "value": 150})");
  EXPECT_EQ(outside.status, 400) << outside.body;
  EXPECT_NE(outside.body.find("outside the knob's range [0, 100]"), std::string::npos)
      << outside.body;
  EXPECT_EQ(admin("PUT", "/admin/knobs", R"({"route": "canary", "knob": "nope", "value": 1})")
                .status,
            404);

  listed = admin("GET", "/admin/knobs").json();
  const json::value& moved = listed.at("data").as_array()[0];
  EXPECT_EQ(moved.at("value").to_number<double>(), 0);
  EXPECT_EQ(moved.at("set_by").as_string(), "admin");
  EXPECT_EQ(moved.at("reason").as_string(), "all to b");
  const json::value& event = listed.at("events").as_array().at(0);
  EXPECT_EQ(event.at("after").to_number<double>(), 0);
  EXPECT_EQ(event.at("config_version").as_int64(), 1);
  const HttpResponse metrics = http_request(port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find(
                "triage_knob_moves_total{knob=\"children[0].weight\",route=\"canary\"} 1"),
            std::string::npos);

  // A reload builds new routes: their knobs start at the file's values.
  EXPECT_EQ(apply(yaml(kA, true)), 2);
  listed = admin("GET", "/admin/knobs").json();
  EXPECT_EQ(listed.at("data").as_array()[0].at("value").to_number<double>(), 90);
  EXPECT_EQ(listed.at("data").as_array()[0].at("set_by").as_string(), "config");
}

}  // namespace
}  // namespace triage::testing
