// `triage analyze`: aggregation (SQL GROUP BY over the relation `r`) and the derived tables.
// analyze() is a sequence of named steps: load the traffic into `r`, read its finest aggregate,
// then derive each table of the report from that aggregate.
#include "insights/analyze.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <tuple>

#include "config/capabilities.h"
#include "config/config.h"
#include "insights/analyze_input.h"
#include "ml/threshold_scorer.h"
#include "telemetry/percentile.h"
#include "telemetry/store_reader.h"

namespace triage::insights {

namespace {

using telemetry::sqlite::Connection;
using telemetry::sqlite::Statement;
using telemetry::sqlite::Step;

Error fail(std::string msg) { return make_error(ErrorCode::kInvalidRequest, std::move(msg)); }

// Runs `sql` on the analysis database and calls on_row(statement) per row.
template <typename F>
Result<void> query(Connection& db, const std::string& sql, F&& on_row) {
  Statement s(db, sql);
  if (!s.ok()) return fail("query failed: " + db.last_error());
  Step rc;
  while ((rc = s.step()) == Step::kRow) on_row(s);
  if (rc != Step::kDone) return fail("query failed: " + db.last_error());
  return {};
}

// One row of the finest aggregate: category x tier x context x reasoning.
struct Fine {
  std::string category, tier, ctx, reasoning;
  int64_t n = 0, ok = 0;
  double cost = 0.0, tokens_in = 0.0, tokens_out = 0.0;
};

constexpr const char* kContextClasses[] = {"<1K", "1K-8K", ">8K"};
constexpr const char* kReasoningClasses[] = {"simple", "moderate", "complex", "unknown"};

// What the input and options give every step.
struct Inputs {
  std::optional<config::Config> cfg;
  std::shared_ptr<const ml::ThresholdScorer> router;
};

Result<void> check_options(const AnalyzeOptions& o) {
  if (o.store_path.empty() == o.log_path.empty()) {
    return fail("give exactly one input: --store FILE or --log FILE");
  }
  if (o.slo <= 0.0 || o.slo > 1.0) return fail("--slo: expected a success rate in (0, 1]");
  if (o.period_days && *o.period_days <= 0.0) return fail("--period-days: must be positive");
  if (!o.router_path.empty() && !o.store_path.empty()) {
    return fail("--router needs prompts: the request store keeps none; use it with --log");
  }
  return {};
}

Result<Inputs> load_inputs(const AnalyzeOptions& o) {
  Inputs in;
  if (!o.config_path.empty()) in.cfg = config::load_config(o.config_path);  // throws ConfigError
  if (!o.router_path.empty()) {
    try {
      in.router = ml::ThresholdScorer::load(o.router_path);
    } catch (const std::exception& e) {
      return fail(std::string("--router: ") + e.what());
    }
  }
  return in;
}

// Fills `r` in `db` from the store or the log; sets the report's source and reasoning basis.
Result<void> load_traffic(const AnalyzeOptions& o, const Inputs& in, Connection& db,
                          AnalyzeReport& rep) {
  if (!o.store_path.empty()) {
    rep.source = "store " + telemetry::describe_store_location(o.store_path);
    rep.reasoning_basis =
        "store: tier the router picked first (unknown without a routing decision)";
    auto store = telemetry::open_store_reader(o.store_path);
    if (!store) return fail("--store: " + store.error().message);
    std::map<std::string, std::string> model_tiers;
    if (in.cfg) {
      for (const auto& m : in.cfg->models) model_tiers[m.name] = m.tier;
    }
    std::map<std::string, std::pair<int64_t, int64_t>> versions;
    auto rows = import_store(db, **store, rep.tiers, model_tiers, &versions);
    if (!rows) return rows.error();
    for (const auto& [v, n] : versions) rep.router_versions.push_back({v, n.first, n.second});
    return {};
  }
  rep.source = "log " + o.log_path;
  const double threshold = o.router_threshold.value_or(in.router && in.router->gain() ? 0.0 : 0.5);
  rep.reasoning_basis =
      in.router ? fmt::format("router {} (complex at score >= {:g})", o.router_path, threshold)
                : "heuristic over the prompt";
  LogImportContext ctx{in.cfg ? &*in.cfg : nullptr, in.router.get(), threshold};
  auto r = import_log(db, o.log_path, ctx);
  if (!r) return r.error();
  rep.n_bad = r->bad;
  rep.bad_examples = r->bad_examples;
  return {};
}

Result<std::vector<Fine>> read_fine(Connection& db) {
  std::vector<Fine> fine;
  auto q =
      query(db,
            "SELECT category, tier, ctx, reasoning, COUNT(*), TOTAL(ok), TOTAL(cost_usd), "
            "TOTAL(tokens_in), TOTAL(tokens_out) FROM r GROUP BY 1, 2, 3, 4",
            [&](const Statement& s) {
              fine.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.i64(4),
                              static_cast<int64_t>(s.real(5)), s.real(6), s.real(7), s.real(8)});
            });
  if (!q) return q.error();
  return fine;
}

