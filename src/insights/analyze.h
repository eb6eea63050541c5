#pragma once
// `triage analyze`: the first step of the seed's loop. Reads traffic, either the request store
// (SQLite, docs/store.md) or an imported JSONL/CSV log of an existing application (format in
// docs/analyze.md), and reports where routing can save money: the distribution of requests by
// category, context class and reasoning class; cost and latency per category; success rate per
// category x tier against an SLO; a complexity matrix with a recommended tier per cell; and an
// opportunity table (move category X to tier Y: monthly saving, risk).
//
// Scale: both inputs end up as rows of one slim SQL relation `r` in a private scratch SQLite
// database (the analysis's compute engine, not the store), filled one row at a time: from the
// store through its reader (telemetry/traffic_reader.h, one scan), or from the log. Every
// aggregate is a GROUP BY over it, so a million-row store is read without holding its rows in
// C++ memory. Log rows are parsed one at a time; bad rows are counted (first few described),
// never fatal. Latency percentiles are the one percentile of telemetry/percentile.h.
//
// Offline and blocking. analyze() returns errors as values: an unreadable or foreign input,
// a --router model that cannot be loaded (message names the file).
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace triage::insights {

// Context classes by prompt tokens (tokens_in), the seed's thresholds with K = 1,000.
inline constexpr int64_t kShortContextMax = 1000;   // < 1,000 tokens: "<1K"
inline constexpr int64_t kMediumContextMax = 8000;  // 1,000..8,000: "1K-8K"; above: ">8K"
std::string_view context_class(int64_t tokens_in);

// Reasoning classes: "simple", "moderate", "complex", or "unknown" (no prompt, no router).
// estimate_reasoning() is the documented keyword heuristic (docs/analyze.md): points for
// reasoning verbs, several questions, constraints, math, code and length. Pure.
struct ReasoningEstimate {
  int score = 0;
  std::string_view klass;  // simple (0-1) | moderate (2-3) | complex (>= 4)
};
ReasoningEstimate estimate_reasoning(std::string_view prompt);

struct AnalyzeOptions {
  std::string store_path;   // --store FILE (exclusive with log_path)
  std::string log_path;     // --log FILE (.jsonl / .csv; by extension, else by first byte)
  std::string config_path;  // -c: tier order, model -> tier, catalog prices for target CPIs
  std::string router_path;  // --router MODEL.bin: reasoning class from P(strong needed)
  // Router score >= threshold -> "complex" (strong tier), else "simple". Unset: 0.5 for a stack
  // scorer (P(strong needed)), 0 for a gain scorer (strong expected to do better).
  std::optional<double> router_threshold;
  double slo = 0.99;              // success rate a tier must reach on a category
  int64_t min_samples = 30;       // fewer observed requests -> risk "medium" at best
  std::optional<double> period_days;  // how many days the input covers (default: its ts span)
  std::string format = "text";        // text | json
  std::string html_path;              // --html out.html
};

struct CountShare {
  std::string key;
  int64_t n = 0;
  double share = 0.0;  // of all rows
};

// Routing decisions made by one router version (core::Span::router_version), from a store.
struct RouterVersionDecisions {
  std::string version;
  int64_t served = 0;     // decisions of the serving router
  int64_t in_shadow = 0;  // decisions of a router deciding in shadow (decide_only)
};

struct CategoryStats {
  std::string category;  // "(none)" when absent
  int64_t n = 0;
  double share = 0.0;
  double cost_usd = 0.0;
  double cpi_usd = 0.0;
  double mean_tokens_in = 0.0, mean_tokens_out = 0.0;
  std::optional<double> p50_ms, p95_ms, p99_ms;  // successful rows with a latency
  double success_rate = 0.0;
  std::string main_tier;  // the tier that served most of its requests (ties: the dearer)
  double monthly_requests = 0.0;
  double monthly_cost_usd = 0.0;
  std::map<std::string, int64_t> by_context;    // context class -> n
  std::map<std::string, int64_t> by_reasoning;  // reasoning class -> n
};

struct TierCell {  // category x tier, as observed
  std::string category, tier;
  int64_t n = 0, ok = 0;
  double success_rate = 0.0;
  double cost_usd = 0.0, cpi_usd = 0.0;
  bool within_slo = false;
  bool cheaper_than_main = false;  // a cheaper tier than the category's main tier
};

struct MatrixCell {  // category x context class x reasoning class
  std::string category, context, reasoning;
  int64_t n = 0;
  std::string recommended_tier;
  std::string basis;  // "observed" (cheapest tier within SLO here) | "heuristic"
};

struct Opportunity {
  std::string category, from_tier, to_tier;
  double monthly_requests = 0.0;
  double current_cpi_usd = 0.0, target_cpi_usd = 0.0;
  std::string cpi_basis;  // "observed" | "catalog" (tier's cheapest model, category's tokens)
  double monthly_saving_usd = 0.0;
  double fit_share = 0.0;  // share of the category whose recommended tier is <= to_tier
  int64_t observed_n = 0;
  std::optional<double> observed_success;
  std::string risk;  // low | medium | high | unknown
};

struct AnalyzeReport {
  std::string source;       // "store FILE" | "log FILE"
  std::string reasoning_basis;  // heuristic | router FILE | store: first routed tier
  int64_t n_rows = 0;       // rows analysed
  int64_t n_bad = 0;        // log rows skipped
  std::vector<std::string> bad_examples;  // first few: "line 7: tokens_in: expected a number"
  double period_days = 30.0;
  std::string period_basis;  // "timestamps" | "--period-days" | "assumed 30 days"
  double month_factor = 1.0;  // 30 / period_days
  double slo = 0.99;
  std::vector<std::string> tiers;  // cheapest first
  double cost_usd = 0.0;
  double monthly_cost_usd = 0.0;
  std::vector<CountShare> by_context, by_reasoning;  // fixed class order
  std::vector<CategoryStats> categories;             // by request count, descending
  std::vector<TierCell> tier_cells;                  // category, then tier order
  std::vector<MatrixCell> matrix;
  std::vector<Opportunity> opportunities;  // by monthly saving, descending
  std::vector<RouterVersionDecisions> router_versions;  // store only; by version
};

Result<AnalyzeReport> analyze(const AnalyzeOptions& options);

std::string analyze_text(const AnalyzeReport& r);
boost::json::object analyze_json(const AnalyzeReport& r);
std::string analyze_html(const AnalyzeReport& r);  // self-contained, inline SVG, no scripts

// CLI entry: analyse, print text or JSON, write HTML. Returns 0, 1 (unreadable input) or 2.
int run_analyze(const AnalyzeOptions& options);

}  // namespace triage::insights
