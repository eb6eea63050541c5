// POST /v1/embeddings on the real gateway against the real test upstream: vectors passed
// through (float and base64), cost at the model's input price, the store row (typed `api`
// column, beside a Responses row), a budget-limited key refused once spent, chat models
// refused, and a route naming an embedding model refused at load.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-SECRET-8a1c4e7b2d";
constexpr char kBudgetKey[] = "budget-SECRET-51c0e9a7d3b2";
constexpr char kOpenKey[] = "open-SECRET-0b6d2f8e4a17";
constexpr double kBudgetUsd = 0.2;

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream_model,
                   const std::string& extra) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"" + upstream_model +
           "\", tier: small, retries: {max: 0}" + extra + "}\n";
  };
  // emb-dear: $1000 per 1M input tokens, so that a few 20-word requests spend $0.20.
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: sqlite, path: " + db_path + ", flush_interval_ms: 20}\n"
         "models:\n" +
         model("chat", "gpt-test", ", prices: {input: 0.5, output: 1.5}") +
         model("emb", "text-embed-test", ", kind: embedding, prices: {input: 0.1}") +
         model("emb-dear", "text-embed-test", ", kind: embedding, prices: {input: 1000}") +
         model("emb-500", "mode:error-500", ", kind: embedding") +
         "routes:\n  - {name: support, type: model, model: chat}\n"
         "auth:\n"
         "  keys:\n"
         "    - {name: open, secret_env: OPEN_KEY}\n"
         "    - {name: budget, secret_env: BUDGET_KEY, usd_per_day: " +
         std::to_string(kBudgetUsd) + "}\n"
         "    - {name: chat-only, secret_env: CHAT_ONLY_KEY, models: [chat]}\n";
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

class EmbeddingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0);
    ASSERT_TRUE(std::filesystem::exists(gateway_binary())) << gateway_binary();
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    gw_ = std::make_unique<Gateway>(
        dir_.file("triage.yaml"),
        std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey},
                                           {"OPEN_KEY", kOpenKey},
                                           {"BUDGET_KEY", kBudgetKey},
                                           {"CHAT_ONLY_KEY", "chat-only-SECRET-6e2a9d1c"}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }
  HttpResponse post(const std::string& path, const std::string& body,
                    const std::string& secret = kOpenKey) {
    return http_request(gw_->port(), "POST", path, body,
                        {{"content-type", "application/json"},
                         {"authorization", "Bearer " + secret}});
  }
  HttpResponse embed(const std::string& body, const std::string& secret = kOpenKey) {
    return post("/v1/embeddings", body, secret);
  }
  void stop() { gw_.reset(); }  // SIGTERM: the store is flushed

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

// The test upstream's vector for a text: ((chars + j) % 8) / 8.
std::vector<double> expected_vector(const std::string& text, int dims) {
  std::vector<double> v;
  for (int j = 0; j < dims; ++j) v.push_back(static_cast<double>((text.size() + j) % 8) / 8.0);
  return v;
}

TEST_F(EmbeddingsTest, VectorsUsageAndCostPassThrough) {
  HttpResponse r = embed(R"({"model":"emb","input":["hello there","one two three"],
                             "dimensions":3,"encoding_format":"float","user":"u1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = r.json();
  EXPECT_EQ(v.at("object"), "list");
  EXPECT_EQ(v.at("model"), "emb");  // the catalog name, not the upstream's
  ASSERT_EQ(v.at("data").as_array().size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string text = i == 0 ? "hello there" : "one two three";
    const json::value& item = v.at("data").at(i);
    EXPECT_EQ(item.at("index"), static_cast<int64_t>(i));
    std::vector<double> got;
    for (const json::value& x : item.at("embedding").as_array()) got.push_back(x.to_number<double>());
    EXPECT_EQ(got, expected_vector(text, 3));
  }
  EXPECT_EQ(v.at("usage").at("prompt_tokens"), 5);  // 2 + 3 words
  EXPECT_EQ(r.header("x-triage-cost-usd").substr(0, 9), "0.0000005");  // 5 * 0.1 / 1e6
  EXPECT_EQ(v.at("triage").at("model"), "emb");
  json::value sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_EQ(up_.last_request().at("target"), "/v1/embeddings");
  EXPECT_EQ(sent.at("model"), "text-embed-test");
  EXPECT_EQ(sent.at("dimensions"), 3);
  EXPECT_EQ(sent.at("user"), "u1");

  HttpResponse b64 = embed(R"({"model":"emb","input":"hello","encoding_format":"base64"})");
  ASSERT_EQ(b64.status, 200) << b64.body;
  // 4 float32 values: 5/8, 6/8, 7/8, 0 -> 16 bytes of base64.
  EXPECT_EQ(b64.json().at("data").at(0).at("embedding"), "AAAgPwAAQD8AAGA/AAAAAA==");
}

TEST_F(EmbeddingsTest, OnlyEmbeddingModelsEmbed) {
  auto expect = [](const HttpResponse& r, int status, const std::string& param,
                   const std::string& says) {
    EXPECT_EQ(r.status, status) << r.body;
    json::value v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("error").at("param"), param.c_str()) << r.body;
    EXPECT_NE(std::string(v.at("error").at("message").as_string()).find(says), std::string::npos)
        << r.body;
  };
  expect(embed(R"({"model":"chat","input":"x"})"), 400, "model", "'emb', 'emb-dear', 'emb-500'");
  expect(embed(R"({"model":"support","input":"x"})"), 400, "model", "chat route");
  expect(embed(R"({"model":"nope","input":"x"})"), 404, "model", "can embed");
  expect(embed(R"({"model":"emb","input":[[1,2,3]]})"), 400, "input[0]", "token id arrays");
  expect(embed(R"({"model":"emb","input":"x","encoding_format":"int8"})"), 400, "encoding_format",
         "'float' or 'base64'");
  expect(post("/v1/chat/completions",
              R"({"model":"emb","messages":[{"role":"user","content":"x"}]})"),
         400, "model", "POST /v1/embeddings");
  // The allow-list applies as to chat.
  HttpResponse denied = embed(R"({"model":"emb","input":"x"})", "chat-only-SECRET-6e2a9d1c");
  EXPECT_EQ(denied.status, 403) << denied.body;
  HttpResponse failed = embed(R"({"model":"emb-500","input":"x"})");
  EXPECT_EQ(failed.status, 502) << failed.body;
  EXPECT_EQ(http_request(gw_->port(), "GET", "/v1/embeddings").status, 405);
}