// The period the input covers -> the monthly factor.
void set_period(Connection& db, const AnalyzeOptions& o, AnalyzeReport& rep) {
  int64_t min_ts = 0, max_ts = 0, n_ts = 0;
  (void)query(db, "SELECT MIN(ts_ms), MAX(ts_ms), COUNT(ts_ms) FROM r", [&](const Statement& s) {
    min_ts = s.i64(0);
    max_ts = s.i64(1);
    n_ts = s.i64(2);
  });
  if (o.period_days) {
    rep.period_days = *o.period_days;
    rep.period_basis = "--period-days";
  } else if (n_ts >= 2 && max_ts > min_ts) {
    rep.period_days = static_cast<double>(max_ts - min_ts) / 86'400'000.0;
    rep.period_basis = "timestamps";
  } else {
    rep.period_days = 30.0;
    rep.period_basis = "assumed 30 days (no timestamps; pass --period-days)";
  }
  rep.month_factor = 30.0 / rep.period_days;
}

// Latency percentiles per category over successful rows with a latency: the one percentile
// (telemetry/percentile.h), so they equal the dashboard's and `triage report`'s.
struct CategoryLatency {
  double p50 = 0.0, p95 = 0.0, p99 = 0.0;
};
Result<std::map<std::string, CategoryLatency>> latency_percentiles(Connection& db) {
  std::map<std::string, CategoryLatency> out;
  std::string category;
  std::vector<double> sorted;
  auto flush = [&] {
    if (sorted.empty()) return;
    out[category] = {telemetry::percentile(sorted, 0.50), telemetry::percentile(sorted, 0.95),
                     telemetry::percentile(sorted, 0.99)};
    sorted.clear();
  };
  auto q = query(db,
                 "SELECT category, latency_ms FROM r WHERE ok = 1 AND latency_ms IS NOT NULL "
                 "ORDER BY category, latency_ms",
                 [&](const Statement& s) {
                   std::string c = s.text(0);
                   if (c != category) {
                     flush();
                     category = std::move(c);
                   }
                   sorted.push_back(s.real(1));
                 });
  if (!q) return q.error();
  flush();
  return out;
}

// The finest aggregate summed along each axis the report shows.
struct Aggregates {
  std::map<std::string, CategoryStats> cats;
  std::map<std::pair<std::string, std::string>, TierCell> cells;  // (category, tier)
  std::map<std::tuple<std::string, std::string, std::string>, MatrixCell> matrix;
  // (category, ctx, reasoning, tier) -> (n, ok), for observed recommendations.
  std::map<std::tuple<std::string, std::string, std::string, std::string>,
           std::pair<int64_t, int64_t>>
      cell_tier;
};

