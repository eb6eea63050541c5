#include "insights/analyze.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"
#include "telemetry/sqlite_store.h"

namespace triage::insights {
namespace {

namespace json = boost::json;

// Per process: ctest runs every test in its own process, in parallel, and two tests share
// file names here (a shared config file once made one of them read the other's half-written
// or removed file). Every path handed out is removed (with SQLite's -wal and -shm) when the
// process exits.
std::string temp_path(const std::string& name) {
  struct RemovedAtExit {
    std::vector<std::string> paths;
    ~RemovedAtExit() {
      std::error_code ec;
      for (const std::string& p : paths) {
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix, ec);
      }
    }
  };
  static RemovedAtExit files;
  files.paths.push_back(std::string(TRIAGE_BINARY_DIR) + "/analyze_test_" +
                        std::to_string(::getpid()) + "_" + name);
  return files.paths.back();
}

const CategoryStats* find_category(const AnalyzeReport& r, const std::string& name) {
  for (const CategoryStats& c : r.categories) {
    if (c.category == name) return &c;
  }
  return nullptr;
}

const Opportunity* find_op(const AnalyzeReport& r, const std::string& cat, const std::string& to) {
  for (const Opportunity& o : r.opportunities) {
    if (o.category == cat && o.to_tier == to) return &o;
  }
  return nullptr;
}

const TierCell* find_cell(const AnalyzeReport& r, const std::string& cat, const std::string& tier) {
  for (const TierCell& t : r.tier_cells) {
    if (t.category == cat && t.tier == tier) return &t;
  }
  return nullptr;
}

constexpr const char* kSimple = "What is my account balance?";
constexpr const char* kModerate = "Explain why the invoice total differs and compare it with last month.";
constexpr const char* kComplex =
    "Prove step by step why 3*4 + 5*6 = 42. You must show every step, you should ensure the "
    "proof is exact, and only use integers. Why? How?";

// 60% A (short, simple; 50 on large at $0.01, 10 on small at $0.001), 30% B (medium context,
// moderate, medium tier at $0.005, 3 failures), 10% C (long, complex, large at $0.05); one day
// of timestamps; two bad rows and a blank line.
std::string write_log() {
  const std::string path = temp_path("log.jsonl");
  std::ofstream out(path, std::ios::trunc);
  const int64_t t0 = 1'700'000'000'000;
  int row = 0;
  auto line = [&](json::object o) {
    if (row == 0) o["ts_ms"] = t0;
    if (row == 99) o["ts_ms"] = t0 + 86'400'000;
    ++row;
    out << json::serialize(o) << "\n";
  };
  for (int i = 0; i < 60; ++i) {
    const bool small = i < 10;
    line({{"prompt", kSimple}, {"response", "It is $12."}, {"model", small ? "mini" : "big"},
          {"tier", small ? "small" : "large"}, {"tokens_in", 200}, {"tokens_out", 20},
          {"cost_usd", small ? 0.001 : 0.01}, {"latency_ms", i + 1}, {"category", "A"}});
  }
  out << "{not json\n\n";
  for (int i = 0; i < 30; ++i) {
    json::object o{{"prompt", kModerate}, {"model", "mid"}, {"tier", "medium"},
                   {"tokens_in", 3000}, {"tokens_out", 300}, {"cost_usd", 0.005},
                   {"latency_ms", 500}, {"category", "B"}};
    if (i < 3) o["status"] = 500;
    line(std::move(o));
  }
  out << R"({"prompt":"x","model":"big","tokens_in":"abc","cost_usd":1})" << "\n";
  for (int i = 0; i < 10; ++i) {
    line({{"prompt", kComplex}, {"model", "big"}, {"tier", "large"}, {"tokens_in", 12000},
          {"tokens_out", 800}, {"cost_usd", 0.05}, {"latency_ms", 1000}, {"category", "C"}});
  }
  return path;
}

TEST(AnalyzeHeuristicTest, ReasoningClasses) {
  EXPECT_EQ(estimate_reasoning(kSimple).klass, "simple");
  EXPECT_EQ(estimate_reasoning(kModerate).klass, "moderate");
  EXPECT_EQ(estimate_reasoning(kComplex).klass, "complex");
  EXPECT_EQ(estimate_reasoning("").klass, "simple");
  EXPECT_EQ(context_class(999), "<1K");
  EXPECT_EQ(context_class(1000), "1K-8K");
  EXPECT_EQ(context_class(8000), "1K-8K");
  EXPECT_EQ(context_class(8001), ">8K");
}

TEST(AnalyzeLogTest, KnownDistributionComesBack) {
  AnalyzeOptions o;
  o.log_path = write_log();
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_rows, 100);
  EXPECT_EQ(r->n_bad, 2);
  ASSERT_EQ(r->bad_examples.size(), 2u);
  EXPECT_NE(r->bad_examples[0].find("line 61: not valid JSON"), std::string::npos) << r->bad_examples[0];
  EXPECT_EQ(r->bad_examples[1], "line 93: tokens_in: expected a number");
  EXPECT_EQ(r->period_basis, "timestamps");
  EXPECT_DOUBLE_EQ(r->period_days, 1.0);
  EXPECT_DOUBLE_EQ(r->month_factor, 30.0);

