#include "eval/eval_multi.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/csv.h"
#include "config/config.h"
#include "datasets/dataset_rows.h"
#include "datasets/split.h"
#include "eval/eval_engine.h"
#include "providers/replay.h"
#include "routes/knob.h"
#include "routes/route_table.h"

namespace triage::eval {

namespace {

// The RouterBench model a replay model answers as, or "".
std::string dataset_model(const CsvTable& t, const providers::ReplayOptions& r) {
  constexpr std::string_view kSuffix = "|response";
  const std::string& c = r.response_column;
  if (c.size() > kSuffix.size() && c.compare(c.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    return c.substr(0, c.size() - kSuffix.size());
  }
  if (c.find('|') == std::string::npos && t.column(c + "|response")) return c;
  return "";
}

struct Baseline {
  std::string model, dataset_model;
  std::size_t score_col = 0;
  std::optional<std::size_t> cost_col;
};

struct Row {
  std::string prompt;
  std::string category;
  std::vector<double> grade;                // per baseline (complete cases only)
  std::vector<std::optional<double>> cost;  // per baseline
};

// Recorded cost of baseline b on a row; rows without a cost cell cost +inf for ranking.
double rank_cost(const Row& r, std::size_t b) {
  return r.cost[b] ? *r.cost[b] : std::numeric_limits<double>::infinity();
}

// The oracle's choice among `cands` (baseline indices) on a row.
std::size_t oracle_choice(const Row& r, const std::vector<std::size_t>& cands) {
  std::optional<std::size_t> best_ok;
  std::size_t cheapest = cands.front();
  for (std::size_t b : cands) {
    if (rank_cost(r, b) < rank_cost(r, cheapest)) cheapest = b;
    if (r.grade[b] >= 0.5 && (!best_ok || rank_cost(r, b) < rank_cost(r, *best_ok))) best_ok = b;
  }
  return best_ok ? *best_ok : cheapest;
}

std::optional<std::size_t> baseline_index(const std::vector<Baseline>& baselines,
                                          const std::string& model) {
  auto it = std::find_if(baselines.begin(), baselines.end(),
                         [&](const Baseline& b) { return b.model == model; });
  if (it == baselines.end()) return std::nullopt;
  return static_cast<std::size_t>(it - baselines.begin());
}

// Recorded cost of every call the route made for row `r` (the engine's estimate where the row
// has no cost cell for that model; counted in *missing_cost).
double recorded_row_cost(const Row& r, const RouteOutcome& o, const std::vector<Baseline>& baselines,
                         int64_t* missing_cost) {
  double row_cost = 0.0;
  for (const ModelCall& call : o.calls) {
    const auto b = baseline_index(baselines, call.model);
    if (call.ok && b && r.cost[*b]) {
      row_cost += *r.cost[*b];
    } else {
      if (call.ok && missing_cost) ++*missing_cost;
      row_cost += call.cost_usd;
    }
  }
  return row_cost;
}

MultiPoint summarize(const std::vector<Row>& rows, const std::vector<RouteOutcome>& outcomes,
                     const std::vector<Baseline>& baselines, const std::vector<std::size_t>& cands) {
  MultiPoint p;
  p.n = static_cast<int64_t>(rows.size());
  std::map<std::string, int64_t> counts, calls;
  double quality = 0.0;
  int64_t acc = 0, over = 0, under = 0, other = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RouteOutcome& o = outcomes[i];
    const Row& r = rows[i];
    p.routing_us += o.routing_us;
    // Cost: every model the row called, at its recorded cost on this row.
    for (const ModelCall& call : o.calls) ++calls[call.model];
    const double row_cost = recorded_row_cost(r, o, baselines, &p.missing_cost);
    p.cost_usd += row_cost;
    if (o.model.empty()) {
      ++p.errors;
      ++other;
      continue;
    }
    ++counts[o.model];
    const auto answered = baseline_index(baselines, o.model);
    if (!answered) {
      ++p.ungraded;
      ++other;
      continue;
    }
    const std::size_t b = *answered;
    quality += r.grade[b];
    const std::size_t orc = oracle_choice(r, cands);
    const bool ok = r.grade[b] >= 0.5;
    const double oc = rank_cost(r, orc);
    if (ok || r.grade[orc] < 0.5) {
      (row_cost <= oc ? acc : over) += 1;
    } else {
      bool pricier_ok = false;
      for (std::size_t k : cands) {
        pricier_ok = pricier_ok || (rank_cost(r, k) > row_cost && r.grade[k] >= 0.5);
      }
      (pricier_ok ? under : other) += 1;
    }
  }
  if (p.n > 0) {
    const double n = static_cast<double>(p.n);
    p.quality = quality / n;
    p.cpi_usd = p.cost_usd / n;
    for (const auto& [m, c] : counts) p.share[m] = static_cast<double>(c) / n;
    for (const auto& [m, c] : calls) p.calls[m] = static_cast<double>(c) / n;
    p.routing = {acc / n, over / n, under / n, other / n};
  }
  return p;
}

}  // namespace

std::optional<double> cost_ratio_at_quality(const std::vector<std::pair<double, double>>& points,
                                            double target, double reference_cost) {
  if (reference_cost <= 0) return std::nullopt;
  std::optional<double> best;
  for (const auto& [cost, quality] : points) {
    if (quality >= target - 1e-12 && (!best || cost < *best)) best = cost;
  }
  if (!best) return std::nullopt;
  return *best / reference_cost;
}

namespace {

// Baselines: replay models that answer as a RouterBench model of this file.
std::vector<Baseline> baselines_of(const config::Config& cfg, const CsvTable& table,
                                   const EvalOptions& o) {
  std::vector<Baseline> baselines;
  for (const auto& m : cfg.models) {
    if (m.provider != "replay") continue;
    const providers::ReplayOptions r = providers::parse_replay_options(cfg, m);
    const std::string dm = dataset_model(table, r);
    if (dm.empty()) continue;
    const std::string score = r.score_column.empty() ? dm + "|score" : r.score_column;
    auto sc = table.column(score);
    if (!sc) continue;
    baselines.push_back({m.name, dm, *sc, table.column(dm + "|cost")});
  }
  if (baselines.empty()) {
    throw std::runtime_error(o.config_path + ": no replay model answers as a model of " +
                             o.dataset + " (response_column: a bare RouterBench model name)");
  }
  return baselines;
}

// The baselines the oracle and random routing choose among: a candidates route's candidates,
// else every baseline. Indices into `baselines`.
std::vector<std::size_t> candidate_indices(const std::vector<Baseline>& baselines,
                                           const routes::CandidatesEval* candidates,
                                           const EvalOptions& o) {
  std::vector<std::size_t> cands;
  if (!candidates) {
    for (std::size_t b = 0; b < baselines.size(); ++b) cands.push_back(b);
    return cands;
  }
  for (const std::string& c : candidates->candidates) {
    const auto b = baseline_index(baselines, c);
    if (!b) {
      throw std::runtime_error("candidate '" + c + "' of route '" + o.route +
                               "' has no grades in " + o.dataset);
    }
    cands.push_back(*b);
  }
  return cands;
}

// The split to re-apply: a candidates route's own (from its predictor's metadata, behind its
// bar); any other route is evaluated on the test part of the default fixed split (the one
// `triage train multi-router` uses), since its configuration (models, checks) is chosen on the
// train part of that split. Sets res.split_applied.
std::optional<datasets::SplitRule> split_to_apply(const EvalOptions& o,
                                                  const routes::CandidatesEval* candidates,
                                                  MultiEvalResult& res) {
  datasets::TrainedSplit trained;
  if (o.split != "all" && candidates) {
    trained = datasets::read_trained_split(std::string(candidates->bar->model_path()),
                                           {"multi_router"});
  } else if (o.split != "all") {
    trained.rule = datasets::SplitRule{};
    trained.trained_sha256 = {res.dataset_sha256};
  }
  if (o.split == "train" && candidates) {
    throw std::runtime_error("--split train: a predict route's train part is its predictor's "
                             "training data; evaluate it on the test part");
  }
  const std::string split_option = o.split == "train" ? "test" : o.split;
  const std::optional<datasets::SplitRule> split =
      datasets::eval_split(split_option, trained, res.dataset_sha256, "predictor");
  if (o.split == "train") {
    res.split_applied = "train part of the default split (" + split->key_column + " hash, seed " +
                        std::to_string(split->seed) + "; the test part is left out)";
    return split;
  }
  res.split_applied = candidates || !split
                          ? datasets::split_description(split, "predictor")
                          : "test part of the default split (" + split->key_column +
                                " hash, seed " + std::to_string(split->seed) +
                                "; the route is tuned on the train part)";
  return split;
}

// The evaluated rows: those of the split's test part whose every baseline has a grade
// (complete cases); the missing cells are counted per model.
std::vector<Row> read_rows(const CsvTable& table, const std::vector<Baseline>& baselines,
                           const std::optional<datasets::SplitRule>& split, const EvalOptions& o,
                           MultiEvalResult& res) {
  const auto prompt_col = table.column("prompt");
  if (!prompt_col) throw std::runtime_error(o.dataset + ": no 'prompt' column");
  const auto cat_col = datasets::category_column(table);
  const datasets::EvalRows selected =
      datasets::select_eval_rows(table, *prompt_col, split, o.split == "train");
  res.n_missing_prompt = selected.missing_prompt;
  res.n_excluded_train = selected.excluded_train;
  std::vector<Row> rows;
  for (const CsvRow* row_cells : selected.rows) {
    const CsvRow& r = *row_cells;
    Row row;
    bool complete = true;
    for (const auto& b : baselines) {
      auto g = datasets::parse_number_cell(r[b.score_col]);
      if (!g) {
        ++res.missing_cells_part[b.dataset_model];
        complete = false;
        continue;
      }
      row.grade.push_back(*g);
      row.cost.push_back(b.cost_col ? datasets::parse_number_cell(r[*b.cost_col]) : std::nullopt);
    }
    if (!complete) {
      ++res.n_excluded_missing;
      continue;
    }
    row.prompt = *r[*prompt_col];
    if (cat_col && r[*cat_col]) row.category = *r[*cat_col];
    rows.push_back(std::move(row));
  }
  for (const auto& b : baselines) res.missing_cells_part.try_emplace(b.dataset_model, 0);
  res.n_rows = static_cast<int64_t>(rows.size());
  if (rows.empty()) throw std::runtime_error(o.dataset + ": no rows to evaluate");
  return rows;
}

// Every single model, the oracle and random routing over `rows`, from the recorded grades and
// costs; the best single model.
void recorded_baselines(const std::vector<Row>& rows, const std::vector<Baseline>& baselines,
                        const std::vector<std::size_t>& cands, MultiEvalResult& res) {
  const double n = static_cast<double>(rows.size());
  for (std::size_t b = 0; b < baselines.size(); ++b) {
    ModelBaseline mb{baselines[b].model, baselines[b].dataset_model, 0, 0, 0};
    for (const Row& r : rows) {
      mb.quality += r.grade[b];
      mb.cost_usd += r.cost[b].value_or(0.0);
    }
    mb.quality /= n;
    mb.cpi_usd = mb.cost_usd / n;
    res.models.push_back(mb);
    if (res.best_model.empty() || mb.quality > res.best_quality) {
      res.best_model = mb.model;
      res.best_quality = mb.quality;
      res.best_cost_usd = mb.cost_usd;
    }
  }
  res.oracle = {"oracle", "cheapest correct candidate", 0, 0, 0};
  res.random = {"random", "uniform over the candidates (expected)", 0, 0, 0};
  for (const Row& r : rows) {
    const std::size_t orc = oracle_choice(r, cands);
    res.oracle.quality += r.grade[orc];
    res.oracle.cost_usd += r.cost[orc].value_or(0.0);
    for (std::size_t b : cands) {
      res.random.quality += r.grade[b] / static_cast<double>(cands.size());
      res.random.cost_usd += r.cost[b].value_or(0.0) / static_cast<double>(cands.size());
    }
  }
  for (ModelBaseline* m : {&res.oracle, &res.random}) {
    m->quality /= n;
    m->cpi_usd = m->cost_usd / n;
  }
}

// The knob values of a sweep: a candidates route's bar at 0.00, 0.01, ..., 1.00; else every
// step of a discrete knob, else o.sweep_points values evenly over its range.
std::vector<double> sweep_values(const routes::Knob& knob, bool candidates, const EvalOptions& o) {
  std::vector<double> values;
  if (candidates) {
    constexpr int kSteps = 100;
    for (int i = 0; i <= kSteps; ++i) values.push_back(static_cast<double>(i) / kSteps);
    return values;
  }
  const auto [lo, hi] = knob.range();
  if (knob.step() > 0) {
    const double step = knob.step();
    const int steps = static_cast<int>(std::floor((hi - lo) / step + 1e-9));
    for (int i = 0; i <= steps; ++i) values.push_back(lo + step * i);
  } else {
    const int n = std::max(2, o.sweep_points);
    for (int i = 0; i < n; ++i) values.push_back(lo + (hi - lo) * i / (n - 1));
  }
  return values;
}

// The top-level numbers over the operating point and the sweep (eval_multi.h).
void cost_quality_targets(MultiEvalResult& res) {
  std::vector<std::pair<double, double>> cq{{res.operating.cost_usd, res.operating.quality}};
  for (const auto& p : res.points) cq.emplace_back(p.cost_usd, p.quality);
  res.cost_ratio_at_best_quality =
      cost_ratio_at_quality(cq, res.best_quality - 0.01, res.best_cost_usd);
  for (const auto& [cost, quality] : cq) {
    if (cost <= 0.4 * res.best_cost_usd &&
        (!res.quality_at_40pct_cost || quality > *res.quality_at_40pct_cost)) {
      res.quality_at_40pct_cost = quality;
    }
  }
}

// Per-row outcomes of one route run for --cv: the answering baseline's grade (0 otherwise) and
// the recorded cost of every call.
CvPolicy cv_policy(const std::vector<Row>& rows, const std::vector<RouteOutcome>& outcomes,
                   const std::vector<Baseline>& baselines, double knob) {
  CvPolicy p;
  p.knob = knob;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto b = outcomes[i].model.empty() ? std::nullopt
                                             : baseline_index(baselines, outcomes[i].model);
    p.quality.push_back(b ? rows[i].grade[*b] : 0.0);
    p.cost.push_back(recorded_row_cost(rows[i], outcomes[i], baselines, nullptr));
  }
  return p;
}

// Every baseline alone, from the recorded grades and costs (a missing cost cell costs 0).
std::vector<CvPolicy> cv_references(const std::vector<Row>& rows,
                                    const std::vector<Baseline>& baselines) {
  std::vector<CvPolicy> refs;
  for (std::size_t b = 0; b < baselines.size(); ++b) {
    CvPolicy p;
    p.name = baselines[b].model;
    for (const Row& r : rows) {
      p.quality.push_back(r.grade[b]);
      p.cost.push_back(r.cost[b].value_or(0.0));
    }
    refs.push_back(std::move(p));
  }
  return refs;
}

}  // namespace