Aggregates aggregate(const std::vector<Fine>& fine, AnalyzeReport& rep) {
  Aggregates a;
  std::map<std::string, int64_t> by_ctx, by_reason;
  for (const Fine& f : fine) {
    CategoryStats& c = a.cats[f.category];
    c.category = f.category;
    c.n += f.n;
    c.cost_usd += f.cost;
    c.mean_tokens_in += f.tokens_in;  // sums for now
    c.mean_tokens_out += f.tokens_out;
    c.success_rate += static_cast<double>(f.ok);  // ok count for now
    c.by_context[f.ctx] += f.n;
    c.by_reasoning[f.reasoning] += f.n;
    TierCell& t = a.cells[{f.category, f.tier}];
    t.category = f.category;
    t.tier = f.tier;
    t.n += f.n;
    t.ok += f.ok;
    t.cost_usd += f.cost;
    MatrixCell& m = a.matrix[{f.category, f.ctx, f.reasoning}];
    m.category = f.category;
    m.context = f.ctx;
    m.reasoning = f.reasoning;
    m.n += f.n;
    auto& ct = a.cell_tier[{f.category, f.ctx, f.reasoning, f.tier}];
    ct.first += f.n;
    ct.second += f.ok;
    by_ctx[f.ctx] += f.n;
    by_reason[f.reasoning] += f.n;
    rep.n_rows += f.n;
    rep.cost_usd += f.cost;
  }
  rep.monthly_cost_usd = rep.cost_usd * rep.month_factor;
  auto share = [&](int64_t n) {
    return rep.n_rows ? static_cast<double>(n) / static_cast<double>(rep.n_rows) : 0.0;
  };
  for (const char* k : kContextClasses) rep.by_context.push_back({k, by_ctx[k], share(by_ctx[k])});
  for (const char* k : kReasoningClasses) {
    rep.by_reasoning.push_back({k, by_reason[k], share(by_reason[k])});
  }
  return a;
}

// Position of a tier in the report's tier order; tiers seen but not declared (or "(none)")
// have -1: never cheaper than anything.
int tier_index(const AnalyzeReport& rep, const std::string& t) {
  for (size_t i = 0; i < rep.tiers.size(); ++i) {
    if (rep.tiers[i] == t) return static_cast<int>(i);
  }
  return -1;
}

void finish_categories(Aggregates& a, const std::map<std::string, CategoryLatency>& pct,
                       AnalyzeReport& rep) {
  for (auto& [name, c] : a.cats) {
    const double n = static_cast<double>(c.n);
    c.share = rep.n_rows ? n / static_cast<double>(rep.n_rows) : 0.0;
    c.cpi_usd = c.cost_usd / n;
    c.mean_tokens_in /= n;
    c.mean_tokens_out /= n;
    c.success_rate /= n;
    c.monthly_requests = n * rep.month_factor;
    c.monthly_cost_usd = c.cost_usd * rep.month_factor;
    if (auto it = pct.find(name); it != pct.end()) {
      c.p50_ms = it->second.p50;
      c.p95_ms = it->second.p95;
      c.p99_ms = it->second.p99;
    }
    // The main tier served most of its requests (ties: the dearer).
    int64_t best = -1;
    int best_idx = -2;
    for (const auto& [key, t] : a.cells) {
      if (key.first != name) continue;
      const int idx = tier_index(rep, t.tier);
      if (t.n > best || (t.n == best && idx > best_idx)) {
        best = t.n;
        best_idx = idx;
        c.main_tier = t.tier;
      }
    }
    rep.categories.push_back(c);
  }
  std::stable_sort(rep.categories.begin(), rep.categories.end(),
                   [](const CategoryStats& a, const CategoryStats& b) { return a.n > b.n; });
}

void finish_tier_cells(Aggregates& a, double slo, AnalyzeReport& rep) {
  for (auto& [key, t] : a.cells) {
    t.success_rate = static_cast<double>(t.ok) / static_cast<double>(t.n);
    t.cpi_usd = t.cost_usd / static_cast<double>(t.n);
    t.within_slo = t.success_rate >= slo;
    const int main_idx = tier_index(rep, a.cats[t.category].main_tier);
    const int idx = tier_index(rep, t.tier);
    t.cheaper_than_main = idx >= 0 && main_idx >= 0 && idx < main_idx;
    rep.tier_cells.push_back(t);
  }
  std::stable_sort(rep.tier_cells.begin(), rep.tier_cells.end(),
                   [&](const TierCell& x, const TierCell& y) {
                     if (x.category != y.category) return x.category < y.category;
                     const int ix = tier_index(rep, x.tier), iy = tier_index(rep, y.tier);
                     if (ix != iy) return (ix < 0 ? 1 << 20 : ix) < (iy < 0 ? 1 << 20 : iy);
                     return x.tier < y.tier;
                   });
}