  ASSERT_EQ(r->categories.size(), 3u);
  EXPECT_EQ(r->categories[0].category, "A");
  EXPECT_EQ(r->categories[1].category, "B");
  EXPECT_EQ(r->categories[2].category, "C");
  const CategoryStats& a = r->categories[0];
  const CategoryStats& b = r->categories[1];
  const CategoryStats& c = r->categories[2];
  EXPECT_EQ(a.n, 60);
  EXPECT_DOUBLE_EQ(a.share, 0.6);
  EXPECT_EQ(b.n, 30);
  EXPECT_EQ(c.n, 10);
  EXPECT_NEAR(a.cost_usd, 0.51, 1e-12);
  EXPECT_NEAR(b.cost_usd, 0.15, 1e-12);
  EXPECT_NEAR(c.cost_usd, 0.50, 1e-12);
  EXPECT_NEAR(a.cpi_usd, 0.0085, 1e-12);
  EXPECT_NEAR(r->cost_usd, 1.16, 1e-12);
  EXPECT_NEAR(a.monthly_cost_usd, 15.3, 1e-9);
  EXPECT_EQ(a.main_tier, "large");
  EXPECT_EQ(b.main_tier, "medium");
  // Nearest rank over latencies 1..60: p50 = 30th, p95 = 57th.
  EXPECT_DOUBLE_EQ(*a.p50_ms, 30.0);
  EXPECT_DOUBLE_EQ(*a.p95_ms, 57.0);
  EXPECT_DOUBLE_EQ(*c.p95_ms, 1000.0);
  EXPECT_DOUBLE_EQ(b.success_rate, 0.9);

  ASSERT_EQ(r->by_context.size(), 3u);
  EXPECT_EQ(r->by_context[0].key, "<1K");
  EXPECT_EQ(r->by_context[0].n, 60);
  EXPECT_EQ(r->by_context[1].n, 30);
  EXPECT_EQ(r->by_context[2].n, 10);
  EXPECT_DOUBLE_EQ(r->by_context[2].share, 0.1);
  EXPECT_EQ(r->by_reasoning[0].n, 60);  // simple
  EXPECT_EQ(r->by_reasoning[1].n, 30);  // moderate
  EXPECT_EQ(r->by_reasoning[2].n, 10);  // complex
  EXPECT_EQ(r->by_reasoning[3].n, 0);   // unknown
  EXPECT_EQ(a.by_context.at("<1K"), 60);
  EXPECT_EQ(c.by_context.at(">8K"), 10);

  const TierCell* a_small = find_cell(*r, "A", "small");
  ASSERT_NE(a_small, nullptr);
  EXPECT_EQ(a_small->n, 10);
  EXPECT_TRUE(a_small->within_slo);
  EXPECT_TRUE(a_small->cheaper_than_main);
  const TierCell* b_medium = find_cell(*r, "B", "medium");
  ASSERT_NE(b_medium, nullptr);
  EXPECT_EQ(b_medium->ok, 27);
  EXPECT_FALSE(b_medium->within_slo);

  // Matrix: A is simple (small by the heuristic; small's 10 samples are too few to be
  // "observed"); B's medium is observed below the SLO on 30 samples, so B is raised to large.
  ASSERT_EQ(r->matrix.size(), 3u);
  for (const MatrixCell& m : r->matrix) {
    if (m.category == "A") {
      EXPECT_EQ(m.recommended_tier + "/" + m.basis, "small/heuristic");
    }
    if (m.category == "B") {
      EXPECT_EQ(m.recommended_tier + "/" + m.basis, "large/heuristic");
    }
    if (m.category == "C") {
      EXPECT_EQ(m.recommended_tier + "/" + m.basis, "large/heuristic");
    }
  }

