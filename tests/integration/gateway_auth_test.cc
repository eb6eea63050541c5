// Access control through the real gateway (docs/security.md): client keys from config and from
// the admin API, 401/403/429 as OpenAI-style errors, budgets held exactly by reservations under
// concurrent clients, the admin credential (Bearer and the dashboard's sign-in cookie), keys
// that survive a restart, and secrets that appear nowhere: not in the log, the store or
// /metrics.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kUpstreamKey[] = "sk-test-UPSTREAM-5e7f1a9b3c";
constexpr char kAdminToken[] = "admin-TOKEN-0f3a9c1d7e5b2468";
constexpr char kTeamAKey[] = "team-A-SECRET-7d1c4b9e2f60";
constexpr char kSupportKey[] = "support-SECRET-3b8e1f0a9c42";
constexpr char kBudgetKey[] = "budget-SECRET-9a2c6e1d4f83";
constexpr double kBudgetUsd = 0.5;

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  // up-dear: $1000 per 1M tokens, so that a few requests spend a budget of $0.50. Answers are
  // 20 words (tokens-20), cut to max_tokens.
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " +
         db_path +
         ", flush_interval_ms: 20}\n"
         "tiers: [small, large]\n"
         "models:\n"
         "  - {name: up-small, provider: openai, endpoint: \"" +
         ep +
         "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: small, "
         "prices: {input: 0.1, output: 0.1}}\n"
         "  - {name: up-dear, provider: openai, endpoint: \"" +
         ep +
         "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"mode:tokens-20\", tier: large, "
         "prices: {input: 1000, output: 1000}}\n"
         "  - {name: up-slow, provider: openai, endpoint: \"" +
         ep +
         "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"mode:tokens-40,delay-chunks-50\", "
         "tier: large, prices: {input: 1000, output: 1000}}\n"
         "  - {name: up-down, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", "
         "api_key_env: TEST_UPSTREAM_KEY, tier: small}\n"
         "  - {name: up-nokey, provider: openai, endpoint: \"" +
         ep +
         "\", api_key_env: TRIAGE_TEST_UNSET_KEY_4711, tier: small}\n"
         "routes:\n"
         "  - {name: support, type: model, model: up-small}\n"
         "  - {name: sampled, type: ensemble, children: [up-dear, up-dear, up-dear, up-dear, "
         "up-dear, up-dear, up-dear, up-dear, up-dear, up-dear, up-dear, up-dear]}\n"
         "auth:\n"
         "  admin_token_env: TRIAGE_ADMIN_TOKEN\n"
         "  keys:\n"
         "    - {name: team-a, secret_env: TEAM_A_KEY, cohort: search}\n"
         "    - {name: support-only, secret_env: SUPPORT_KEY, routes: [support]}\n"
         "    - {name: budget, secret_env: BUDGET_KEY, usd_per_day: " +
         std::to_string(kBudgetUsd) + "}\n";
}

std::string chat_body(const std::string& model, const std::string& text, int max_tokens = 0,
                      bool stream = false) {
  json::object body{{"model", model},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
  if (max_tokens > 0) body["max_tokens"] = max_tokens;
  if (stream) body["stream"] = true;
  return json::serialize(body);
}

std::map<std::string, std::string> bearer(const std::string& secret) {
  auto h = kJson;
  h["authorization"] = "Bearer " + secret;
  return h;
}

std::string error_type(const HttpResponse& r) {
  auto v = r.json();
  if (!v.is_object() || !v.as_object().contains("error")) return "<no error: " + r.body + ">";
  return std::string(v.at("error").at("type").as_string());
}

std::string error_message(const HttpResponse& r) {
  auto v = r.json();
  if (!v.is_object() || !v.as_object().contains("error")) return "<no error: " + r.body + ">";
  return std::string(v.at("error").at("message").as_string());
}

// Every text cell of every table of the store, one per line.
std::string dump_store(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  std::vector<std::string> tables;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  }
  sqlite3_finalize(s);
  for (const std::string& t : tables) {
    sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\"").c_str(), -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const unsigned char* v = sqlite3_column_text(s, c);
        if (v) out += reinterpret_cast<const char*>(v);
        out += '\t';
      }
      out += '\n';
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