// Complexity matrix. h = the heuristic tier (reasoning class; long context needs at least the
// middle tier; unknown reasoning keeps the category's main tier), raised past tiers observed
// below the SLO on enough samples. If a tier at most that dear is observed within the SLO on
// enough samples, the cheapest such is recommended ("observed"); else h ("heuristic").
// Returns the recommended tier index of each cell.
std::map<std::tuple<std::string, std::string, std::string>, int> recommend_tiers(
    Aggregates& a, const AnalyzeOptions& o, AnalyzeReport& rep) {
  const int last = static_cast<int>(rep.tiers.size()) - 1;
  const int mid = static_cast<int>(rep.tiers.size()) / 2;
  std::map<std::tuple<std::string, std::string, std::string>, int> rec_index;
  for (auto& [key, m] : a.matrix) {
    // -1: not enough samples; 0: below the SLO; 1: within it.
    auto verdict = [&](int i) {
      auto it = a.cell_tier.find({m.category, m.context, m.reasoning, rep.tiers[i]});
      if (it == a.cell_tier.end() || it->second.first < o.min_samples) return -1;
      return static_cast<double>(it->second.second) >= o.slo * static_cast<double>(it->second.first)
                 ? 1
                 : 0;
    };
    const int main_idx = tier_index(rep, a.cats[m.category].main_tier);
    int h = m.reasoning == "simple"     ? 0
            : m.reasoning == "moderate" ? mid
            : m.reasoning == "complex"  ? last
            : main_idx >= 0             ? main_idx
                                        : last;
    if (m.context == ">8K") h = std::max(h, std::min(mid, last));
    while (h < last && verdict(h) == 0) ++h;
    int idx = h;
    m.basis = "heuristic";
    for (int i = 0; i <= h; ++i) {
      if (verdict(i) == 1) {
        idx = i;
        m.basis = "observed";
        break;
      }
    }
    m.recommended_tier = idx >= 0 ? rep.tiers[idx] : "(none)";
    rec_index[key] = idx;
    rep.matrix.push_back(m);
  }
  return rec_index;
}

// The target CPI of moving category `c` to tier `to`: observed on the category; else the
// tier's cheapest catalog model at the category's mean tokens (with -c); else observed on the
// tier over all categories. False when none is known.
bool target_cpi(const Aggregates& a, const CategoryStats& c, const std::string& to,
                const std::optional<config::Config>& cfg, Opportunity& op) {
  auto cell = a.cells.find({c.category, to});
  if (cell != a.cells.end()) {
    op.target_cpi_usd = cell->second.cost_usd / static_cast<double>(cell->second.n);
    op.cpi_basis = "observed";
    op.observed_n = cell->second.n;
    op.observed_success =
        static_cast<double>(cell->second.ok) / static_cast<double>(cell->second.n);
    return true;
  }
  if (cfg) {
    const config::Model* cheapest = nullptr;
    double best = 0.0;
    // Only a model that can take the category's typical request (config/capabilities.h, the
    // routes' rule): its context window must hold the mean prompt and answer. The store keeps
    // no tools/images/json_schema needs per row, so only the token limits apply here.
    core::RequestNeeds typical;
    typical.prompt_tokens = static_cast<int64_t>(c.mean_tokens_in);
    typical.max_tokens = static_cast<int64_t>(c.mean_tokens_out);
    for (const config::Model& m : cfg->models) {
      if (m.tier != to || config::ineligibility(m, typical)) continue;
      const double cost = config::cost_usd(m.prices, static_cast<int64_t>(c.mean_tokens_in),
                                           static_cast<int64_t>(c.mean_tokens_out));
      if (!cheapest || cost < best) cheapest = &m, best = cost;
    }
    if (!cheapest) return false;
    op.target_cpi_usd = best;
    op.cpi_basis = "catalog (" + cheapest->name + ")";
    return true;
  }
  double cost = 0.0;
  int64_t n = 0;
  for (const auto& [key, t] : a.cells) {
    if (key.second == to) cost += t.cost_usd, n += t.n;
  }
  if (n == 0) return false;
  op.target_cpi_usd = cost / static_cast<double>(n);
  op.cpi_basis = "observed (all categories)";
  return true;
}