  // Opportunities: monthly volume x (category CPI - target CPI).
  const Opportunity* op = find_op(*r, "A", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->cpi_basis, "observed");
  EXPECT_NEAR(op->monthly_saving_usd, 1800 * (0.0085 - 0.001), 1e-9);
  EXPECT_EQ(op->risk, "medium");  // within SLO but only 10 samples
  EXPECT_DOUBLE_EQ(op->fit_share, 1.0);
  op = find_op(*r, "A", "medium");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->cpi_basis, "observed (all categories)");
  EXPECT_NEAR(op->monthly_saving_usd, 1800 * (0.0085 - 0.005), 1e-9);
  EXPECT_EQ(op->risk, "unknown");
  op = find_op(*r, "B", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_DOUBLE_EQ(op->fit_share, 0.0);
  op = find_op(*r, "C", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_NEAR(op->monthly_saving_usd, 300 * (0.05 - 0.001), 1e-9);
  EXPECT_EQ(r->opportunities.front().category, "C");  // the largest saving first
  EXPECT_EQ(find_op(*r, "B", "large"), nullptr);     // never "move" to a dearer tier
}

TEST(AnalyzeLogTest, FewerSamplesNeededMakesSmallObserved) {
  AnalyzeOptions o;
  o.log_path = write_log();
  o.min_samples = 10;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok());
  for (const MatrixCell& m : r->matrix) {
    if (m.category == "A") {
      EXPECT_EQ(m.recommended_tier + "/" + m.basis, "small/observed");
    }
  }
  const Opportunity* op = find_op(*r, "A", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->risk, "low");
  EXPECT_DOUBLE_EQ(op->fit_share, 1.0);
}

TEST(AnalyzeLogTest, CsvLogAndOutputs) {
  const std::string path = temp_path("log.csv");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "prompt,response,model,tokens_in,tokens_out,cost_usd,latency_ms,category\n";
    out << "\"hi, there\",hello,m,,,0.5,10,greet\n";     // tokens estimated from the text
    out << "long one,ok,m,9000,10,1.5,,docs\n";           // no latency
    out << "bad,ok,m,12,10,abc,5,docs\n";                 // bad cost
    out << "no category,ok,m,5,1,0.25,7,\n";
  }
  AnalyzeOptions o;
  o.log_path = path;
  o.period_days = 3.0;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_rows, 3);
  EXPECT_EQ(r->n_bad, 1);
  EXPECT_EQ(r->bad_examples.at(0), "record 3: cost_usd: expected a number");
  EXPECT_DOUBLE_EQ(r->month_factor, 10.0);
  EXPECT_NE(find_category(*r, "(none)"), nullptr);
  const CategoryStats* docs = find_category(*r, "docs");
  ASSERT_NE(docs, nullptr);
  EXPECT_FALSE(docs->p50_ms.has_value());
  EXPECT_EQ(docs->by_context.at(">8K"), 1);
  EXPECT_EQ(docs->main_tier, "(unknown)");

  std::string text = analyze_text(*r);
  EXPECT_NE(text.find("3 requests, 1 bad rows skipped"), std::string::npos) << text;
  json::object j = analyze_json(*r);
  EXPECT_EQ(j.at("requests").as_int64(), 3);
  EXPECT_EQ(j.at("categories").as_array().size(), 3u);
  std::string html = analyze_html(*r);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(AnalyzeLogTest, InputErrors) {
  AnalyzeOptions o;
  EXPECT_FALSE(analyze(o).ok());
  o.log_path = temp_path("missing.jsonl");
  EXPECT_EQ(analyze(o).error().message, "--log: cannot read " + o.log_path);
  o.store_path = "x.db";
  EXPECT_FALSE(analyze(o).ok());  // both inputs
}

std::shared_ptr<core::Trace> store_trace(int i, const std::string& category, bool routed,
                                         const std::string& tier, bool ok) {
  auto t = std::make_shared<core::Trace>();
  t->request_id = "req-" + std::to_string(i);
  t->time_ms = 1'700'000'000'000 + i * 3'600'000LL;  // hourly
  t->category = category;
  t->tokens_in = category == "faq" ? 500 : 2000;
  t->tokens_out = 50;
  t->cost_usd = tier == "small" ? 0.0002 : 0.02;
  t->total_us = (i + 1) * 1000;
  if (ok) {
    t->model = tier + "-model";
    t->tier = tier;
  } else {
    t->http_status = 502;
    t->error_code = "upstream_error";
  }
  if (routed) {
    core::Span route;
    route.kind = core::SpanKind::kRoute;
    route.name = "auto";
    t->spans.push_back(route);
  }
  core::Span call;
  call.kind = core::SpanKind::kModelCall;
  call.name = tier + "-model";
  call.tier = tier;
  call.ok = ok;
  t->spans.push_back(call);
  return t;
}

