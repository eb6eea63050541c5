#include "eval/eval.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/clock.h"
#include "common/csv.h"
#include "config/config.h"
#include "datasets/dataset_rows.h"
#include "eval/eval_classifier.h"
#include "eval/eval_engine.h"
#include "eval/eval_multi.h"
#include "datasets/split.h"
#include "providers/provider.h"
#include "providers/replay.h"
#include "routes/knob.h"
#include "routes/route_table.h"
#include "routes/threshold_route.h"

namespace triage::eval {

namespace {

constexpr std::string_view kPlaceholder =
    "[synthesized placeholder] the dataset holds no response text for this prompt; "
    "evaluation grades it from the recorded grade";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The response column a replay model will use in `t`, as ReplayClient resolves it, or "".
std::string resolved_response_column(const CsvTable& t, const providers::ReplayOptions& r) {
  const std::string& c = r.response_column;
  if (t.column(c)) return c;
  if ((c == "weak" || c == "strong") && t.column(c + "_response")) return c + "_response";
  if (c.find('|') == std::string::npos && t.column(c + "|response")) return c + "|response";
  return "";
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

EvalResult evaluate(const EvalOptions& o) {
  const SteadyTime t0 = SteadyClock::now();
  EvalResult res;
  res.config_path = o.config_path;
  res.route = o.route;
  res.dataset = o.dataset;
  res.dataset_sha256 = datasets::eval_dataset_sha256(o.dataset);
  const CsvTable table = read_csv_file(o.dataset);
  res.n_rows_file = static_cast<int64_t>(table.rows.size());

  // Replay models whose dataset has grades but no response text answer an eval-only
  // placeholder when their config allows it (synthesize_missing).
  EvalEngine engine(o, o.dataset, [&table](const config::Config&,
                                           providers::ProviderRegistry& registry) {
    const providers::ProviderFactory replay = *registry.find("replay");
    registry.add("replay", [replay, &table](const config::Config& c, const config::Model& m,
                                            const providers::EnvLookup& env)
                               -> std::unique_ptr<providers::ModelClient> {
      const providers::ReplayOptions r = providers::parse_replay_options(c, m);
      if (resolved_response_column(table, r).empty() && r.synthesize_missing) {
        return std::make_unique<PlaceholderClient>("replay-grades/1", kPlaceholder);
      }
      return replay(c, m, env);
    });
  });
  const config::Config& cfg = engine.config();
  routes::RouteTable* routes_table = &engine.table();
  routes::Route* route = &engine.route();
  res.route_kind = std::string(route->kind());
  auto* threshold = dynamic_cast<routes::ThresholdRoute*>(route);
  // The swept knob: the route's first (a threshold route's threshold, a cascade's scorer
  // threshold); its model's metadata holds the split to re-apply.
  const std::vector<routes::Knob*> knobs = routes::knobs_of(*route);
  routes::Knob* knob = knobs.empty() ? nullptr : knobs.front();

  // Grade columns, per catalog model.
  std::map<std::string, std::size_t> grade_idx;
  for (const auto& m : cfg.models) {
    if (m.provider != "replay") continue;
    const std::string g = grade_column(table, providers::parse_replay_options(cfg, m));
    if (!g.empty()) grade_idx[m.name] = *table.column(g);
  }
  // Weak/strong pair.
  if (threshold) {
    res.weak_model = threshold->weak().name();
    res.strong_model = threshold->strong().name();
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

  // Rows: the prompt column (the replay models'), the category, the split to re-apply.
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
  if (threshold) {
    if (const ml::GainRouter* g = threshold->scorer().gain()) {
      for (const auto& row : rows) res.n_in_scorer_training += g->is_reference(row.prompt) ? 1 : 0;
    }
  }

  // Knob settings: the configured one, then (with --sweep) the knob across its range. When the
  // knob compares a per-request score (a threshold route), it is set at strong-share targets
  // of the rows' scores; a discrete knob (Knob::step() > 0, e.g. an agreement's min_agree) is
  // set at each of its values; otherwise (a cascade's scorer judges answers) a uniform grid over
  // its range is refined by bisection wherever two neighbours' strong shares differ by more than
  // one grid step.
  std::vector<double> thresholds;
  bool scored = false;
  if (o.sweep && knob) {
    std::vector<double> scores;
    scored = true;
    for (std::size_t i = 0; i < rows.size() && scored; ++i) {
      const auto s =
          knob->request_score(eval_request(route->name(), rows[i].prompt, rows[i].category, i));
      if (s) scores.push_back(*s);
      scored = s.has_value();
    }
    std::set<double> uniq;
    const int n = std::max(2, o.sweep_points);
    const auto [lo, hi] = knob->range();
    const double step = knob->step();
    if (!scored && step > 0) {  // a discrete knob (a count): exactly its values, no refinement
      const int steps = static_cast<int>(std::floor((hi - lo) / step + 1e-9));
      for (int i = 0; i <= steps; ++i) uniq.insert(lo + step * i);
    } else {
      for (int i = 0; i < n; ++i) {
        uniq.insert(scored ? ml::threshold_for_share(scores, i / double(n - 1))
                           : lo + (hi - lo) * i / double(n - 1));
      }
    }
    thresholds.assign(uniq.rbegin(), uniq.rend());  // high threshold = few strong calls first
  }
  const int64_t refine_budget =
      scored || thresholds.size() < 2 || (knob && knob->step() > 0)
          ? 0
          : 2 * static_cast<int64_t>(thresholds.size());
  const int64_t passes =
      1 + static_cast<int64_t>(thresholds.size()) + refine_budget + (res.is_pair ? 2 : 0);
  ProgressBar progress(o.progress, passes * res.n_rows);
  const double configured = knob ? knob->get() : 0.0;
  res.operating = summarize(rows, run_route(*route, rows, &progress), res.weak_model,
                            res.strong_model, res.is_pair);
  res.operating.threshold = configured;
  auto run_at = [&](double t) {
    knob->set(t);
    EvalPoint p = summarize(rows, run_route(*route, rows, &progress), res.weak_model,
                            res.strong_model, res.is_pair);
    p.threshold = t;
    return p;
  };
  for (double t : thresholds) res.points.push_back(run_at(t));
  if (refine_budget > 0) {
    std::map<double, EvalPoint> by_value;
    for (auto& p : res.points) by_value.emplace(p.threshold, std::move(p));
    const double step = 1.0 / static_cast<double>(thresholds.size() - 1);
    const double min_gap = (knob->range().second - knob->range().first) * 1e-9;
    int64_t budget = refine_budget;
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
    res.points.clear();
    for (auto& [t, p] : by_value) res.points.push_back(std::move(p));
  }
  if (knob) knob->set(configured);
  res.swept = !res.points.empty();

  if (res.is_pair) {
    res.all_weak = summarize(rows, run_route(*routes_table->find(res.weak_model), rows, &progress),
                             res.weak_model, res.strong_model, true);
    res.all_strong = summarize(rows, run_route(*routes_table->find(res.strong_model), rows, &progress),
                               res.weak_model, res.strong_model, true);
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
  std::stable_sort(res.points.begin(), res.points.end(), [](const EvalPoint& a, const EvalPoint& b) {
    return a.strong_share < b.strong_share;
  });
  res.seconds = static_cast<double>(micros_between(t0, SteadyClock::now())) / 1e6;
  return res;
}

int run_eval(const EvalOptions& o) {
  // Intent data (JSON lines) is scored by the classifier path (eval/eval_classifier.h).
  if (is_jsonl_dataset(o.dataset)) return run_classifier_eval(o);
  if (is_multi_model_eval(o)) return run_eval_multi(o);  // RouterBench data (eval_multi.h)
  return run_eval_command(o, evaluate, eval_json, eval_text, eval_svg);
}

}  // namespace triage::eval
