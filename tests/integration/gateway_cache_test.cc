// The response cache (docs/cache.md) and capability-aware routing (docs/routes.md
// "Capabilities") on the real gateway against the real test upstream, which counts the calls
// it gets (GET /_stats).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream_model,
                   const std::string& extra) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", upstream_model: \"" + upstream_model +
           "\", tier: small, prices: {input: 1.0, output: 2.0}, retries: {max: 0}" + extra +
           "}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " + db_path + ", flush_interval_ms: 10}\n"
         "models:\n" +
         model("cached", "gpt-test", ", cache: {ttl_s: 60, max_entries: 100}") +
         model("slow", "mode:slow-400", ", cache: {ttl_s: 60, max_entries: 100}") +
         model("flaky", "mode:slow-400,error-500,fail-first-1", ", cache: {ttl_s: 60, max_entries: 100}") +
         model("short", "gpt-test", ", context_window: 50") +
         model("long", "gpt-test", ", context_window: 100000") +
         model("plain", "gpt-test", "") +
         "routes:\n"
         "  - {name: fb, type: fallback, children: [short, long]}\n"
         "  - name: casc\n"
         "    type: cascade\n"
         "    steps:\n"
         "      - {route: short, checks: [non_empty]}\n"
         "      - {route: long}\n"
         "  - {name: only_short, type: fallback, children: [short, short]}\n";
}

std::string chat_body(const std::string& model, const std::string& text, bool stream = false,
                      const std::string& temperature = "0") {
  return R"({"model":")" + model + R"(","temperature":)" + temperature + R"(,"stream":)" +
         (stream ? "true" : "false") + R"(,"messages":[{"role":"user","content":")" + text +
         R"("}]})";
}

std::string long_text() {
  std::string t;
  for (int i = 0; i < 200; ++i) t += "word ";
  return t;
}

struct StoreRow {
  std::string request_id, model, cache, error_code, spans;
  int status = 0;
  int64_t tokens_in = 0, tokens_out = 0;
  double cost = 0;
};

std::map<std::string, StoreRow> read_rows(const std::string& path) {
  std::map<std::string, StoreRow> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT request_id, COALESCE(model,''), COALESCE(cache,''), COALESCE(error_code,''), "
      "spans, status, tokens_in, tokens_out, cost_usd FROM requests";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
  while (sqlite3_step(st) == SQLITE_ROW) {
    StoreRow r{text(0), text(1), text(2), text(3), text(4), sqlite3_column_int(st, 5),
               sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
               sqlite3_column_double(st, 8)};
    out[r.request_id] = r;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0);
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"), std::map<std::string, std::string>{});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }
  HttpResponse post(const std::string& body, std::map<std::string, std::string> headers = {},
                    const std::string& path = "/v1/chat/completions") {
    headers["content-type"] = "application/json";
    return http_request(gw_->port(), "POST", path, body, headers, Millis(10000));
  }
  // Stops the gateway (which writes every queued row) and reads the store.
  std::map<std::string, StoreRow> rows() {
    auto st = gw_->process().terminate(Millis(10000));
    EXPECT_TRUE(st.has_value());
    return read_rows(db_path());
  }

  TempDir dir_;
  Upstream up_{2};
  std::unique_ptr<Gateway> gw_;
};

TEST_F(CacheTest, HitMissAndBypassWithStoreRowsAtZeroCost) {
  const std::string body = chat_body("cached", "what is a cache");
  HttpResponse miss = post(body);
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("x-triage-cache"), "miss");
  EXPECT_EQ(up_.request_count(), 1);

  HttpResponse hit = post(body);
  ASSERT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.header("x-triage-cache"), "hit");
  EXPECT_EQ(up_.request_count(), 1);  // no upstream call
  EXPECT_EQ(hit.json().at("choices").at(0).at("message").at("content"),
            miss.json().at("choices").at(0).at("message").at("content"));
  EXPECT_EQ(hit.header("x-triage-cost-usd").substr(0, 3), "0.0");
  EXPECT_NE(hit.header("x-request-id"), miss.header("x-request-id"));

  HttpResponse fresh = post(body, {{"cache-control", "no-cache"}});
  EXPECT_EQ(fresh.header("x-triage-cache"), "bypass");
  EXPECT_EQ(up_.request_count(), 2);
  HttpResponse unstored = post(body, {{"cache-control", "no-store"}});
  EXPECT_EQ(unstored.header("x-triage-cache"), "bypass");
  EXPECT_EQ(up_.request_count(), 3);
  EXPECT_EQ(post(body).header("x-triage-cache"), "hit");
  EXPECT_EQ(up_.request_count(), 3);

  // Another client key never sees this client's answer; sampling requests are not cached.
  EXPECT_EQ(post(body, {{"authorization", "Bearer other-client"}}).header("x-triage-cache"), "miss");
  EXPECT_EQ(up_.request_count(), 4);
  EXPECT_EQ(post(chat_body("cached", "what is a cache", false, "0.7")).header("x-triage-cache"),
            "bypass");
  EXPECT_EQ(up_.request_count(), 5);
  // A model without `cache:` says nothing about the cache.
  EXPECT_EQ(post(chat_body("plain", "hi")).header("x-triage-cache"), "");

  const std::string metrics = http_request(gw_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find(R"(triage_cache_requests_total{name="cached",outcome="hit"} 2)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(triage_cache_requests_total{name="cached",outcome="bypass"} 3)"),
            std::string::npos);

  auto stored = rows();
  const StoreRow& m = stored.at(miss.header("x-request-id"));
  const StoreRow& h = stored.at(hit.header("x-request-id"));
  EXPECT_EQ(m.cache, "miss");
  EXPECT_GT(m.cost, 0.0);
  EXPECT_EQ(h.cache, "hit");
  EXPECT_EQ(h.cost, 0.0);
  EXPECT_EQ(h.model, "cached");
  // The hit carries the answer's tokens, so its savings are the counterfactual of them.
  EXPECT_EQ(h.tokens_in, m.tokens_in);
  EXPECT_EQ(h.tokens_out, m.tokens_out);
  EXPECT_EQ(stored.at(fresh.header("x-request-id")).cache, "bypass");
}