double query_double(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  double v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return v;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_double(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    start();
  }
  void start() {
    gw_.reset();
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), env());
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::map<std::string, std::string> env() const {
    return {{"TEST_UPSTREAM_KEY", kUpstreamKey},
            {"TRIAGE_ADMIN_TOKEN", kAdminToken},
            {"TEAM_A_KEY", kTeamAKey},
            {"SUPPORT_KEY", kSupportKey},
            {"BUDGET_KEY", kBudgetKey}};
  }
  // Stops the gateway (flushing the store) and returns everything it logged.
  std::string stop() {
    if (!gw_) return log_;
    gw_->process().terminate(Millis(10000));
    EXPECT_TRUE(gw_->process().wait_output_closed(Millis(5000)));
    for (const auto& l : gw_->process().stdout_lines()) log_ += l + "\n";
    log_ += gw_->process().stderr_text();
    gw_.reset();
    return log_;
  }
  std::string db_path() const { return dir_.file("triage.db"); }
  int port() const { return gw_->port(); }
  HttpResponse chat(const std::map<std::string, std::string>& headers,
                    const std::string& model = "up-small", int max_tokens = 0) {
    return http_request(port(), "POST", "/v1/chat/completions",
                        chat_body(model, "hello there", max_tokens), headers, Millis(10000));
  }
  HttpResponse admin(const std::string& method, const std::string& target,
                     const std::string& body = {}) {
    return http_request(port(), method, target, body, bearer(kAdminToken), Millis(10000));
  }

  Upstream up_;
  TempDir dir_;
  std::unique_ptr<Gateway> gw_;
  std::string log_;  // output of gateways already stopped
};

