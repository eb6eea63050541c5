#include "eval/eval_pairs.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "common/csv.h"
#include "config/config.h"
#include "datasets/dataset_rows.h"
#include "datasets/split.h"
#include "eval/eval_engine.h"
#include "providers/replay.h"
#include "ml/threshold_scorer.h"  // threshold_for_share
#include "routes/knob.h"
#include "routes/route_table.h"

namespace triage::eval {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The grade column of a replay model in `t`, or "".
std::string grade_column(const CsvTable& t, const providers::ReplayOptions& r) {
  auto has = [&](const std::string& c) { return !c.empty() && t.column(c).has_value(); };
  if (!r.score_column.empty()) return has(r.score_column) ? r.score_column : "";
  const std::string& c = r.response_column;
  std::vector<std::string> tries;
  if (c == "weak" || c == "strong") tries.push_back(c + "_correct");
  if (ends_with(c, "_response")) tries.push_back(c.substr(0, c.size() - 9) + "_correct");
  if (ends_with(c, "|response")) tries.push_back(c.substr(0, c.size() - 9) + "|score");
  if (c.find('|') == std::string::npos) tries.push_back(c + "|score");
  for (const auto& g : tries) {
    if (has(g)) return g;
  }
  return "";
}

struct EvalRow {
  std::string prompt;
  std::string category;
  std::map<std::string, std::optional<double>, std::less<>> grades;  // model -> grade
};

EvalPoint summarize(const std::vector<EvalRow>& rows, const std::vector<RouteOutcome>& outcomes,
                    const std::string& weak, const std::string& strong, bool pair) {
  EvalPoint p;
  p.n = static_cast<int64_t>(rows.size());
  std::map<std::string, int64_t> counts;
  double quality = 0.0;
  std::vector<ml::PairRow> pair_rows;
  int64_t strong_n = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RouteOutcome& o = outcomes[i];
    p.cost_usd += o.cost_usd;
    p.routing_us += o.routing_us;
    if (o.model.empty()) {
      ++p.errors;
      continue;
    }
    ++counts[o.model];
    auto g = rows[i].grades.find(o.model);
    if (g == rows[i].grades.end() || !g->second) {
      ++p.ungraded;
    } else {
      quality += *g->second;
    }
    if (pair) {
      const auto& w = rows[i].grades.at(weak);
      const auto& s = rows[i].grades.at(strong);
      if (w && s) pair_rows.push_back({*w, *s, o.model == strong});
      strong_n += o.model == strong;
    }
  }
  if (p.n > 0) {
    p.quality = quality / static_cast<double>(p.n);
    p.cpi_usd = p.cost_usd / static_cast<double>(p.n);
    for (const auto& [m, c] : counts) p.share[m] = static_cast<double>(c) / static_cast<double>(p.n);
    p.strong_share = static_cast<double>(strong_n) / static_cast<double>(p.n);
  }
  if (pair) p.routing = ml::routing_rates(pair_rows);
  return p;
}

}  // namespace