TEST(AnalyzeStoreTest, AggregatesTheRequestStore) {
  const std::string path = temp_path("store.db");
  std::filesystem::remove(path);
  {
    telemetry::SqliteStore store({path, 1000, 64, 10});
    int i = 0;
    for (int k = 0; k < 40; ++k, ++i) store.consume(store_trace(i, "faq", true, "small", true));
    for (int k = 0; k < 20; ++k, ++i) {
      store.consume(store_trace(i, "code", false, "large", k >= 2));
    }
    store.close();
    ASSERT_EQ(store.written(), 60);
  }
  AnalyzeOptions o;
  o.store_path = path;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->n_rows, 60);
  EXPECT_EQ(r->period_basis, "timestamps");
  EXPECT_NEAR(r->period_days, 59.0 / 24.0, 1e-12);
  const CategoryStats* faq = find_category(*r, "faq");
  const CategoryStats* code = find_category(*r, "code");
  ASSERT_NE(faq, nullptr);
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(faq->n, 40);
  EXPECT_EQ(faq->by_reasoning.at("simple"), 40);     // routed to the cheapest tier
  EXPECT_EQ(code->by_reasoning.at("unknown"), 20);   // pass-through: no routing decision
  EXPECT_EQ(faq->by_context.at("<1K"), 40);
  EXPECT_EQ(code->by_context.at("1K-8K"), 20);
  EXPECT_NEAR(faq->cost_usd, 40 * 0.0002, 1e-12);
  EXPECT_DOUBLE_EQ(*faq->p50_ms, 20.0);  // total_us 1..40 ms
  EXPECT_DOUBLE_EQ(*faq->p95_ms, 38.0);
  // Failed rows have no answering model; their tier comes from the last model call.
  const TierCell* code_large = find_cell(*r, "code", "large");
  ASSERT_NE(code_large, nullptr);
  EXPECT_EQ(code_large->n, 20);
  EXPECT_EQ(code_large->ok, 18);
  EXPECT_DOUBLE_EQ(code->success_rate, 0.9);
  // code -> small: target CPI from all categories' small traffic (faq), risk unknown.
  const Opportunity* op = find_op(*r, "code", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->risk, "unknown");
  EXPECT_NEAR(op->target_cpi_usd, 0.0002, 1e-12);
  std::filesystem::remove(path);

  AnalyzeOptions bad;
  bad.store_path = temp_path("not_a_store.db");
  { std::ofstream(bad.store_path) << "hello"; }
  EXPECT_FALSE(analyze(bad).ok());
  bad.store_path = path;
  bad.router_path = "router.bin";
  EXPECT_NE(analyze(bad).error().message.find("--router needs prompts"), std::string::npos);
}

// The documented first week: pass-through to one large model with a router deciding in shadow
// only. The reasoning class must come from the shadow decision, not from the model that served.
// `legacy`: the route spans as builds before core::Span::shadow_decision wrote them (display
// detail only); otherwise as routes/shadow_route.cc writes them now, with a detail that does
// not name the model, so only the typed field can give it.
void expect_shadow_decisions_set_the_reasoning_class(bool legacy) {
  const std::string path = temp_path(legacy ? "shadow_legacy_store.db" : "shadow_store.db");
  const std::string cfg_path = temp_path("shadow.yaml");
  std::filesystem::remove(path);
  {
    std::ofstream(cfg_path) << R"(models:
  - {name: cheap, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: big, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)";
    telemetry::SqliteStore store({path, 1000, 64, 10});
    for (int i = 0; i < 10; ++i) {
      auto t = store_trace(i, "faq", false, "large", true);  // served by the large model
      const std::string picked = i < 7 ? "cheap" : "big";
      core::Span shadow;
      shadow.kind = core::SpanKind::kRoute;
      shadow.name = "router";
      if (legacy) {
        shadow.detail = "shadow decision: " + picked + " (p=0.1)";
      } else {
        shadow.detail = "display text for people (p=0.1)";
        shadow.shadow_decision = picked;
      }
      t->spans.insert(t->spans.begin(), shadow);
      store.consume(t);
    }
    store.close();
  }
  AnalyzeOptions o;
  o.store_path = path;
  o.config_path = cfg_path;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const CategoryStats* faq = find_category(*r, "faq");
  ASSERT_NE(faq, nullptr);
  EXPECT_EQ(faq->by_reasoning.at("simple"), 7);   // the router would have sent 7 to `cheap`
  EXPECT_EQ(faq->by_reasoning.at("complex"), 3);  // and 3 to `big`
  std::filesystem::remove(path);
  std::filesystem::remove(cfg_path);
}