TEST_F(AuthTest, ClientKeysGuardTheInferenceApi) {
  const HttpResponse none = chat(kJson);
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_EQ(error_type(none), "authentication_error");
  EXPECT_NE(error_message(none).find("Authorization: Bearer"), std::string::npos);

  const HttpResponse wrong = chat(bearer("not-a-key-of-this-gateway"));
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(error_message(wrong), "invalid API key; check the key you were given");

  const HttpResponse ok = chat(bearer(kTeamAKey));
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto x_api_key = kJson;
  x_api_key["x-api-key"] = kTeamAKey;
  EXPECT_EQ(chat(x_api_key).status, 200);

  // A key restricted to the `support` route: allowed there, 403 on a model directly.
  EXPECT_EQ(chat(bearer(kSupportKey), "support").status, 200);
  const HttpResponse denied = chat(bearer(kSupportKey), "up-small");
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(error_type(denied), "permission_error");
  EXPECT_NE(error_message(denied).find("'support-only' may not use 'up-small'"), std::string::npos);

  EXPECT_EQ(http_request(port(), "GET", "/v1/models").status, 401);
  // The model list shows each key what it may call: everything for team-a, only `support`
  // for the key restricted to it.
  const auto listed_ids = [this](const std::string& secret) {
    const HttpResponse r = http_request(port(), "GET", "/v1/models", {}, bearer(secret));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> ids;
    const json::value listed = json::parse(r.body);
    for (const json::value& m : listed.at("data").as_array()) {
      ids.emplace_back(m.at("id").as_string());
    }
    return ids;
  };
  const std::vector<std::string> all = listed_ids(kTeamAKey);
  EXPECT_EQ(all.size(), 7u);  // five models and two routes
  EXPECT_NE(std::find(all.begin(), all.end(), "up-dear"), all.end());
  EXPECT_EQ(listed_ids(kSupportKey), std::vector<std::string>{"support"});
  // Probes and scrapers stay open.
  EXPECT_EQ(http_request(port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(port(), "GET", "/metrics").status, 200);

  const std::string ok_id = ok.header("x-request-id");
  stop();
  const std::string rows = dump_store(db_path());
  EXPECT_NE(rows.find("team-a"), std::string::npos) << "the key's name is on its store row";
  EXPECT_EQ(query_double(db_path(), "SELECT COUNT(*) FROM requests WHERE request_id = '" + ok_id +
                                        "' AND api_key_name = 'team-a' AND cohort = 'search' "
                                        "AND api_key_id LIKE 'key_%'"),
            1.0);
}

TEST_F(AuthTest, FeedbackOnlyOnTheKeysOwnRequests) {
  const HttpResponse mine = chat(bearer(kTeamAKey));
  ASSERT_EQ(mine.status, 200);
  const std::string body =
      "{\"request_id\":\"" + mine.header("x-request-id") + "\",\"thumbs\":\"up\"}";
  const HttpResponse other =
      http_request(port(), "POST", "/v1/feedback", body, bearer(kSupportKey), Millis(10000));
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_EQ(http_request(port(), "POST", "/v1/feedback", body, kJson).status, 401);
  const HttpResponse own =
      http_request(port(), "POST", "/v1/feedback", body, bearer(kTeamAKey), Millis(10000));
  EXPECT_EQ(own.status, 200) << own.body;
}

TEST_F(AuthTest, OperatorEndpointsNeedTheAdminToken) {
  for (const char* target : {"/v1/review", "/v1/dashboard/summary", "/admin/keys"}) {
    const HttpResponse anon = http_request(port(), "GET", target);
    EXPECT_EQ(anon.status, 401) << target << " " << anon.body;
    EXPECT_EQ(http_request(port(), "GET", target, {}, bearer(kTeamAKey)).status, 401) << target;
    EXPECT_EQ(admin("GET", target).status, 200) << target;
  }
  // A browser: the sign-in form, then a cookie that is not the token.
  const HttpResponse page = http_request(port(), "GET", "/dashboard");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("action=\"/dashboard/sign-in\""), std::string::npos) << page.body;
  auto form =
      std::map<std::string, std::string>{{"content-type", "application/x-www-form-urlencoded"}};
  EXPECT_EQ(http_request(port(), "POST", "/dashboard/sign-in", "token=wrong", form).status, 401);
  const HttpResponse signed_in =
      http_request(port(), "POST", "/dashboard/sign-in", std::string("token=") + kAdminToken, form);
  ASSERT_EQ(signed_in.status, 303) << signed_in.body;
  const std::string cookie = signed_in.header("set-cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find(kAdminToken), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "plain HTTP: " << cookie;
  // Behind a TLS-terminating proxy the cookie must never travel over plain HTTP; a token with
  // form escapes ('+' and %XX) decodes to the same token.
  auto proxied = form;
  proxied["x-forwarded-proto"] = "https, http";
  const HttpResponse over_tls = http_request(port(), "POST", "/dashboard/sign-in",
                                             std::string("x=1&token=") + kAdminToken, proxied);
  ASSERT_EQ(over_tls.status, 303) << over_tls.body;
  EXPECT_NE(over_tls.header("set-cookie").find("; Secure"), std::string::npos)
      << over_tls.header("set-cookie");
  EXPECT_EQ(http_request(port(), "POST", "/dashboard/sign-in",
                         std::string("token=%61") + (kAdminToken + 1), form)
                .status,
            303)
      << "%61 is the token's first letter, 'a'";
  const std::string session = cookie.substr(0, cookie.find(';'));
  const HttpResponse api =
      http_request(port(), "GET", "/v1/dashboard/summary", {}, {{"cookie", session}});
  EXPECT_EQ(api.status, 200) << api.body;
  const HttpResponse app = http_request(port(), "GET", "/dashboard", {}, {{"cookie", session}});
  EXPECT_EQ(app.status, 200);
  EXPECT_EQ(app.body.find("/dashboard/sign-in"), std::string::npos) << "the app, not the form";
  EXPECT_EQ(http_request(port(), "GET", "/v1/dashboard/summary", {},
                         {{"cookie", "triage_session=tri_forged"}})
                .status,
            401);
}

TEST_F(AuthTest, AdminKeysSurviveARestartAndDisableAtOnce) {
  const HttpResponse created = admin("POST", "/admin/keys",
                                     "{\"name\":\"made-live\",\"models\":[\"up-small\"],"
                                     "\"requests_per_minute\":100}");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string secret(created.json().at("key").as_string());
  const std::string id(created.json().at("id").as_string());
  EXPECT_EQ(secret.rfind("tri_", 0), 0u);
  EXPECT_EQ(chat(bearer(secret)).status, 200);
  EXPECT_EQ(chat(bearer(secret), "up-dear").status, 403);

  const HttpResponse listed = admin("GET", "/admin/keys");
  ASSERT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find("made-live"), std::string::npos);
  EXPECT_EQ(listed.body.find(secret), std::string::npos) << "the list never shows a secret";
  EXPECT_EQ(listed.body.find(kTeamAKey), std::string::npos);

  start();  // a new gateway process on the same store
  EXPECT_EQ(chat(bearer(secret)).status, 200) << "the key survived the restart";
  EXPECT_EQ(admin("POST", "/admin/keys/" + id + "/disable").status, 200);
  const HttpResponse off = chat(bearer(secret));
  EXPECT_EQ(off.status, 401) << off.body;
  EXPECT_NE(error_message(off).find("'made-live' is disabled"), std::string::npos);
  EXPECT_EQ(admin("POST", "/admin/keys/" + id + "/enable").status, 200);
  EXPECT_EQ(chat(bearer(secret)).status, 200);
  EXPECT_EQ(admin("DELETE", "/admin/keys/" + id).status, 200);
  EXPECT_EQ(chat(bearer(secret)).status, 401);
  // Config keys are changed in the config.
  EXPECT_EQ(admin("DELETE", "/admin/keys/" + std::string("key_000000000000")).status, 404);

  const std::string log = stop();
  const std::string rows = dump_store(db_path());
  for (const std::string& s :
       {secret, std::string(kAdminToken), std::string(kTeamAKey), std::string(kUpstreamKey)}) {
    EXPECT_EQ(log.find(s), std::string::npos) << "secret in the log";
    EXPECT_EQ(rows.find(s), std::string::npos) << "secret in the store";
  }
}