TEST_F(CacheTest, AStreamIsServedFromTheCacheInTheClientsDialect) {
  ASSERT_EQ(post(chat_body("cached", "stream me please")).status, 200);
  HttpResponse s = http_stream(gw_->port(), "/v1/chat/completions",
                               chat_body("cached", "stream me please", true),
                               {{"content-type", "application/json"}}, Millis(10000));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.header("x-triage-cache"), "hit");
  EXPECT_EQ(up_.request_count(), 1);
  std::string content;
  bool done = false;
  for (const SseEvent& e : parse_sse(s.body)) {
    if (e.data == "[DONE]") {
      done = true;
      continue;
    }
    json::value v = json::parse(e.data);
    const json::value& delta = v.at("choices").at(0).at("delta");
    if (const json::value* c = delta.as_object().if_contains("content"); c && c->is_string()) {
      content += std::string(c->as_string());
    }
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(content, "echo: stream me please");

  // Anthropic Messages: the first request fills, the stream replays with Anthropic's events.
  const std::string msg = R"({"model":"cached","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"hello cache"}]})";
  ASSERT_EQ(post(msg, {{"anthropic-version", "2023-06-01"}}, "/v1/messages").status, 200);
  std::string streamed = msg;
  streamed.insert(1, R"("stream":true,)");
  HttpResponse ms = http_stream(gw_->port(), "/v1/messages", streamed,
                                {{"content-type", "application/json"},
                                 {"anthropic-version", "2023-06-01"}},
                                Millis(10000));
  ASSERT_EQ(ms.status, 200) << ms.body;
  EXPECT_EQ(ms.header("x-triage-cache"), "hit");
  EXPECT_EQ(up_.request_count(), 2);
  std::vector<std::string> kinds;
  for (const SseEvent& e : parse_sse(ms.body)) kinds.push_back(e.event);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), "message_start");
  EXPECT_EQ(kinds.back(), "message_stop");
  EXPECT_NE(ms.body.find("echo: hello cache"), std::string::npos);
}

TEST_F(CacheTest, FiftyConcurrentIdenticalRequestsMakeOneUpstreamCall) {
  constexpr int kClients = 50;
  std::vector<HttpResponse> responses(kClients);
  std::vector<std::thread> clients;
  const std::string body = chat_body("slow", "all at once");
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { responses[i] = post(body); });
  }
  for (std::thread& t : clients) t.join();
  int misses = 0, hits = 0;
  for (const HttpResponse& r : responses) {
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    EXPECT_EQ(r.json().at("choices").at(0).at("message").at("content"), "echo: all at once");
    misses += r.header("x-triage-cache") == "miss";
    hits += r.header("x-triage-cache") == "hit";
  }
  EXPECT_EQ(up_.request_count(), 1);
  EXPECT_EQ(misses, 1);
  EXPECT_EQ(hits, kClients - 1);
}