TEST_F(EmbeddingsTest, StoreRowsCarryTheClientApi) {
  HttpResponse e = embed(R"({"model":"emb","input":"one two three four"})");
  ASSERT_EQ(e.status, 200) << e.body;
  const std::string emb_id = e.header("x-request-id");
  HttpResponse r = post("/v1/responses", R"({"model":"support","input":"hello"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string resp_id = r.header("x-request-id");
  ASSERT_FALSE(emb_id.empty());
  stop();
  const std::string where_emb = " FROM requests WHERE request_id = '" + emb_id + "'";
  EXPECT_EQ(query_double(db_path(), "SELECT COUNT(*)" + where_emb +
                                        " AND api = 'embeddings' AND model = 'emb' "
                                        "AND tokens_in = 4 AND tokens_out = 0 "
                                        "AND api_key_name = 'open' AND status = 200"),
            1);
  EXPECT_NEAR(query_double(db_path(), "SELECT cost_usd" + where_emb), 4 * 0.1 / 1e6, 1e-12);
  EXPECT_EQ(query_double(db_path(), "SELECT COUNT(*) FROM requests WHERE request_id = '" +
                                        resp_id + "' AND api = 'responses'"),
            1);
}

TEST_F(EmbeddingsTest, ABudgetLimitedKeyIsRefusedOnceSpent) {
  std::string words;
  for (int i = 0; i < 20; ++i) words += (i ? " w" : "w") + std::to_string(i);
  const std::string body = R"({"model":"emb-dear","input":")" + words + "\"}";
  int admitted = 0;
  HttpResponse refused;
  for (int i = 0; i < 50; ++i) {
    HttpResponse r = embed(body, kBudgetKey);
    if (r.status == 429) {
      refused = r;
      break;
    }
    ASSERT_EQ(r.status, 200) << r.body;
    ++admitted;
  }
  ASSERT_EQ(refused.status, 429) << "the budget never ran out";
  EXPECT_NE(refused.json().at("error").at("message").as_string().find("usd_per_day"),
            std::string::npos)
      << refused.body;
  EXPECT_GT(admitted, 0);
  EXPECT_EQ(embed(body, kOpenKey).status, 200) << "other keys are untouched";
  stop();
  const double spent = query_double(
      db_path(), "SELECT TOTAL(cost_usd) FROM requests WHERE api_key_name = 'budget'");
  EXPECT_NEAR(spent, admitted * 20 * 1000 / 1e6, 1e-9);
  EXPECT_LE(spent, kBudgetUsd);
}

TEST(EmbeddingsConfig, ARouteCannotNameAnEmbeddingModel) {
  TempDir dir;
  write_file(dir.file("triage.yaml"),
             "server: {host: 127.0.0.1, port: 0}\n"
             "store: {type: none}\n"
             "models:\n"
             "  - {name: emb, provider: openai, endpoint: \"http://127.0.0.1:9/v1\", "
             "api_key_env: TEST_UPSTREAM_KEY, kind: embedding}\n"
             "routes:\n"
             "  - {name: search, type: model, model: emb}\n");
  ChildProcess p(gateway_binary(), {"serve", "-c", dir.file("triage.yaml")},
                 {{"TEST_UPSTREAM_KEY", kKey}});
  const auto status = p.wait_exit(Millis(10000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(p.wait_output_closed(Millis(5000)));
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(p.stderr_text().find("routes[0]: route 'search' names embedding model 'emb'"),
            std::string::npos)
      << p.stderr_text();
}

}  // namespace
}  // namespace triage::testing