namespace {

using GradeColumns = std::map<std::string, std::size_t>;  // catalog model -> grade column

GradeColumns grade_columns(const config::Config& cfg, const CsvTable& table) {
  GradeColumns grade_idx;
  for (const auto& m : cfg.models) {
    if (m.provider != "replay") continue;
    const std::string g = grade_column(table, providers::parse_replay_options(cfg, m));
    if (!g.empty()) grade_idx[m.name] = *table.column(g);
  }
  return grade_idx;
}

// The weak/strong pair: the one the route's family names, else the two graded models, the
// cheaper one weak. Sets res.weak_model, res.strong_model and res.is_pair (both graded).
void choose_pair(const routes::WeakStrongEval* weak_strong, const GradeColumns& grade_idx,
                 const config::Config& cfg, EvalResult& res) {
  if (weak_strong) {
    res.weak_model = weak_strong->weak;
    res.strong_model = weak_strong->strong;
  } else if (grade_idx.size() == 2) {
    std::vector<const config::Model*> ms;
    for (const auto& [name, idx] : grade_idx) ms.push_back(cfg.find_model(name));
    auto price = [](const config::Model* m) {
      return m->prices.input_per_mtok + m->prices.output_per_mtok + m->prices.per_call;
    };
    if (price(ms[0]) > price(ms[1])) std::swap(ms[0], ms[1]);
    res.weak_model = ms[0]->name;
    res.strong_model = ms[1]->name;
  }
  res.is_pair = !res.weak_model.empty() && grade_idx.count(res.weak_model) &&
                grade_idx.count(res.strong_model);
}

// The evaluated rows: the prompt column (the replay models'), the category, the split of the
// knob's model re-applied, the excluded categories left out. Fills the row counts and
// split_applied of `res`.
std::vector<EvalRow> read_rows(const EvalOptions& o, const datasets::EvalData& data,
                               const config::Config& cfg, const GradeColumns& grade_idx,
                               const routes::Knob* knob, EvalResult& res) {
  const CsvTable& table = data.table;
  std::string prompt_name = "prompt";
  for (const auto& m : cfg.models) {
    if (m.provider == "replay") {
      prompt_name = providers::parse_replay_options(cfg, m).prompt_column;
      break;
    }
  }
  const auto prompt_col = table.column(prompt_name);
  if (!prompt_col) {
    throw std::runtime_error(o.dataset + ": no '" + prompt_name + "' column (columns: " +
                             table.columns_list() + ")");
  }
  if (o.split == "train") {
    throw std::runtime_error("--split train is for multi-model routes (RouterBench data); a "
                             "pair route is cross-validated on the rows it already holds out");
  }
  const auto cat_col = datasets::category_column(table);
  datasets::TrainedSplit trained;
  if (o.split != "all" && knob && !knob->model_path().empty()) {
    trained = datasets::read_trained_split(std::string(knob->model_path()), {"router", "scorer"});
  }
  const std::optional<datasets::SplitRule> split =
      datasets::eval_split(o.split, trained, res.dataset_sha256, "scorer");
  res.split_applied = datasets::split_description(split, "scorer");
  const datasets::EvalRows selected = datasets::select_eval_rows(table, *prompt_col, split);
  res.n_missing_prompt = selected.missing_prompt;
  res.n_excluded_train = selected.excluded_train;
  const std::set<std::string> excluded(o.exclude_categories.begin(), o.exclude_categories.end());
  std::vector<EvalRow> rows;
  for (const CsvRow* r : selected.rows) {
    EvalRow row;
    row.prompt = *(*r)[*prompt_col];
    if (cat_col && (*r)[*cat_col]) row.category = *(*r)[*cat_col];
    if (excluded.count(row.category)) {
      ++res.n_excluded_category;
      continue;
    }
    for (const auto& m : cfg.models) {
      auto it = grade_idx.find(m.name);
      row.grades[m.name] =
          it == grade_idx.end() ? std::nullopt : datasets::parse_number_cell((*r)[it->second]);
    }
    rows.push_back(std::move(row));
  }
  res.n_rows = static_cast<int64_t>(rows.size());
  if (rows.empty()) throw std::runtime_error(o.dataset + ": no rows to evaluate");
  return rows;
}

// The knob settings of a sweep. When the knob compares a per-request score (a threshold
// route), it is set at strong-share targets of the rows' scores (`scored`); a discrete knob
// (Knob::step() > 0, e.g. an agreement's min_agree) at each of its values; otherwise (a
// cascade's scorer judges answers) on a uniform grid over its range that is then refined by
// bisection (refine_budget runs at most).
struct SweepPlan {
  std::vector<double> thresholds;  // by decreasing value: few strong calls first
  bool scored = false;
  int64_t refine_budget = 0;
};

SweepPlan plan_sweep(const EvalOptions& o, routes::Knob& knob, const routes::Route& route,
                     const std::vector<EvalRow>& rows) {
  SweepPlan plan;
  std::vector<double> scores;
  plan.scored = true;
  for (std::size_t i = 0; i < rows.size() && plan.scored; ++i) {
    const auto s =
        knob.request_score(eval_request(route.name(), rows[i].prompt, rows[i].category, i));
    if (s) scores.push_back(*s);
    plan.scored = s.has_value();
  }
  std::set<double> uniq;
  const int n = std::max(2, o.sweep_points);
  const auto [lo, hi] = knob.range();
  const double step = knob.step();
  if (!plan.scored && step > 0) {  // a discrete knob (a count): exactly its values, no refinement
    const int steps = static_cast<int>(std::floor((hi - lo) / step + 1e-9));
    for (int i = 0; i <= steps; ++i) uniq.insert(lo + step * i);
  } else {
    for (int i = 0; i < n; ++i) {
      uniq.insert(plan.scored ? ml::threshold_for_share(scores, i / double(n - 1))
                              : lo + (hi - lo) * i / double(n - 1));
    }
  }
  plan.thresholds.assign(uniq.rbegin(), uniq.rend());
  plan.refine_budget = plan.scored || plan.thresholds.size() < 2 || step > 0
                           ? 0
                           : 2 * static_cast<int64_t>(plan.thresholds.size());
  return plan;
}

// Bisects between neighbouring points whose strong shares differ by more than one grid step,
// within plan.refine_budget runs; returns the points by knob value.
std::vector<EvalPoint> refine_sweep(std::vector<EvalPoint> points, const SweepPlan& plan,
                                    const routes::Knob& knob,
                                    const std::function<EvalPoint(double)>& run_at) {
  std::map<double, EvalPoint> by_value;
  for (auto& p : points) by_value.emplace(p.threshold, std::move(p));
  const double step = 1.0 / static_cast<double>(plan.thresholds.size() - 1);
  const double min_gap = (knob.range().second - knob.range().first) * 1e-9;
  int64_t budget = plan.refine_budget;
  // Inserting into a std::map keeps iterators valid: a new midpoint is refined in turn.
  for (auto it = by_value.begin(); budget > 0 && std::next(it) != by_value.end();) {
    auto next = std::next(it);
    if (std::abs(next->second.strong_share - it->second.strong_share) > step + 1e-12 &&
        next->first - it->first > min_gap) {
      const double mid = (it->first + next->first) / 2;
      by_value.emplace(mid, run_at(mid));
      --budget;
    } else {
      ++it;
    }
  }
  std::vector<EvalPoint> out;
  for (auto& [t, p] : by_value) out.push_back(std::move(p));
  return out;
}

// The pair's baselines (weak alone, strong alone, through the same engine), PGR of every
// point, the oracle curve and, with a sweep, APGR and CPT(50%), CPT(80%).
void pair_metrics(const std::vector<EvalRow>& rows, const std::vector<RouteOutcome>& weak_out,
                  const std::vector<RouteOutcome>& strong_out, EvalResult& res) {
  res.all_weak = summarize(rows, weak_out, res.weak_model, res.strong_model, true);
  res.all_strong = summarize(rows, strong_out, res.weak_model, res.strong_model, true);
  const double wq = res.all_weak->quality, sq = res.all_strong->quality;
  auto fill = [&](EvalPoint& p) { p.pgr = ml::pgr(p.quality, wq, sq); };
  fill(res.operating);
  for (auto& p : res.points) fill(p);
  std::vector<ml::PairRow> pr;
  for (const auto& row : rows) {
    const auto& w = row.grades.at(res.weak_model);
    const auto& s = row.grades.at(res.strong_model);
    if (w && s) pr.push_back({*w, *s, false});
  }
  res.n_pair_rows = static_cast<int64_t>(pr.size());
  res.oracle = ml::oracle_curve(pr);
  std::vector<ml::PgrPoint> oracle_pgr;
  for (const auto& q : res.oracle) {
    oracle_pgr.push_back({q.strong_share, ml::pgr(q.quality, wq, sq)});
    if (q.quality > res.oracle_quality) {
      res.oracle_quality = q.quality;
      res.oracle_strong_share = q.strong_share;
    }
  }
  res.oracle_apgr = ml::apgr(oracle_pgr);
  if (res.swept) {
    std::vector<ml::PgrPoint> curve;
    for (const auto& p : res.points) curve.push_back({p.strong_share, p.pgr});
    res.apgr = ml::apgr(curve);
    res.cpt50 = ml::cpt(curve, 0.5);
    res.cpt80 = ml::cpt(curve, 0.8);
  }
}

// Per-row outcomes of one policy for --cv: the answering model's grade (0 on error or
// without a grade), the engine's cost, and whether the strong model answered.
CvPolicy cv_policy(const std::vector<EvalRow>& rows, const std::vector<RouteOutcome>& outcomes,
                   const std::string& strong, std::string name, double knob) {
  CvPolicy p;
  p.name = std::move(name);
  p.knob = knob;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RouteOutcome& o = outcomes[i];
    double q = 0.0;
    if (!o.model.empty()) {
      auto g = rows[i].grades.find(o.model);
      if (g != rows[i].grades.end() && g->second) q = *g->second;
    }
    p.quality.push_back(q);
    p.cost.push_back(o.cost_usd);
    p.strong.push_back(o.model == strong ? 1.0 : 0.0);
  }
  return p;
}

}  // namespace