// Opportunities: move category X from its main tier to each cheaper declared tier Y.
void find_opportunities(
    Aggregates& a,
    const std::map<std::tuple<std::string, std::string, std::string>, int>& rec_index,
    const AnalyzeOptions& o, const std::optional<config::Config>& cfg, AnalyzeReport& rep) {
  for (const CategoryStats& c : rep.categories) {
    const int main_idx = tier_index(rep, c.main_tier);
    for (int y = 0; y < main_idx; ++y) {
      Opportunity op;
      op.category = c.category;
      op.from_tier = c.main_tier;
      op.to_tier = rep.tiers[y];
      op.monthly_requests = c.monthly_requests;
      op.current_cpi_usd = c.cpi_usd;
      if (!target_cpi(a, c, op.to_tier, cfg, op)) continue;
      op.monthly_saving_usd = op.monthly_requests * (op.current_cpi_usd - op.target_cpi_usd);
      if (op.monthly_saving_usd <= 0.0) continue;
      int64_t fit = 0;
      for (const auto& [key, idx] : rec_index) {
        if (std::get<0>(key) == c.category && idx >= 0 && idx <= y) fit += a.matrix[key].n;
      }
      op.fit_share = static_cast<double>(fit) / static_cast<double>(c.n);
      if (!op.observed_success)
        op.risk = "unknown";
      else if (*op.observed_success < o.slo)
        op.risk = "high";
      else if (op.observed_n < o.min_samples)
        op.risk = "medium";
      else
        op.risk = "low";
      rep.opportunities.push_back(op);
    }
  }
  std::stable_sort(rep.opportunities.begin(), rep.opportunities.end(),
                   [](const Opportunity& x, const Opportunity& y) {
                     return x.monthly_saving_usd > y.monthly_saving_usd;
                   });
}

}  // namespace

Result<AnalyzeReport> analyze(const AnalyzeOptions& o) {
  if (auto ok = check_options(o); !ok) return ok.error();
  auto in = load_inputs(o);
  if (!in) return in.error();

  AnalyzeReport rep;
  rep.slo = o.slo;
  rep.tiers = in->cfg ? in->cfg->tiers : std::vector<std::string>{"small", "medium", "large"};
  // The relation `r` lives in a private scratch database: the analysis's compute engine, a
  // temporary file that SQLite removes on close (bounded memory at any input size).
  auto db = Connection::open("", telemetry::sqlite::OpenMode::kCreate);
  if (!db) return fail("cannot create the analysis database: " + db.error().message);
  if (auto r = load_traffic(o, *in, *db, rep); !r) return r.error();

  auto fine = read_fine(*db);
  if (!fine) {
    const std::string where = o.store_path.empty()
                                  ? "--log " + o.log_path
                                  : "--store " + telemetry::describe_store_location(o.store_path);
    return fail(where + ": " + fine.error().message);
  }
  set_period(*db, o, rep);
  Aggregates agg = aggregate(*fine, rep);
  auto pct = latency_percentiles(*db);
  if (!pct) return pct.error();
  finish_categories(agg, *pct, rep);
  finish_tier_cells(agg, o.slo, rep);
  const auto rec_index = recommend_tiers(agg, o, rep);
  find_opportunities(agg, rec_index, o, in->cfg, rep);
  return rep;
}

int run_analyze(const AnalyzeOptions& o) {
  auto r = analyze(o);
  if (!r) {
    std::fprintf(stderr, "triage analyze: %s\n", r.error().message.c_str());
    return 1;
  }
  if (!o.html_path.empty()) {
    std::ofstream out(o.html_path, std::ios::binary | std::ios::trunc);
    out << analyze_html(*r);
    if (!out.flush()) {
      std::fprintf(stderr, "triage analyze: cannot write %s\n", o.html_path.c_str());
      return 1;
    }
  }
  if (o.format == "json") {
    std::cout << boost::json::serialize(analyze_json(*r)) << "\n";
  } else {
    std::cout << analyze_text(*r);
  }
  return 0;
}

}  // namespace triage::insights
