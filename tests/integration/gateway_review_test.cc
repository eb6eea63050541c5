// The human-in-the-loop against the real gateway and the real test upstream: requests enter
// the review queue, feedback and labels go through the HTTP API, `triage export` turns them
// into training data, and `triage train router` trains on the exported labels.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-REVIEW-8c1e2d";
const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& tier, const std::string& price) {
    return "  - {name: " + name + ", provider: openai, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: gpt-test, tier: " + tier +
           ", prices: {input: " + price + ", output: " + price + "}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         "store: {type: sqlite, path: " + db_path + ", keep_payloads: true, flush_interval_ms: 20}\n"
         "tiers: [small, large]\n"
         "review: {flags: [cascaded], sample_large: 1.0, negative_feedback: true}\n"
         "models:\n" +
         model("up-small", "small", "0.1") + model("up-large", "large", "10");
}

std::string chat_body(const std::string& model, const std::string& text) {
  json::object body{{"model", model},
                    {"messages", json::array{json::object{{"role", "system"}, {"content", "be brief"}},
                                             json::object{{"role", "user"}, {"content", text}}}}};
  return json::serialize(body);
}

class ReviewLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    start();
  }
  void start() {
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  std::string db_path() const { return dir_.file("triage.db"); }
  int port() const { return gw_->port(); }

  // Sends a chat request; returns its request id.
  std::string ask(const std::string& model, const std::string& text) {
    auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body(model, text), kJson);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    return r.header("x-request-id");
  }
  HttpResponse post(const std::string& target, const std::string& body,
                    const std::map<std::string, std::string>& headers = kJson) {
    return http_request(port(), "POST", target, body, headers, Millis(10000));
  }
  HttpResponse get(const std::string& target) {
    return http_request(port(), "GET", target, {}, {}, Millis(10000));
  }
  // Runs `triage ARGS...` to completion; returns its stdout+stderr, expects exit 0.
  std::string run_cli(std::vector<std::string> args, Millis timeout = Millis(180000)) {
    ChildProcess p(gateway_binary(), std::move(args));
    auto status = p.wait_exit(timeout);
    std::string out;
    for (const auto& l : p.stdout_lines()) out += l + "\n";
    out += p.stderr_text();
    EXPECT_TRUE(status.has_value()) << "did not exit in time: " << out;
    if (status) {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out;
    }
    return out;
  }
  static std::string error_message(const HttpResponse& r) {
    auto v = r.json();
    if (!v.is_object() || !v.as_object().contains("error")) return "<no error body: " + r.body + ">";
    return std::string(v.at("error").at("message").as_string());
  }
  int64_t count(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    int64_t v = -1;
    if (s && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(ReviewLoopTest, TrafficFeedbackLabelsExportAndTrain) {
  // 200 requests: even ones are "math" questions answered by the large tier, odd ones chit-chat
  // on the small tier. sample_large is 1.0, so every large call enters the queue.
  constexpr int kRequests = 200;
  std::vector<std::string> ids;
  for (int i = 0; i < kRequests; ++i) {
    const bool math = i % 2 == 0;
    ids.push_back(ask(math ? "up-large" : "up-small",
                      math ? "compute the integral number " + std::to_string(i) + " of x squared"
                           : "hello friend how are you today " + std::to_string(i)));
    ASSERT_FALSE(ids.back().empty());
  }

  // Negative feedback on a small-tier answer enters the queue with its reason.
  auto fb = post("/v1/feedback", R"({"request_id":")" + ids[1] +
                                     R"(","thumbs":"down","corrected_answer":"I am fine","comment":"meh"})");
  ASSERT_EQ(fb.status, 200) << fb.body;
  EXPECT_EQ(fb.json().at("queued_for_review"), true);
  // The completion id works as well as the request id.
  const std::string completion_id = "chatcmpl-" + ids[3].substr(4);
  auto fb2 = post("/v1/feedback", R"({"request_id":")" + completion_id + R"(","score":0.9})");
  ASSERT_EQ(fb2.status, 200) << fb2.body;
  EXPECT_EQ(std::string(fb2.json().at("request_id").as_string()), ids[3]);
  EXPECT_EQ(fb2.json().at("queued_for_review"), false);

  auto neg = get("/v1/review?reason=negative_feedback");
  ASSERT_EQ(neg.status, 200) << neg.body;
  ASSERT_EQ(neg.json().at("items").as_array().size(), 1u) << neg.body;
  EXPECT_EQ(std::string(neg.json().at("items").at(0).at("request_id").as_string()), ids[1]);

  // The open queue, page by page: the 100 large calls and the complained-about one.
  std::set<std::string> open;
  std::string cursor;
  int pages = 0;
  do {
    auto page = get("/v1/review?status=open&limit=30" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.body;
    auto v = page.json();
    for (const auto& it : v.at("items").as_array()) open.insert(std::string(it.at("request_id").as_string()));
    cursor = v.at("next_cursor").is_null() ? "" : std::string(v.at("next_cursor").as_string());
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(open.size(), 101u);
  for (int i = 0; i < kRequests; i += 2) EXPECT_TRUE(open.count(ids[i])) << i;
  EXPECT_TRUE(open.count(ids[1]));

  // One request in full: prompt, every attempt with its answer, cost, the feedback.
  auto d = get("/v1/review/" + ids[1]);
  ASSERT_EQ(d.status, 200) << d.body;
  auto detail = d.json();
  EXPECT_EQ(detail.at("model"), "up-small");
  EXPECT_EQ(detail.at("payload").at("messages").at(1).at("content"),
            "hello friend how are you today 1");
  EXPECT_EQ(detail.at("payload").at("response"), "echo: hello friend how are you today 1");
  EXPECT_EQ(detail.at("payload").at("attempts").at(0).at("output"),
            "echo: hello friend how are you today 1");
  EXPECT_GT(detail.at("cost_usd").to_number<double>(), 0.0);
  EXPECT_EQ(detail.at("feedback").at(0).at("thumbs"), "down");
  EXPECT_EQ(detail.at("reasons").at(0), "negative_feedback");

  // A reviewer labels everything: math needs the large tier, chit-chat the small one.
  for (int i = 0; i < kRequests; ++i) {
    const std::string tier = i % 2 == 0 ? "large" : "small";
    auto l = post("/v1/review/" + ids[i] + "/label",
                  R"({"verdict":"correct","sufficient_tier":")" + tier + R"(","reviewer":"qa"})");
    ASSERT_EQ(l.status, 200) << l.body;
  }
  auto still_open = get("/v1/review?status=open");
  EXPECT_EQ(still_open.json().at("items").as_array().size(), 0u) << still_open.body;
  EXPECT_EQ(get("/v1/review/" + ids[0]).json().at("labels").at(0).at("sufficient_tier"), "large");

  // Exports, while the gateway keeps running.
  const std::string ft = dir_.file("ft.jsonl"), labels = dir_.file("labels.csv");
  run_cli({"export", "finetune", "--store", db_path(), "--out", ft});
  std::ifstream ft_in(ft);
  std::vector<std::string> ft_lines;
  for (std::string l; std::getline(ft_in, l);) ft_lines.push_back(l);
  ASSERT_EQ(ft_lines.size(), static_cast<size_t>(kRequests));
  for (const auto& line : ft_lines) {
    // Every label approved the answer given, which the upstream made as "echo: <user text>".
    auto ex = json::parse(line);
    auto& msgs = ex.at("messages").as_array();
    ASSERT_EQ(msgs.size(), 3u) << line;
    EXPECT_EQ(msgs[0].at("role"), "system");
    EXPECT_EQ(msgs[1].at("role"), "user");
    EXPECT_EQ(msgs[2].at("role"), "assistant");
    EXPECT_EQ(std::string(msgs[2].at("content").as_string()),
              "echo: " + std::string(msgs[1].at("content").as_string()));
  }
  // ids[1]'s label carries no correction, so its approved answer is exported, not the user's.

  run_cli({"export", "labels", "--store", db_path(), "--out", labels, "--tiers", "small,large"});
  std::ifstream lab_in(labels);
  std::string header;
  std::getline(lab_in, header);
  EXPECT_EQ(header.rfind("id,prompt,category,weak_correct,strong_correct", 0), 0u) << header;
  int rows = 0, strong_needed = 0;
  for (std::string l; std::getline(lab_in, l);) {
    ++rows;
    if (l.find(",0,1,large,") != std::string::npos) ++strong_needed;
  }
  EXPECT_EQ(rows, kRequests);
  EXPECT_EQ(strong_needed, kRequests / 2);

  // The loop closes: the exported labels train a router.
  const std::string model = dir_.file("router.bin");
  const std::string out = run_cli({"train", "router", "--dataset", labels, "--out", model});
  EXPECT_TRUE(std::filesystem::exists(model)) << out;
  EXPECT_TRUE(std::filesystem::exists(model + ".json")) << out;
}

TEST_F(ReviewLoopTest, FeedbackAndLabelValidation) {
  const std::string id = ask("up-small", "hello there");
  struct Case {
    std::string body;
    int status;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"not json", 400, "not valid JSON"},
      {"[1]", 400, "JSON object"},
      {R"({"thumbs":"up"})", 400, "'request_id' is required"},
      {R"({"request_id":")" + id + R"("})", 400, "exactly one of"},
      {R"({"request_id":")" + id + R"(","thumbs":"up","score":1})", 400, "exactly one of"},
      {R"({"request_id":")" + id + R"(","thumbs":"sideways"})", 400, "\"up\" or \"down\""},
      {R"({"request_id":")" + id + R"(","score":2})", 400, "between 0 and 1"},
      {R"({"request_id":")" + id + R"(","score":"high"})", 400, "must be a number"},
      {R"({"request_id":")" + id + R"(","thumbs":"up","rating":5})", 400, "unknown field 'rating'"},
      {R"({"request_id":")" + id + R"(","thumbs":"up","comment":7})", 400, "'comment' must be a string"},
      {R"({"request_id":"req_000000000000000000000000","thumbs":"up"})", 404, "no request with id"},
  };
  for (const auto& c : cases) {
    auto r = post("/v1/feedback", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_NE(error_message(r).find(c.message_part), std::string::npos) << c.body << " -> " << r.body;
  }
  auto plain = post("/v1/feedback", R"({"request_id":")" + id + R"(","thumbs":"up"})",
                    {{"content-type", "text/plain"}});
  EXPECT_EQ(plain.status, 415) << plain.body;
  EXPECT_EQ(get("/v1/feedback").status, 405);

  EXPECT_EQ(post("/v1/review/" + id + "/label", R"({"verdict":"maybe"})").status, 400);
  auto tier = post("/v1/review/" + id + "/label", R"({"verdict":"correct","sufficient_tier":"huge"})");
  EXPECT_EQ(tier.status, 400);
  EXPECT_NE(error_message(tier).find("unknown tier 'huge' (known: small, large)"), std::string::npos)
      << tier.body;
  EXPECT_EQ(post("/v1/review/req_000000000000000000000000/label", R"({"verdict":"correct"})").status,
            404);
  EXPECT_EQ(get("/v1/review/req_000000000000000000000000").status, 404);
  EXPECT_EQ(get("/v1/review?limit=0").status, 400);
  EXPECT_EQ(get("/v1/review?cursor=garbage").status, 400);
  EXPECT_EQ(get("/v1/review?colour=red").status, 400);
  EXPECT_EQ(get("/v1/review/" + id + "/label").status, 405);
  // Nothing invalid was stored.
  EXPECT_EQ(count("SELECT COUNT(*) FROM feedback"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM labels"), 0);
}

TEST_F(ReviewLoopTest, FeedbackSurvivesSigtermRightAfterThe200) {
  const std::string id = ask("up-small", "remember me");
  // Posted at once: the request's row may still be in the store's write queue (the handler
  // flushes it), and the gateway is killed the moment the 200 arrives.
  auto r = post("/v1/feedback", R"({"request_id":")" + id + R"(","thumbs":"down","comment":"x"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto l = post("/v1/review/" + id + "/label", R"({"verdict":"incorrect","corrected_answer":"y"})");
  ASSERT_EQ(l.status, 200) << l.body;
  auto status = gw_->process().terminate(Millis(15000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM feedback WHERE request_id = '" + id + "' AND comment = 'x'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM labels WHERE request_id = '" + id +
                  "' AND corrected_answer = 'y'"),
            1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_reasons WHERE request_id = '" + id +
                  "' AND reason = 'negative_feedback'"),
            1);
}

}  // namespace
}  // namespace triage::testing
