#include "insights/report.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>

#include "common/csv.h"
#include "config/config.h"
#include "core/trace.h"
#include "engine/builtins.h"
#include "providers/replay.h"
#include "routes/route_table.h"
#include "telemetry/sqlite_store.h"

namespace triage::insights {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string messages_json(const std::string& prompt) {
  return json::serialize(json::array{json::object{{"role", "user"}, {"content", prompt}}});
}

core::Span call(std::string model, std::string tier, int64_t in, int64_t out, double cost,
                bool ok = true, std::optional<double> grade = std::nullopt) {
  core::Span s;
  s.kind = core::SpanKind::kModelCall;
  s.name = std::move(model);
  s.tier = std::move(tier);
  s.tokens_in = in;
  s.tokens_out = out;
  s.cost_usd = cost;
  s.ok = ok;
  s.grade = grade;
  return s;
}

class ReportStore : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::string(TRIAGE_BINARY_DIR) + "/report_test_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
    fs::remove(path_);
    fs::remove(path_ + "-wal");
    fs::remove(path_ + "-shm");
  }
  void TearDown() override {
    fs::remove(path_);
    fs::remove(path_ + "-wal");
    fs::remove(path_ + "-shm");
  }
  std::string path_;
};

// A store with known rows: every number of the summary is worked out by hand below.
TEST_F(ReportStore, SummaryNumbersComeFromTheStore) {
  // Prices per 1M tokens: s 0/0 (small), m 1/1 (medium), l 10/30 (large, the reference).
  const config::Config cfg = config::parse_config(R"(
models:
  - {name: s, provider: openai, endpoint: http://127.0.0.1:1/v1, tier: small, prices: {input: 0, output: 0}}
  - {name: m, provider: openai, endpoint: http://127.0.0.1:1/v1, tier: medium, prices: {input: 1, output: 1}}
  - {name: l, provider: openai, endpoint: http://127.0.0.1:1/v1, tier: large, prices: {input: 10, output: 30}}
reference_model: l
)", "test.yaml");
  struct Row {
    std::string route, model, tier, prompt;
    int status;
    int64_t total_ms;
    bool synthesized;
    std::vector<core::ReviewFlag> flags;
    std::vector<core::Span> spans;
  };
  const std::vector<Row> rows = {
      {"support", "s", "small", "hi", 200, 1, false, {}, {call("s", "small", 10, 20, 0)}},
      {"support", "m", "medium", "lost card", 200, 300, true, {core::ReviewFlag::kEscalated},
       {call("m", "medium", 10, 200, 210e-6)}},
      {"support", "s", "small", "balance", 200, 2, false, {core::ReviewFlag::kFlagBand},
       {call("s", "small", 10, 20, 0)}},
      {"math", "m", "medium", "q1", 200, 500, false, {}, {call("m", "medium", 100, 50, 150e-6, true, 1.0)}},
      {"math", "l", "large", "q2", 200, 2000, false, {core::ReviewFlag::kCascaded},
       {call("m", "medium", 100, 60, 160e-6, true, 0.0), call("l", "large", 100, 70, 3100e-6, true, 1.0)}},
      {"math", "m", "medium", "q3", 200, 400, false, {}, {call("m", "medium", 100, 40, 140e-6, true, 0.0)}},
      {"math", "", "", "q4", 502, 100, false, {}, {call("m", "medium", 0, 0, 0, false)}},
      {"", "m", "medium", "unknown", 200, 600, false, {}, {call("m", "medium", 5, 5, 10e-6, true, 1.0)}},
  };
  {
    telemetry::SqliteStore store({path_, 1000, 64, 10});
    int i = 0;
    for (const Row& r : rows) {
      auto t = std::make_shared<core::Trace>();
      t->request_id = "req-" + std::to_string(i);
      t->time_ms = 1'700'000'000'000 + i++;
      t->route = r.route;
      t->model = r.model;
      t->tier = r.tier;
      t->http_status = r.status;
      t->total_us = r.total_ms * 1000;
      t->synthesized = r.synthesized;
      t->flags = r.flags;
      t->spans = r.spans;
      for (const core::Span& s : r.spans) {
        t->tokens_in += s.tokens_in;
        t->tokens_out += s.tokens_out;
        t->cost_usd += s.cost_usd;
      }
      t->tokens_estimated = true;
      t->keep_payloads = true;
      t->prompt_json = messages_json(r.prompt);
      store.consume(t);
    }
    store.close();
  }
  // The reference's recordings: grade and answer length per prompt.
  const std::map<std::string, ReferenceRecord> recorded = {
      {"q1", {1.0, 80}}, {"q2", {1.0, 70}}, {"q3", {1.0, 90}}, {"q4", {1.0, 50}}};
  const ReferenceLookup lookup = [&](std::string_view p) {
    auto it = recorded.find(std::string(p));
    return it == recorded.end() ? ReferenceRecord{} : it->second;
  };

  auto read = read_report_rows(path_);
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_EQ(read->size(), rows.size());
  EXPECT_EQ((*read)[4].calls.size(), 2u);
  ASSERT_TRUE((*read)[4].calls[1].grade.has_value());  // the grade survives the span JSON
  EXPECT_EQ(*(*read)[4].calls[1].grade, 1.0);
  EXPECT_EQ((*read)[0].prompt.value_or(""), "hi");

  const ReportSummary s = summarize(*read, &cfg, &lookup);
  EXPECT_EQ(s.all.requests, 8);
  EXPECT_EQ(s.all.errors, 1);
  EXPECT_NEAR(s.all.cost_usd, (210 + 150 + 160 + 3100 + 140 + 10) * 1e-6, 1e-12);
  // Counterfactual per row, in 1e-6 USD: first call's input x 10 + output x 30, the output
  // being the reference's recorded length when known (q1..q4), else the returned answer's.
  //   hi 10*10+20*30=700; lost card 100+200*30=6100; balance 700; q1 1000+80*30=3400;
  //   q2 1000+70*30=3100; q3 1000+90*30=3700; q4 (failed, 0 in) 50*30=1500; unknown 50+150=200
  EXPECT_NEAR(s.counterfactual_cost_usd, 19400e-6, 1e-12);
  EXPECT_NEAR(s.counterfactual_cpi_usd(), 19400e-6 / 8, 1e-12);
  EXPECT_EQ(s.counterfactual_recorded_lengths, 4);
  EXPECT_NEAR(s.counterfactual_by_route.at("support"), 7500e-6, 1e-12);
  EXPECT_NEAR(s.counterfactual_by_route.at("math"), 11700e-6, 1e-12);
  EXPECT_NEAR(s.counterfactual_by_route.at("(direct)"), 200e-6, 1e-12);
  EXPECT_EQ(s.reference_model, "l");
  // Quality: paired q1 (1 vs 1), q2 (l answered: 1 vs 1), q3 (0 vs 1).
  EXPECT_EQ(s.paired, 3);
  EXPECT_NEAR(s.quality, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.counterfactual_quality, 1.0, 1e-12);
  EXPECT_EQ(s.ungraded_synthesized, 1);
  EXPECT_EQ(s.ungraded_no_grade, 2);
  EXPECT_EQ(s.ungraded_no_reference, 1);
  EXPECT_EQ(s.ungraded_errors, 1);
  // Escalations and review flags.
  EXPECT_EQ(s.escalations, 2);
  EXPECT_EQ(s.review_flags, 1);
  EXPECT_EQ(s.synthesized, 1);
  EXPECT_EQ(s.tokens_estimated, 8);
  // Tier shares: config order, then the error row's "(none)".
  ASSERT_EQ(s.by_tier.size(), 4u);
  EXPECT_EQ(s.by_tier[0].name, "small");
  EXPECT_EQ(s.by_tier[0].requests, 2);
  EXPECT_EQ(s.by_tier[1].name, "medium");
  EXPECT_EQ(s.by_tier[1].requests, 4);
  EXPECT_EQ(s.by_tier[2].name, "large");
  EXPECT_EQ(s.by_tier[3].name, "(none)");
  EXPECT_EQ(s.route_tiers.at("support").at("small"), 2);
  EXPECT_EQ(s.route_tiers.at("support").at("medium"), 1);
  EXPECT_EQ(s.route_tiers.at("math").at("medium"), 2);
  EXPECT_EQ(s.route_tiers.at("math").at("large"), 1);
  EXPECT_EQ(s.route_tiers.at("(direct)").at("medium"), 1);
  // Latency over the 7 successful rows {1,2,300,400,500,600,2000} ms: p50 = 400.
  EXPECT_DOUBLE_EQ(s.all.p50_ms, 400.0);
  EXPECT_DOUBLE_EQ(s.all.p99_ms, 2000.0);

  const std::string text = report_text(s, path_, &cfg);
  EXPECT_NE(text.find("Escalations: 2 (cascade escalated to a later step: 1; classifier "
                      "escalated one tier: 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("quality  routed 0.667  vs  all-l 1.000"), std::string::npos) << text;
  EXPECT_NE(text.find("all-l $0.019400"), std::string::npos) << text;

  // Without a config: no counterfactual, nothing paired.
  const ReportSummary plain = summarize(*read, nullptr, nullptr);
  EXPECT_TRUE(plain.reference_model.empty());
  EXPECT_EQ(plain.paired, 0);
  EXPECT_EQ(plain.counterfactual_cost_usd, 0.0);
}

TEST_F(ReportStore, MissingOrForeignStoreIsAnError) {
  EXPECT_FALSE(read_report_rows(path_ + ".missing").ok());
  {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("not a database", f);
    std::fclose(f);
  }
  auto r = read_report_rows(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(path_), std::string::npos);
}

// The demo's config (examples/quickstart.yaml) run in-process on a handful of prompts: the
// report's numbers must equal what the traces say, and the recorded grades must reach the
// store. Needs the shipped models (`make models`).
TEST_F(ReportStore, QuickstartRoutesFeedTheReport) {
  const fs::path src = TRIAGE_SOURCE_DIR;
  if (!fs::exists(src / "models/intent.bin") || !fs::exists(src / "models/gsm8k_scorer.bin")) {
    GTEST_SKIP() << "needs models/intent.bin and models/gsm8k_scorer.bin (make models)";
  }
  config::Config cfg = config::load_config((src / "examples/quickstart.yaml").string());
  providers::ProviderRegistry registry;
  engine::register_builtins(registry);
  registry.add("replay", [](const config::Config& c, const config::Model& m,
                            const providers::EnvLookup&) -> std::unique_ptr<providers::ModelClient> {
    providers::ReplayOptions o = providers::parse_replay_options(c, m);
    o.ttft_ms = 0;  // no modelled latency in a unit test
    o.tokens_per_s = 0;
    return std::make_unique<providers::ReplayClient>(c, m, std::move(o));
  });
  auto table = routes::RouteTable::build(cfg, registry, [](const char*) { return nullptr; });

  // Three support queries (a likely FAQ answer, another intent, gibberish that should not be
  // confident) and three GSM8K problems straight from the dataset.
  std::vector<std::pair<std::string, std::string>> all_jobs = {
      {"support", "what is my checking account balance"},
      {"support", "please transfer 100 dollars from savings to checking"},
      {"support", "zqx blorf wimble"},
  };
  {
    CsvTable csv = read_csv_file((src / "data/routellm/gsm8k.csv").string());
    const size_t p = *csv.column("prompt");
    for (size_t i : {0u, 1u, 2u}) all_jobs.emplace_back("math", *csv.rows[i][p]);
    all_jobs.emplace_back("gpt-4-turbo", *csv.rows[3][p]);  // a catalog model, called directly
  }
  const config::Model& strong_model = *cfg.find_model("gpt-4-turbo");
  providers::ReplayClient strong(cfg, strong_model,
                                 providers::parse_replay_options(cfg, strong_model));

  std::vector<core::Trace> traces(all_jobs.size());
  {
    telemetry::SqliteStore store({path_, 1000, 64, 10});
    boost::asio::io_context io;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          for (size_t i = 0; i < all_jobs.size(); ++i) {
            core::ChatRequest req;
            req.model = all_jobs[i].first;
            core::Message msg;
            msg.role = "user";
            msg.text = all_jobs[i].second;
            req.messages.push_back(std::move(msg));
            core::Trace& t = traces[i];
            t.request_id = "req-" + std::to_string(i);
            t.time_ms = 1'700'000'000'000 + static_cast<int64_t>(i);
            t.route = cfg.find_model(req.model) ? "" : req.model;  // as the gateway does
            t.keep_payloads = true;
            t.prompt_json = messages_json(all_jobs[i].second);
            const SteadyTime start = SteadyClock::now();
            routes::ExecContext ctx{t, start, start + std::chrono::minutes(1)};
            Result<core::Completion> r = co_await table->find(req.model)->run(req, ctx, nullptr);
            t.http_status = r ? 200 : 500;
            t.total_us = micros_between(start, SteadyClock::now());
            store.consume(std::make_shared<core::Trace>(t));
          }
        },
        boost::asio::detached);
    io.run();
    store.close();
  }

  auto rows = read_report_rows(path_);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), traces.size());
  auto lookup = reference_lookup(cfg);
  ASSERT_TRUE(lookup.has_value());
  const ReportSummary s = summarize(*rows, &cfg, &*lookup);

  // Expected, from the traces and the dataset directly.
  const config::Model& ref = *cfg.find_model("gpt-4-turbo");
  double cost = 0, cf = 0, quality = 0, cf_quality = 0;
  int64_t paired = 0, escalations = 0, flagged = 0, synthesized = 0;
  for (size_t i = 0; i < traces.size(); ++i) {
    const core::Trace& t = traces[i];
    EXPECT_EQ(t.http_status, 200) << t.request_id << " " << t.error_message;
    cost += t.cost_usd;
    const providers::ReplayClient::Record* rec = strong.find(all_jobs[i].second);
    const core::Span* first = nullptr;
    const core::Span* answer = nullptr;
    for (const core::Span& sp : t.spans) {
      if (sp.kind != core::SpanKind::kModelCall) continue;
      if (!first) first = &sp;
      if (sp.ok && sp.name == t.model) answer = &sp;
    }
    ASSERT_NE(answer, nullptr) << t.request_id;
    const int64_t out = rec && rec->response ? rec->response_tokens : answer->tokens_out;
    cf += config::cost_usd(ref.prices, first->tokens_in, out);
    for (const core::ReviewFlag f : t.flags) {
      escalations += f == core::ReviewFlag::kCascaded || f == core::ReviewFlag::kEscalated;
      flagged += f == core::ReviewFlag::kFlagBand || f == core::ReviewFlag::kLowConfidence;
    }
    synthesized += t.synthesized;
    if (all_jobs[i].first != "support") {
      // The answering replay model's recorded grade reached the span.
      ASSERT_TRUE(answer->grade.has_value()) << t.request_id;
      ASSERT_TRUE(rec && rec->score);
      ++paired;
      quality += *answer->grade;
      cf_quality += *rec->score;
    } else {
      EXPECT_TRUE(t.model == "intent-small" || t.model == "mixtral-support") << t.model;
      EXPECT_EQ(t.synthesized, t.model == "mixtral-support");
      EXPECT_FALSE(answer->grade.has_value());  // small tier and placeholders: never graded
    }
  }
  EXPECT_NEAR(s.all.cost_usd, cost, 1e-12);
  EXPECT_NEAR(s.counterfactual_cost_usd, cf, 1e-12);
  EXPECT_EQ(s.paired, paired);
  EXPECT_NEAR(s.quality, quality / static_cast<double>(paired), 1e-12);
  EXPECT_NEAR(s.counterfactual_quality, cf_quality / static_cast<double>(paired), 1e-12);
  EXPECT_EQ(s.escalations, escalations);
  EXPECT_EQ(s.review_flags, flagged);
  EXPECT_EQ(s.synthesized, synthesized);
  EXPECT_EQ(s.paired, 4);
  EXPECT_EQ(s.ungraded_synthesized + s.ungraded_no_grade, 3);  // the three support queries
  EXPECT_EQ(s.route_tiers.at("(direct)").at("large"), 1);
  EXPECT_LT(s.all.cost_usd, s.counterfactual_cost_usd);  // routing is cheaper than all-large
}

}  // namespace
}  // namespace triage::insights
