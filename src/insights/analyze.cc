// `triage analyze`: aggregation (SQL GROUP BY over the relation `r`) and the derived tables.
#include "insights/analyze.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "config/config.h"
#include "insights/analyze_input.h"
#include "ml/threshold_scorer.h"

namespace triage::insights {

namespace {

Error fail(std::string msg) { return make_error(ErrorCode::kInvalidRequest, std::move(msg)); }

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

std::string col_text(sqlite3_stmt* s, int c) {
  const unsigned char* t = sqlite3_column_text(s, c);
  return t ? reinterpret_cast<const char*>(t) : "";
}

// Runs `sql` and calls on_row(stmt) per row.
template <typename F>
Result<void> query(sqlite3* db, const std::string& sql, F&& on_row) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return fail(std::string("query failed: ") + sqlite3_errmsg(db));
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) on_row(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return fail(std::string("query failed: ") + sqlite3_errmsg(db));
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

}  // namespace

Result<AnalyzeReport> analyze(const AnalyzeOptions& o) {
  if (o.store_path.empty() == o.log_path.empty()) {
    return fail("give exactly one input: --store FILE or --log FILE");
  }
  if (o.slo <= 0.0 || o.slo > 1.0) return fail("--slo: expected a success rate in (0, 1]");
  if (o.period_days && *o.period_days <= 0.0) return fail("--period-days: must be positive");
  if (!o.router_path.empty() && !o.store_path.empty()) {
    return fail("--router needs prompts: the request store keeps none; use it with --log");
  }
  std::optional<config::Config> cfg;
  if (!o.config_path.empty()) cfg = config::load_config(o.config_path);  // throws ConfigError
  std::shared_ptr<const ml::ThresholdScorer> router;
  if (!o.router_path.empty()) {
    try {
      router = ml::ThresholdScorer::load(o.router_path);
    } catch (const std::exception& e) {
      return fail(std::string("--router: ") + e.what());
    }
  }

  AnalyzeReport rep;
  rep.slo = o.slo;
  rep.tiers = cfg ? cfg->tiers : std::vector<std::string>{"small", "medium", "large"};
  sqlite3* raw = nullptr;
  const bool from_store = !o.store_path.empty();
  int rc = from_store ? sqlite3_open_v2(o.store_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr)
                      : sqlite3_open(":memory:", &raw);
  Db db(raw, sqlite3_close);
  if (rc != SQLITE_OK) {
    return fail(fmt::format("--store: cannot open {}: {}", o.store_path,
                            raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  if (from_store) {
    rep.source = "store " + o.store_path;
    rep.reasoning_basis = "store: tier the router picked first (unknown without a routing decision)";
    std::map<std::string, std::string> model_tiers;
    if (cfg) {
      for (const auto& m : cfg->models) model_tiers[m.name] = m.tier;
    }
    if (auto r = create_store_view(db.get(), rep.tiers, model_tiers); !r) return r.error();
  } else {
    rep.source = "log " + o.log_path;
    const double threshold =
        o.router_threshold.value_or(router && router->gain() ? 0.0 : 0.5);
    rep.reasoning_basis = router ? fmt::format("router {} (complex at score >= {:g})",
                                               o.router_path, threshold)
                                 : "heuristic over the prompt";
    LogImportContext ctx{cfg ? &*cfg : nullptr, router.get(), threshold};
    auto r = import_log(db.get(), o.log_path, ctx);
    if (!r) return r.error();
    rep.n_bad = r->bad;
    rep.bad_examples = r->bad_examples;
  }

  // Finest aggregate; every table below is derived from these few rows.
  std::vector<Fine> fine;
  auto q = query(db.get(),
                 "SELECT category, tier, ctx, reasoning, COUNT(*), TOTAL(ok), TOTAL(cost_usd), "
                 "TOTAL(tokens_in), TOTAL(tokens_out) FROM r GROUP BY 1, 2, 3, 4",
                 [&](sqlite3_stmt* s) {
                   fine.push_back({col_text(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3),
                                   sqlite3_column_int64(s, 4),
                                   static_cast<int64_t>(sqlite3_column_double(s, 5)),
                                   sqlite3_column_double(s, 6), sqlite3_column_double(s, 7),
                                   sqlite3_column_double(s, 8)});
                 });
  if (!q) return fail((from_store ? "--store " + o.store_path : "--log " + o.log_path) + ": " +
                      q.error().message);
  // Tiers seen but not declared (or "(none)") have index -1: never cheaper than anything.
  const size_t n_declared = rep.tiers.size();
  auto tier_index = [&](const std::string& t) -> int {
    for (size_t i = 0; i < n_declared; ++i) {
      if (rep.tiers[i] == t) return static_cast<int>(i);
    }
    return -1;
  };

  // Time span -> monthly factor.
  int64_t min_ts = 0, max_ts = 0, n_ts = 0;
  (void)query(db.get(), "SELECT MIN(ts_ms), MAX(ts_ms), COUNT(ts_ms) FROM r", [&](sqlite3_stmt* s) {
    min_ts = sqlite3_column_int64(s, 0);
    max_ts = sqlite3_column_int64(s, 1);
    n_ts = sqlite3_column_int64(s, 2);
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

  // Per category.
  std::map<std::string, CategoryStats> cats;
  std::map<std::pair<std::string, std::string>, TierCell> cells;
  std::map<std::tuple<std::string, std::string, std::string>, MatrixCell> matrix;
  // (category, ctx, reasoning, tier) -> (n, ok), for observed recommendations.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::pair<int64_t, int64_t>>
      cell_tier;
  std::map<std::string, int64_t> by_ctx, by_reason;
  for (const Fine& f : fine) {
    CategoryStats& c = cats[f.category];
    c.category = f.category;
    c.n += f.n;
    c.cost_usd += f.cost;
    c.mean_tokens_in += f.tokens_in;  // sums for now
    c.mean_tokens_out += f.tokens_out;
    c.success_rate += static_cast<double>(f.ok);  // ok count for now
    c.by_context[f.ctx] += f.n;
    c.by_reasoning[f.reasoning] += f.n;
    TierCell& t = cells[{f.category, f.tier}];
    t.category = f.category;
    t.tier = f.tier;
    t.n += f.n;
    t.ok += f.ok;
    t.cost_usd += f.cost;
    MatrixCell& m = matrix[{f.category, f.ctx, f.reasoning}];
    m.category = f.category;
    m.context = f.ctx;
    m.reasoning = f.reasoning;
    m.n += f.n;
    auto& ct = cell_tier[{f.category, f.ctx, f.reasoning, f.tier}];
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

  // Latency percentiles (nearest rank) per category over successful rows, in SQL.
  std::map<std::string, std::pair<double, double>> pct;
  auto pq = query(db.get(),
                  "WITH s AS (SELECT category, latency_ms, ROW_NUMBER() OVER (PARTITION BY "
                  "category ORDER BY latency_ms) AS rn, COUNT(*) OVER (PARTITION BY category) AS n "
                  "FROM r WHERE ok = 1 AND latency_ms IS NOT NULL) "
                  "SELECT category, MAX(CASE WHEN rn = (n + 1) / 2 THEN latency_ms END), "
                  "MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_ms END) FROM s GROUP BY 1",
                  [&](sqlite3_stmt* s) {
                    pct[col_text(s, 0)] = {sqlite3_column_double(s, 1),
                                           sqlite3_column_double(s, 2)};
                  });
  if (!pq) return pq.error();

  for (auto& [name, c] : cats) {
    const double n = static_cast<double>(c.n);
    c.share = share(c.n);
    c.cpi_usd = c.cost_usd / n;
    c.mean_tokens_in /= n;
    c.mean_tokens_out /= n;
    c.success_rate /= n;
    c.monthly_requests = n * rep.month_factor;
    c.monthly_cost_usd = c.cost_usd * rep.month_factor;
    if (auto it = pct.find(name); it != pct.end()) {
      c.p50_ms = it->second.first;
      c.p95_ms = it->second.second;
    }
    int64_t best = -1;
    int best_idx = -2;
    for (const auto& [key, t] : cells) {
      if (key.first != name) continue;
      const int idx = tier_index(t.tier);
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

  for (auto& [key, t] : cells) {
    t.success_rate = static_cast<double>(t.ok) / static_cast<double>(t.n);
    t.cpi_usd = t.cost_usd / static_cast<double>(t.n);
    t.within_slo = t.success_rate >= o.slo;
    const int main_idx = tier_index(cats[t.category].main_tier);
    const int idx = tier_index(t.tier);
    t.cheaper_than_main = idx >= 0 && main_idx >= 0 && idx < main_idx;
    rep.tier_cells.push_back(t);
  }
  std::stable_sort(rep.tier_cells.begin(), rep.tier_cells.end(),
                   [&](const TierCell& a, const TierCell& b) {
                     if (a.category != b.category) return a.category < b.category;
                     const int ia = tier_index(a.tier), ib = tier_index(b.tier);
                     if (ia != ib) return (ia < 0 ? 1 << 20 : ia) < (ib < 0 ? 1 << 20 : ib);
                     return a.tier < b.tier;
                   });

  // Complexity matrix. h = the heuristic tier (reasoning class; long context needs at least the
  // middle tier; unknown reasoning keeps the category's main tier), raised past tiers observed
  // below the SLO on enough samples. If a tier at most that dear is observed within the SLO on
  // enough samples, the cheapest such is recommended ("observed"); else h ("heuristic").
  const int last = static_cast<int>(n_declared) - 1;
  const int mid = static_cast<int>(n_declared) / 2;
  std::map<std::tuple<std::string, std::string, std::string>, int> rec_index;
  for (auto& [key, m] : matrix) {
    // -1: not enough samples; 0: below the SLO; 1: within it.
    auto verdict = [&](int i) {
      auto it = cell_tier.find({m.category, m.context, m.reasoning, rep.tiers[i]});
      if (it == cell_tier.end() || it->second.first < o.min_samples) return -1;
      return static_cast<double>(it->second.second) >=
                     o.slo * static_cast<double>(it->second.first)
                 ? 1
                 : 0;
    };
    const int main_idx = tier_index(cats[m.category].main_tier);
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

  // Opportunities: move category X from its main tier to each cheaper declared tier Y.
  for (const CategoryStats& c : rep.categories) {
    const int main_idx = tier_index(c.main_tier);
    for (int y = 0; y < main_idx; ++y) {
      const std::string& to = rep.tiers[y];
      Opportunity op;
      op.category = c.category;
      op.from_tier = c.main_tier;
      op.to_tier = to;
      op.monthly_requests = c.monthly_requests;
      op.current_cpi_usd = c.cpi_usd;
      auto cell = cells.find({c.category, to});
      if (cell != cells.end()) {
        op.target_cpi_usd = cell->second.cost_usd / static_cast<double>(cell->second.n);
        op.cpi_basis = "observed";
        op.observed_n = cell->second.n;
        op.observed_success = static_cast<double>(cell->second.ok) / static_cast<double>(cell->second.n);
      } else if (cfg) {
        const config::Model* cheapest = nullptr;
        double best = 0.0;
        for (const config::Model& m : cfg->models) {
          if (m.tier != to) continue;
          const double cost = config::cost_usd(m.prices, static_cast<int64_t>(c.mean_tokens_in),
                                               static_cast<int64_t>(c.mean_tokens_out));
          if (!cheapest || cost < best) cheapest = &m, best = cost;
        }
        if (!cheapest) continue;
        op.target_cpi_usd = best;
        op.cpi_basis = "catalog (" + cheapest->name + ")";
      } else {
        double cost = 0.0;
        int64_t n = 0;
        for (const auto& [key, t] : cells) {
          if (key.second == to) cost += t.cost_usd, n += t.n;
        }
        if (n == 0) continue;
        op.target_cpi_usd = cost / static_cast<double>(n);
        op.cpi_basis = "observed (all categories)";
      }
      op.monthly_saving_usd = op.monthly_requests * (op.current_cpi_usd - op.target_cpi_usd);
      if (op.monthly_saving_usd <= 0.0) continue;
      int64_t fit = 0;
      for (const auto& [key, idx] : rec_index) {
        if (std::get<0>(key) == c.category && idx >= 0 && idx <= y) fit += matrix[key].n;
      }
      op.fit_share = static_cast<double>(fit) / static_cast<double>(c.n);
      if (!op.observed_success) op.risk = "unknown";
      else if (*op.observed_success < o.slo) op.risk = "high";
      else if (op.observed_n < o.min_samples) op.risk = "medium";
      else op.risk = "low";
      rep.opportunities.push_back(op);
    }
  }
  std::stable_sort(rep.opportunities.begin(), rep.opportunities.end(),
                   [](const Opportunity& a, const Opportunity& b) {
                     return a.monthly_saving_usd > b.monthly_saving_usd;
                   });
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