EvalResult evaluate_pairs(const EvalOptions& o, const datasets::EvalData& data, EvalEngine& engine,
                          const routes::WeakStrongEval* weak_strong) {
  EvalResult res;
  res.config_path = o.config_path;
  res.route = o.route;
  res.dataset = o.dataset;
  res.dataset_sha256 = data.sha256;
  res.n_rows_file = static_cast<int64_t>(data.table.rows.size());
  const config::Config& cfg = engine.config();
  routes::Route& route = engine.route();
  res.route_kind = std::string(route.kind());
  // The swept knob: the route's first (a threshold route's threshold, a cascade's scorer
  // threshold); its model's metadata holds the split to re-apply.
  const std::vector<routes::Knob*> knobs = routes::knobs_of(route);
  routes::Knob* knob = knobs.empty() ? nullptr : knobs.front();

  const GradeColumns grade_idx = grade_columns(cfg, data.table);
  choose_pair(weak_strong, grade_idx, cfg, res);
  const std::vector<EvalRow> rows = read_rows(o, data, cfg, grade_idx, knob, res);
  if (weak_strong && weak_strong->in_scorer_training) {
    for (const auto& row : rows) {
      res.n_in_scorer_training += weak_strong->in_scorer_training(row.prompt) ? 1 : 0;
    }
  }

  // The route as configured, then (with --sweep) across its knob.
  if (o.cv_folds > 0 && (!knob || !res.is_pair)) {
    throw std::runtime_error("--cv: route '" + o.route +
                             "' needs a knob and a weak/strong pair with grades in the dataset");
  }
  const bool sweep = o.sweep || o.cv_folds > 0;
  const SweepPlan plan = sweep && knob ? plan_sweep(o, *knob, route, rows) : SweepPlan{};
  const int64_t passes = 1 + static_cast<int64_t>(plan.thresholds.size()) + plan.refine_budget +
                         (res.is_pair ? 2 : 0);
  ProgressBar progress(o.progress, passes * res.n_rows);
  auto run = [&] {
    return summarize(rows, run_route(route, rows, &progress), res.weak_model, res.strong_model,
                     res.is_pair);
  };
  const double configured = knob ? knob->get() : 0.0;
  res.operating = run();
  res.operating.threshold = configured;
  std::map<double, std::vector<RouteOutcome>> sweep_outcomes;  // knob value -> rows (--cv)
  auto run_at = [&](double t) {
    knob->set(t);
    std::vector<RouteOutcome> out = run_route(route, rows, &progress);
    EvalPoint p = summarize(rows, out, res.weak_model, res.strong_model, res.is_pair);
    p.threshold = t;
    if (o.cv_folds > 0) sweep_outcomes[t] = std::move(out);
    return p;
  };
  for (double t : plan.thresholds) res.points.push_back(run_at(t));
  if (plan.refine_budget > 0) res.points = refine_sweep(std::move(res.points), plan, *knob, run_at);
  if (knob) knob->set(configured);
  res.swept = !res.points.empty();

  if (res.is_pair) {
    const auto weak_out = run_route(*engine.table().find(res.weak_model), rows, &progress);
    const auto strong_out = run_route(*engine.table().find(res.strong_model), rows, &progress);
    pair_metrics(rows, weak_out, strong_out, res);
    if (o.cv_folds > 0) {
      CvInput in;
      in.folds = o.cv_folds;
      for (const auto& row : rows) in.keys.push_back(row.prompt);
      for (const auto& [t, out] : sweep_outcomes) {
        in.points.push_back(cv_policy(rows, out, res.strong_model, "", t));
      }
      in.references.push_back(cv_policy(rows, strong_out, res.strong_model, res.strong_model, 0));
      in.weak = cv_policy(rows, weak_out, res.strong_model, res.weak_model, 0);
      res.cv = cross_validate(in);
      res.cv->rows = res.split_applied + (res.n_in_scorer_training > 0
                                              ? "; " + std::to_string(res.n_in_scorer_training) +
                                                    " rows are among the scorer's training prompts"
                                              : "; no row among the scorer's training prompts");
    }
  }
  std::stable_sort(res.points.begin(), res.points.end(), [](const EvalPoint& a, const EvalPoint& b) {
    return a.strong_share < b.strong_share;
  });
  return res;
}

}  // namespace triage::eval