TEST_F(CacheTest, WhenTheLeaderFailsTheFollowersGoUpstreamThemselves) {
  constexpr int kClients = 5;
  std::vector<HttpResponse> responses(kClients);
  std::vector<std::thread> clients;
  const std::string body = chat_body("flaky", "leader fails");
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { responses[i] = post(body); });
  }
  for (std::thread& t : clients) t.join();
  int failed = 0, ok = 0;
  for (const HttpResponse& r : responses) {
    if (r.status == 200) {
      ++ok;
      EXPECT_EQ(r.json().at("choices").at(0).at("message").at("content"), "echo: leader fails");
    } else {
      ++failed;
      EXPECT_EQ(r.status, 502) << r.body;
    }
  }
  EXPECT_EQ(failed, 1);  // only the leader: its error is never shared
  EXPECT_EQ(ok, kClients - 1);
  EXPECT_EQ(up_.request_count(), kClients);
}

TEST_F(CacheTest, ALongRequestSkipsTheShortContextModelInAFallbackAndACascade) {
  HttpResponse fb = post(chat_body("fb", long_text()));
  ASSERT_EQ(fb.status, 200) << fb.body;
  EXPECT_EQ(fb.header("x-triage-model"), "long");
  HttpResponse casc = post(chat_body("casc", long_text()));
  ASSERT_EQ(casc.status, 200) << casc.body;
  EXPECT_EQ(casc.header("x-triage-model"), "long");
  EXPECT_EQ(up_.request_count(), 2);  // the short model was never called

  HttpResponse none = post(chat_body("only_short", long_text()));
  EXPECT_EQ(none.status, 400) << none.body;
  json::value err = none.json();
  EXPECT_EQ(err.at("error").at("type"), "invalid_request_error");
  EXPECT_EQ(err.at("error").at("code"), "no_eligible_model");
  EXPECT_NE(std::string(err.at("error").at("message").as_string()).find("context"),
            std::string::npos);
  EXPECT_EQ(up_.request_count(), 2);

  auto stored = rows();
  for (const HttpResponse* r : {&fb, &casc}) {
    const StoreRow& row = stored.at(r->header("x-request-id"));
    EXPECT_NE(row.spans.find(R"("skipped":{"kind":"context")"), std::string::npos) << row.spans;
    EXPECT_NE(row.spans.find("skipped: context"), std::string::npos) << row.spans;
  }
  const StoreRow& refused = stored.at(none.header("x-request-id"));
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.error_code, "no_eligible_model");
}


// With client keys: a hit is counted against the key's requests per minute, but reserves and
// settles no tokens or money.
TEST(CacheAuthTest, AHitCountsAgainstTheRequestRateButSpendsNothing) {
  Upstream up;
  TempDir dir;
  ASSERT_GT(up.port(), 0);
  const std::string ep = "http://127.0.0.1:" + std::to_string(up.port()) + "/v1";
  write_file(dir.file("triage.yaml"),
             "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
             "store: {type: none}\n"
             "models:\n"
             "  - {name: cached, provider: openai, endpoint: \"" + ep + "\", upstream_model: "
             "gpt-test, tier: small, prices: {input: 1.0, output: 2.0}, cache: {ttl_s: 60}}\n"
             "auth:\n"
             "  admin_token_env: CACHE_ADMIN_TOKEN\n"
             "  keys:\n"
             "    - {name: limited, secret_env: LIMITED_KEY, requests_per_minute: 3, "
             "usd_per_day: 100}\n");
  Gateway gw(dir.file("triage.yaml"),
             {{"LIMITED_KEY", "sk-limited-1234567890"}, {"CACHE_ADMIN_TOKEN", "admin-token-1234567890"}});
  ASSERT_GT(gw.port(), 0) << gw.process().stderr_text();
  auto post = [&] {
    return http_request(gw.port(), "POST", "/v1/chat/completions", chat_body("cached", "rate me"),
                        {{"content-type", "application/json"},
                         {"authorization", "Bearer sk-limited-1234567890"}},
                        Millis(10000));
  };
  const HttpResponse miss = post();
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("x-triage-cache"), "miss");
  EXPECT_EQ(post().header("x-triage-cache"), "hit");
  EXPECT_EQ(post().header("x-triage-cache"), "hit");
  const HttpResponse limited = post();
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(up.request_count(), 1);

  const HttpResponse keys = http_request(gw.port(), "GET", "/admin/keys", {},
                                         {{"authorization", "Bearer admin-token-1234567890"}});
  ASSERT_EQ(keys.status, 200) << keys.body;
  const json::value all = json::parse(keys.body);
  const json::object& spend = all.at("data").at(0).at("spend").as_object();
  const json::value usage = miss.json().at("usage");
  EXPECT_EQ(spend.at("tokens").to_number<int64_t>(),
            usage.at("prompt_tokens").to_number<int64_t>() +
                usage.at("completion_tokens").to_number<int64_t>());  // the miss's only
  EXPECT_NEAR(spend.at("usd_today").to_number<double>(),
              std::stod(miss.header("x-triage-cost-usd")), 1e-9);
}

}  // namespace
}  // namespace triage::testing