TEST(AnalyzeStoreTest, ShadowDecisionsSetTheReasoningClass) {
  expect_shadow_decisions_set_the_reasoning_class(/*legacy=*/false);
}

// Stores written before the typed field existed are still read (from the display detail).
TEST(AnalyzeStoreTest, LegacyShadowDecisionTextSetsTheReasoningClass) {
  expect_shadow_decisions_set_the_reasoning_class(/*legacy=*/true);
}

// Decisions are grouped by the router version that made them (core::Span::router_version):
// the serving router's, and a new version deciding in shadow beside it.
TEST(AnalyzeStoreTest, CountsDecisionsPerRouterVersion) {
  const std::string path = temp_path("router_versions_store.db");
  std::filesystem::remove(path);
  {
    telemetry::SqliteStore store({path, 1000, 64, 10});
    for (int i = 0; i < 10; ++i) {
      auto t = store_trace(i, "faq", false, "large", true);
      core::Span serving;
      serving.kind = core::SpanKind::kRoute;
      serving.name = "serving";
      serving.router_version = i < 6 ? "r-00000001" : "r-00000002";
      t->spans.insert(t->spans.begin(), serving);
      if (i >= 6) {  // the last four also had a candidate deciding in shadow
        core::Span shadow = serving;
        shadow.name = "candidate";
        shadow.shadow_decision = "cheap";
        shadow.router_version = "r-00000003";
        t->spans.insert(t->spans.begin(), shadow);
      }
      store.consume(t);
    }
    store.close();
  }
  AnalyzeOptions o;
  o.store_path = path;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->router_versions.size(), 3u);
  EXPECT_EQ(r->router_versions[0].version, "r-00000001");
  EXPECT_EQ(r->router_versions[0].served, 6);
  EXPECT_EQ(r->router_versions[0].in_shadow, 0);
  EXPECT_EQ(r->router_versions[1].served, 4);
  EXPECT_EQ(r->router_versions[2].version, "r-00000003");
  EXPECT_EQ(r->router_versions[2].served, 0);
  EXPECT_EQ(r->router_versions[2].in_shadow, 4);
  EXPECT_NE(analyze_text(*r).find("r-00000003 served 0 in shadow 4"), std::string::npos);
  std::filesystem::remove(path);
}


// The catalog price of a cheaper tier comes from a model that can take the category's typical
// request: a model whose context window is smaller than the category's prompts is passed over.
TEST(AnalyzeStoreTest, CatalogTargetSkipsAModelWhoseContextWindowIsTooSmall) {
  const std::string path = temp_path("capability_store.db");
  const std::string cfg_path = temp_path("capability.yaml");
  std::filesystem::remove(path);
  std::ofstream(cfg_path) << R"(models:
  - {name: tiny, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small, context_window: 500, prices: {input: 0.01, output: 0.01}}
  - {name: mini, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small, prices: {input: 0.1, output: 0.1}}
  - {name: big, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large, prices: {input: 10, output: 30}}
)";
  {
    telemetry::SqliteStore store({path, 1000, 64, 10});
    for (int i = 0; i < 10; ++i) store.consume(store_trace(i, "code", false, "large", true));
    store.close();
  }
  AnalyzeOptions o;
  o.store_path = path;
  o.config_path = cfg_path;
  auto r = analyze(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const CategoryStats* code = find_category(*r, "code");
  ASSERT_NE(code, nullptr);
  ASSERT_GT(code->mean_tokens_in, 500.0);  // "code" rows are 1K-8K prompts
  const Opportunity* op = find_op(*r, "code", "small");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->cpi_basis, "catalog (mini)");
  std::filesystem::remove(path);
  std::filesystem::remove(cfg_path);
}

}  // namespace
}  // namespace triage::insights