// A restart must not hand a key a fresh budget: the spend of the current UTC day and month is
// read back from the store at start-up.
TEST_F(AuthTest, ABudgetSpentBeforeARestartStaysSpent) {
  int admitted = 0;
  HttpResponse refused;
  for (int i = 0; i < 100; ++i) {
    const HttpResponse r = chat(bearer(kBudgetKey), "up-dear", 20);
    if (r.status == 429) {
      refused = r;
      break;
    }
    ASSERT_EQ(r.status, 200) << r.body;
    ++admitted;
  }
  ASSERT_EQ(refused.status, 429) << "the budget never ran out";
  ASSERT_GT(admitted, 0);
  stop();
  const double spent =
      query_double(db_path(), "SELECT TOTAL(cost_usd) FROM requests WHERE api_key_name = 'budget'");
  ASSERT_GT(spent, 0.0);

  start();  // a new gateway process on the same store
  const auto spend_of = [this](const std::string& name) {
    const HttpResponse listed = admin("GET", "/admin/keys");
    EXPECT_EQ(listed.status, 200) << listed.body;
    const json::value all = json::parse(listed.body);
    for (const json::value& k : all.at("data").as_array()) {
      if (k.at("name").as_string() == name) return k.at("spend").as_object();
    }
    ADD_FAILURE() << "no key " << name << " in " << listed.body;
    return json::object();
  };
  const json::object restored = spend_of("budget");
  EXPECT_NEAR(restored.at("usd_today").to_number<double>(), spent, 1e-6);
  EXPECT_NEAR(restored.at("usd_this_month").to_number<double>(), spent, 1e-6);
  const HttpResponse still = chat(bearer(kBudgetKey), "up-dear", 20);
  EXPECT_EQ(still.status, 429) << still.body;
  EXPECT_NE(error_message(still).find("usd_per_day"), std::string::npos) << still.body;
  EXPECT_EQ(chat(bearer(kTeamAKey)).status, 200) << "other keys are untouched";
}