MultiEvalResult evaluate_multi(const EvalOptions& o, const datasets::EvalData& data,
                               EvalEngine& engine, const routes::CandidatesEval* candidates) {
  MultiEvalResult res;
  res.config_path = o.config_path;
  res.route = o.route;
  res.dataset = o.dataset;
  res.dataset_sha256 = data.sha256;
  const CsvTable& table = data.table;
  res.n_rows_file = static_cast<int64_t>(table.rows.size());
  routes::Route& route = engine.route();
  res.route_kind = std::string(route.kind());

  const std::vector<Baseline> baselines = baselines_of(engine.config(), table, o);
  for (const auto& dm : datasets::routerbench_models(table.header)) {
    const auto col = *table.column(dm + "|score");
    int64_t n = 0;
    for (const auto& r : table.rows) n += datasets::parse_number_cell(r[col]) ? 0 : 1;
    res.missing_cells_file[dm] = n;
  }
  const std::vector<std::size_t> cands = candidate_indices(baselines, candidates, o);
  for (std::size_t b : cands) res.candidates.push_back(baselines[b].model);
  const std::optional<datasets::SplitRule> split = split_to_apply(o, candidates, res);
  const std::vector<Row> rows = read_rows(table, baselines, split, o, res);
  recorded_baselines(rows, baselines, cands, res);

  // The route: as configured, then (with --sweep) across its knob: a candidates route's bar,
  // else its first knob (routes/knob.h).
  std::vector<routes::Knob*> knobs = routes::knobs_of(route);
  routes::Knob* knob = candidates ? candidates->bar : knobs.empty() ? nullptr : knobs.front();
  res.knob = knob ? std::string(knob->name()) : "";
  const double configured = knob ? knob->get() : 0.0;
  res.operating = summarize(rows, run_route(route, rows), baselines, cands);
  res.operating.bar = configured;
  if (o.cv_folds > 0 && !knob) {
    throw std::runtime_error("--cv: route '" + o.route + "' has no knob to choose");
  }
  CvInput cv_in;
  if ((o.sweep || o.cv_folds > 0) && knob) {
    for (double v : sweep_values(*knob, candidates != nullptr, o)) {
      knob->set(v);
      const std::vector<RouteOutcome> out = run_route(route, rows);
      MultiPoint p = summarize(rows, out, baselines, cands);
      p.bar = v;
      res.points.push_back(std::move(p));
      if (o.cv_folds > 0) cv_in.points.push_back(cv_policy(rows, out, baselines, v));
    }
  }
  if (o.cv_folds > 0) {
    cv_in.folds = o.cv_folds;
    for (const Row& r : rows) cv_in.keys.push_back(r.prompt);
    cv_in.references = cv_references(rows, baselines);
    res.cv = cross_validate(cv_in);
    res.cv->rows = res.split_applied +
                   (candidates ? "; the predictor never saw these rows"
                               : "; the route has no trained scorer");
  }
  if (knob) knob->set(configured);
  res.swept = !res.points.empty();
  std::stable_sort(res.points.begin(), res.points.end(),
                   [](const MultiPoint& a, const MultiPoint& b) { return a.cost_usd < b.cost_usd; });
  cost_quality_targets(res);
  return res;
}

}  // namespace triage::eval