// A route that calls one model twelve times (ensemble samples) reserves it once up front; every
// further call is admitted against the key's limits before it is made, so requests made one
// after another cannot end above the budget either (without this, each settles at ~3x its
// reservation and the second request already overspends).
TEST_F(AuthTest, ARouteCallingAModelTwelveTimesCannotOverspend) {
  int ok = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    const HttpResponse r = chat(bearer(kBudgetKey), "sampled", 20);
    if (r.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(r.status, 429) << r.body;
      ++limited;
    }
  }
  stop();
  const double spent =
      query_double(db_path(), "SELECT TOTAL(cost_usd) FROM requests WHERE api_key_name = 'budget'");
  // The most successful model calls one request made, and the total.
  const std::string calls_per_request =
      "SELECT COUNT(*) AS n FROM requests, json_each(requests.spans) WHERE api_key_name = "
      "'budget' AND json_extract(value, '$.kind') = 'model_call' AND json_extract(value, '$.ok') "
      "GROUP BY requests.request_id";
  const double calls = query_double(db_path(), "SELECT TOTAL(n) FROM (" + calls_per_request + ")");
  const double most = query_double(db_path(), "SELECT MAX(n) FROM (" + calls_per_request + ")");
  std::printf("sampled: budget $%.4f spent $%.6f ok=%d limited=%d model calls=%.0f\n", kBudgetUsd,
              spent, ok, limited, calls);
  EXPECT_GT(ok, 0);
  EXPECT_GT(limited, 0) << "the budget must have run out";
  EXPECT_GE(most, 3.0) << "calls beyond the one the reservation covered were made while they fit";
  EXPECT_LT(calls, 12.0 * (ok + limited)) << "calls past the budget were refused before they were made";
  EXPECT_LE(spent, kBudgetUsd + 1e-9);
}

// Concurrent clients against a USD budget: every request reserves its worst case before the
// upstream call, so the spend recorded in the store never passes the budget.
TEST_F(AuthTest, ConcurrentClientsNeverOverspendABudget) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 12;
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::atomic<int> with_retry_after{0};
  std::string sample_429;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const bool stream = (i % 3) == 0;
        const std::string body =
            chat_body("up-dear", "spend it " + std::to_string(t * 100 + i), 20, stream);
        const HttpResponse r = http_request(port(), "POST", "/v1/chat/completions", body,
                                            bearer(kBudgetKey), Millis(20000));
        if (r.status == 200) {
          ++ok;
        } else if (r.status == 429) {
          ++limited;
          if (!r.header("retry-after").empty()) ++with_retry_after;
          std::lock_guard lock(mu);
          sample_429 = r.body;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(limited.load(), 0) << "the budget must have run out";
  EXPECT_EQ(with_retry_after.load(), limited.load());
  EXPECT_NE(sample_429.find("usd_per_day"), std::string::npos) << sample_429;
  EXPECT_NE(sample_429.find("'budget'"), std::string::npos) << sample_429;
  EXPECT_EQ(sample_429.find(kBudgetKey), std::string::npos);

  const std::string metrics = http_request(port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("triage_key_cost_usd_total{key=\"budget\"}"), std::string::npos);
  const std::string log = stop();
  const double spent =
      query_double(db_path(), "SELECT TOTAL(cost_usd) FROM requests WHERE api_key_name = 'budget'");
  const double overshoot = std::max(0.0, spent - kBudgetUsd);
  std::printf("budget: $%.6f spent: $%.6f overshoot: $%.6f admitted=%d refused=%d\n", kBudgetUsd,
              spent, overshoot, ok.load(), limited.load());
  EXPECT_GT(spent, 0.0);
  EXPECT_LE(spent, kBudgetUsd + 1e-9) << "overshoot $" << overshoot;
  for (const std::string& s :
       {std::string(kBudgetKey), std::string(kAdminToken), std::string(kUpstreamKey)}) {
    EXPECT_EQ(log.find(s), std::string::npos);
    EXPECT_EQ(metrics.find(s), std::string::npos);
    EXPECT_EQ(dump_store(db_path()).find(s), std::string::npos);
  }
}

// A stream the client cuts short is charged for what it was sent: its budget, its store row.
TEST_F(AuthTest, AStreamCutShortIsChargedForWhatWasSent) {
  const HttpResponse cut =
      http_stream(port(), "/v1/chat/completions", chat_body("up-slow", "go slowly", 40, true),
                  bearer(kBudgetKey), Millis(600));
  ASSERT_EQ(cut.status, 200) << cut.error;
  ASSERT_FALSE(cut.complete) << "the stream should still have been running";
  const std::string id = cut.header("x-request-id");
  // The key's spend (admin API) counts the request once it has settled.
  double listed = 0;
  for (int i = 0; i < 200 && listed <= 0; ++i) {
    const json::value keys = admin("GET", "/admin/keys").json();
    for (const auto& k : keys.at("data").as_array()) {
      if (k.at("name").as_string() == "budget")
        listed = k.at("spend").at("usd").to_number<double>();
    }
    if (listed <= 0) std::this_thread::sleep_for(Millis(10));
  }
  stop();
  const double stored =
      query_double(db_path(), "SELECT cost_usd FROM requests WHERE request_id = '" + id + "'");
  const double tokens_out =
      query_double(db_path(), "SELECT tokens_out FROM requests WHERE request_id = '" + id + "'");
  EXPECT_GT(tokens_out, 0) << "the deltas sent are counted";
  EXPECT_LT(tokens_out, 40) << "not the whole answer";
  EXPECT_GT(stored, 0.0);
  EXPECT_DOUBLE_EQ(listed, stored) << "the budget was charged what the store says";
}

// Errors name nothing inside the gateway: not the upstream's address, not an env var's name,
// not a dataset's path. The detail goes to the log (warn) and the store.
TEST_F(AuthTest, ClientErrorsNameNothingInside) {
  const HttpResponse down = chat(bearer(kTeamAKey), "up-down");
  EXPECT_EQ(down.status, 502) << down.body;
  EXPECT_EQ(down.body.find("127.0.0.1:9"), std::string::npos) << down.body;
  EXPECT_NE(error_message(down).find(down.header("x-request-id")), std::string::npos);
  const HttpResponse nokey = chat(bearer(kTeamAKey), "up-nokey");
  EXPECT_EQ(nokey.status, 503) << nokey.body;
  EXPECT_EQ(nokey.body.find("TRIAGE_TEST_UNSET_KEY_4711"), std::string::npos) << nokey.body;
  const std::string down_id = down.header("x-request-id");
  const std::string log = stop();
  EXPECT_NE(log.find(down_id), std::string::npos) << "the failure is logged";
  EXPECT_NE(log.find("127.0.0.1:9"), std::string::npos) << "with its detail: " << log;
  const std::string rows = dump_store(db_path());
  EXPECT_NE(rows.find("127.0.0.1:9"), std::string::npos) << "the store keeps the detail";
  EXPECT_NE(rows.find("TRIAGE_TEST_UNSET_KEY_4711"), std::string::npos);
}

TEST(AuthExposure, NoAuthRefusesToListenBeyondLoopback) {
  TempDir dir;
  write_file(dir.file("triage.yaml"),
             "server: {host: 0.0.0.0, port: 0}\n"
             "store: {type: none}\n"
             "models:\n"
             "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", "
             "api_key_env: TEST_UPSTREAM_KEY}\n");
  ChildProcess p(gateway_binary(), {"serve", "-c", dir.file("triage.yaml")},
                 {{"TEST_UPSTREAM_KEY", kUpstreamKey}});
  const auto status = p.wait_exit(Millis(10000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(p.wait_output_closed(Millis(5000)));
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(p.stderr_text().find("no `auth:` block"), std::string::npos) << p.stderr_text();
}

}  // namespace
}  // namespace triage::testing
