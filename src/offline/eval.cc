#include "offline/eval.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "common/clock.h"
#include "common/csv.h"
#include "config/config.h"
#include "core/tokens.h"
#include "ml/fasttext_model.h"
#include "offline/eval_classifier.h"
#include "offline/eval_multi.h"
#include "offline/split.h"
#include "offline/train_router.h"
#include "providers/provider.h"
#include "routes/knob.h"
#include "routes/route_table.h"
#include "engine/builtins.h"
#include "routes/threshold_route.h"

namespace triage::offline {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

constexpr std::string_view kPlaceholder =
    "[synthesized placeholder] the dataset holds no response text for this prompt; "
    "evaluation grades it from the recorded grade";

// Eval-only stand-in for a replay model whose dataset has grades but no response text.
class GradeOnlyClient final : public providers::ModelClient {
 public:
  std::string_view name() const override { return "replay-grades/1"; }
  asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req, SteadyTime,
                                                     providers::CallStats& stats) override {
    stats = {};
    co_return make(req);
  }
  asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime,
                                                   providers::CallStats& stats,
                                                   core::StreamSink& sink) override {
    stats = {};
    core::Delta d;
    d.role = "assistant";
    d.content = kPlaceholder;
    if (!co_await sink.write(d)) co_return make_error(ErrorCode::kCancelled, "client went away");
    co_return make(req);
  }

 private:
  static core::Completion make(const core::ChatRequest& req) {
    core::Completion c;
    c.content = std::string(kPlaceholder);
    c.synthesized = true;
    for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
    c.usage.completion_tokens = core::estimate_tokens(c.content);
    c.usage.estimated = true;
    return c;
  }
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The response column a replay model will use in `t`, as ReplayClient resolves it, or "".
std::string resolved_response_column(const CsvTable& t, const config::ReplayOptions& r) {
  const std::string& c = r.response_column;
  if (t.column(c)) return c;
  if ((c == "weak" || c == "strong") && t.column(c + "_response")) return c + "_response";
  if (c.find('|') == std::string::npos && t.column(c + "|response")) return c + "|response";
  return "";
}

// The grade column of a replay model in `t`, or "".
std::string grade_column(const CsvTable& t, const config::ReplayOptions& r) {
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

std::optional<double> parse_grade(const CsvCell& cell) {
  if (!cell) return std::nullopt;
  std::string_view s = *cell;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s == "True" || s == "true") return 1.0;
  if (s == "False" || s == "false") return 0.0;
  double v = 0.0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

struct EvalRow {
  std::string prompt;
  std::string category;
  std::map<std::string, std::optional<double>, std::less<>> grades;  // model -> grade
};

struct Outcome {
  std::string model;  // empty on error
  double cost_usd = 0.0;
  int64_t routing_us = 0;
};

class Progress {
 public:
  Progress(bool enabled, int64_t total) : on_(enabled && ::isatty(2) == 1), total_(total) {}
  void tick() {
    if (!on_) return;
    ++done_;
    const int pct = static_cast<int>(100 * done_ / std::max<int64_t>(1, total_));
    if (pct == last_) return;
    last_ = pct;
    const int bar = pct * 40 / 100;
    std::fprintf(stderr, "\r[%.*s%*s] %3d%% (%lld/%lld)", bar,
                 "========================================", 40 - bar, "", pct,
                 static_cast<long long>(done_), static_cast<long long>(total_));
    if (done_ == total_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool on_;
  int64_t total_;
  int64_t done_ = 0;
  int last_ = -1;
};

// The request a dataset row becomes: one user message, the row's category as metadata.
core::ChatRequest make_request(const EvalRow& row, const std::string& model, std::size_t i) {
  core::ChatRequest req;
  req.model = model;
  core::Message m;
  m.role = "user";
  m.text = row.prompt;
  req.messages.push_back(std::move(m));
  req.meta.request_id = "eval_" + std::to_string(i);
  req.meta.category = row.category;
  return req;
}

// Runs `route` over every row on a private io_context (sequentially: the decision and the
// replay are in-process, and sequential runs keep cost accounting exact).
std::vector<Outcome> run_route(routes::Route& route, const std::vector<EvalRow>& rows,
                               Progress& progress) {
  std::vector<Outcome> out(rows.size());
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < rows.size(); ++i) {
          const core::ChatRequest req = make_request(rows[i], route.name(), i);
          core::Trace trace;
          const SteadyTime start = SteadyClock::now();
          routes::ExecContext ctx{trace, start, start + std::chrono::hours(1)};
          Result<core::Completion> r = co_await route.run(req, ctx, nullptr);
          out[i].model = r ? r->model : std::string();
          out[i].cost_usd = trace.cost_usd;
          out[i].routing_us = trace.routing_us;
          progress.tick();
        }
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return out;
}

EvalPoint summarize(const std::vector<EvalRow>& rows, const std::vector<Outcome>& outcomes,
                    const std::string& weak, const std::string& strong, bool pair) {
  EvalPoint p;
  p.n = static_cast<int64_t>(rows.size());
  std::map<std::string, int64_t> counts;
  double quality = 0.0;
  std::vector<PairRow> pair_rows;
  int64_t strong_n = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Outcome& o = outcomes[i];
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
  if (pair) p.routing = routing_rates(pair_rows);
  return p;
}

}  // namespace

EvalResult evaluate(const EvalOptions& o) {
  const SteadyTime t0 = SteadyClock::now();
  EvalResult res;
  res.config_path = o.config_path;
  res.route = o.route;
  res.dataset = o.dataset;
  if (!fs::is_regular_file(o.dataset)) throw std::runtime_error("dataset " + o.dataset + " does not exist");
  res.dataset_sha256 = file_sha256(o.dataset);
  const CsvTable table = read_csv_file(o.dataset);
  res.n_rows_file = static_cast<int64_t>(table.rows.size());

  config::Config cfg = config::load_config(o.config_path);
  const std::string dataset_abs = fs::absolute(o.dataset).string();
  for (auto& m : cfg.models) {
    if (m.provider == "replay") m.replay.dataset = dataset_abs;
  }
  providers::ProviderRegistry registry;
  providers::register_builtin_providers(registry);
  const providers::ProviderFactory replay = *registry.find("replay");
  registry.add("replay", [replay, &table](const config::Config& c, const config::Model& m,
                                          const providers::EnvLookup& env)
                             -> std::unique_ptr<providers::ModelClient> {
    if (resolved_response_column(table, m.replay).empty() && m.replay.synthesize_missing) {
      return std::make_unique<GradeOnlyClient>();
    }
    return replay(c, m, env);
  });
  engine::register_route_kinds_and_checks();
  auto routes_table =
      routes::RouteTable::build(cfg, registry, [](const char* n) { return std::getenv(n); });
  routes::Route* route = routes_table->find(o.route);
  if (!route) throw std::runtime_error(o.config_path + ": no route or model named '" + o.route + "'");
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
    const std::string g = grade_column(table, m.replay);
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

  // Split.
  std::string prompt_name = "prompt";
  for (const auto& m : cfg.models) {
    if (m.provider == "replay") {
      prompt_name = m.replay.prompt_column;
      break;
    }
  }
  const auto prompt_col = table.column(prompt_name);
  if (!prompt_col) {
    throw std::runtime_error(o.dataset + ": no '" + prompt_name + "' column (columns: " +
                             table.columns_list() + ")");
  }
  auto cat_col = table.column("subject");
  if (!cat_col) cat_col = table.column("category");
  std::optional<SplitRule> split;
  if (o.split != "all") {
    std::optional<SplitRule> rule;
    std::string trained_sha;
    if (knob && !knob->model_path().empty()) {
      std::ifstream in(ml::metadata_path_for(std::string(knob->model_path())));
      std::stringstream buf;
      buf << in.rdbuf();
      boost::system::error_code ec;
      auto v = boost::json::parse(buf.str(), ec);
      if (!ec && v.is_object()) {
        const auto* r = v.as_object().if_contains("router");
        if (!r) r = v.as_object().if_contains("scorer");  // a cascade's answer scorer
        if (r && r->is_object()) {
          if (const auto* s = r->as_object().if_contains("split"); s && s->is_object()) {
            rule = SplitRule::from_json(s->as_object());
          }
          if (const auto* h = r->as_object().if_contains("data_file_sha256"); h && h->is_string()) {
            trained_sha = std::string(h->as_string());
          }
        }
      }
    }
    if (o.split == "test" && !rule) {
      throw std::runtime_error("--split test: the route has no scorer metadata with a split rule");
    }
    if (rule && (o.split == "test" || trained_sha == res.dataset_sha256)) split = rule;
  }
  res.split_applied = split ? "test part of the scorer's split (" + split->key_column + " hash, seed " +
                                  std::to_string(split->seed) + ")"
                            : "none (all rows)";
  std::size_t key_idx = 0;
  bool has_key = false;
  if (split) {
    if (auto k = table.column(split->key_column)) {
      key_idx = *k;
      has_key = true;
    }
  }
  const std::set<std::string> excluded(o.exclude_categories.begin(), o.exclude_categories.end());
  std::vector<EvalRow> rows;
  for (const auto& r : table.rows) {
    if (!r[*prompt_col]) {
      ++res.n_missing_prompt;
      continue;
    }
    if (split) {
      const std::string key = has_key && r[key_idx] ? *r[key_idx] : *r[*prompt_col];
      if (split->part(key) != SplitPart::kTest) {
        ++res.n_excluded_train;
        continue;
      }
    }
    EvalRow row;
    row.prompt = *r[*prompt_col];
    if (cat_col && r[*cat_col]) row.category = *r[*cat_col];
    if (excluded.count(row.category)) {
      ++res.n_excluded_category;
      continue;
    }
    for (const auto& m : cfg.models) {
      auto it = grade_idx.find(m.name);
      row.grades[m.name] = it == grade_idx.end() ? std::nullopt : parse_grade(r[it->second]);
    }
    rows.push_back(std::move(row));
  }
  res.n_rows = static_cast<int64_t>(rows.size());
  if (rows.empty()) throw std::runtime_error(o.dataset + ": no rows to evaluate");

  // Knob settings: the configured one, then (with --sweep) the knob across its range. When the
  // knob compares a per-request score (a threshold route), it is set at strong-share targets
  // of the rows' scores; otherwise (a cascade's scorer judges answers) a uniform grid over its
  // range is refined by bisection wherever two neighbours' strong shares differ by more than
  // one grid step.
  std::vector<double> thresholds;
  bool scored = false;
  if (o.sweep && knob) {
    std::vector<double> scores;
    scored = true;
    for (std::size_t i = 0; i < rows.size() && scored; ++i) {
      const auto s = knob->request_score(make_request(rows[i], route->name(), i));
      if (s) scores.push_back(*s);
      scored = s.has_value();
    }
    std::set<double> uniq;
    const int n = std::max(2, o.sweep_points);
    const auto [lo, hi] = knob->range();
    for (int i = 0; i < n; ++i) {
      uniq.insert(scored ? routes::threshold_for_share(scores, i / double(n - 1))
                         : lo + (hi - lo) * i / double(n - 1));
    }
    thresholds.assign(uniq.rbegin(), uniq.rend());  // high threshold = few strong calls first
  }
  const int64_t refine_budget =
      scored || thresholds.size() < 2 ? 0 : 2 * static_cast<int64_t>(thresholds.size());
  const int64_t passes =
      1 + static_cast<int64_t>(thresholds.size()) + refine_budget + (res.is_pair ? 2 : 0);
  Progress progress(o.progress, passes * res.n_rows);
  const double configured = knob ? knob->get() : 0.0;
  res.operating = summarize(rows, run_route(*route, rows, progress), res.weak_model,
                            res.strong_model, res.is_pair);
  res.operating.threshold = configured;
  auto run_at = [&](double t) {
    knob->set(t);
    EvalPoint p = summarize(rows, run_route(*route, rows, progress), res.weak_model,
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
    res.all_weak = summarize(rows, run_route(*routes_table->find(res.weak_model), rows, progress),
                             res.weak_model, res.strong_model, true);
    res.all_strong = summarize(rows, run_route(*routes_table->find(res.strong_model), rows, progress),
                               res.weak_model, res.strong_model, true);
    const double wq = res.all_weak->quality, sq = res.all_strong->quality;
    auto fill = [&](EvalPoint& p) { p.pgr = pgr(p.quality, wq, sq); };
    fill(res.operating);
    for (auto& p : res.points) fill(p);
    std::vector<PairRow> pr;
    for (const auto& row : rows) {
      const auto& w = row.grades.at(res.weak_model);
      const auto& s = row.grades.at(res.strong_model);
      if (w && s) pr.push_back({*w, *s, false});
    }
    res.n_pair_rows = static_cast<int64_t>(pr.size());
    res.oracle = oracle_curve(pr);
    std::vector<PgrPoint> oracle_pgr;
    for (const auto& q : res.oracle) {
      oracle_pgr.push_back({q.strong_share, pgr(q.quality, wq, sq)});
      if (q.quality > res.oracle_quality) {
        res.oracle_quality = q.quality;
        res.oracle_strong_share = q.strong_share;
      }
    }
    res.oracle_apgr = apgr(oracle_pgr);
    if (res.swept) {
      std::vector<PgrPoint> curve;
      for (const auto& p : res.points) curve.push_back({p.strong_share, p.pgr});
      res.apgr = apgr(curve);
      res.cpt50 = cpt(curve, 0.5);
      res.cpt80 = cpt(curve, 0.8);
    }
  }
  std::stable_sort(res.points.begin(), res.points.end(), [](const EvalPoint& a, const EvalPoint& b) {
    return a.strong_share < b.strong_share;
  });
  res.seconds = static_cast<double>(micros_between(t0, SteadyClock::now())) / 1e6;
  return res;
}

int run_eval(const EvalOptions& o) {
  // Intent data (JSON lines) is scored by the classifier path (offline/eval_classifier.h).
  if (is_jsonl_dataset(o.dataset)) return run_classifier_eval(o);
  if (is_multi_model_eval(o)) return run_eval_multi(o);  // RouterBench data (eval_multi.h)
  try {
    if (o.format != "text" && o.format != "json") {
      throw std::runtime_error("--format must be text or json, got '" + o.format + "'");
    }
    EvalResult r = evaluate(o);
    if (o.format == "json") {
      std::cout << boost::json::serialize(eval_json(r)) << "\n";
    } else {
      std::cout << eval_text(r);
    }
    if (!o.plot_path.empty()) {
      std::ofstream out(o.plot_path, std::ios::trunc);
      out << eval_svg(r);
      if (!out) throw std::runtime_error("cannot write the plot " + o.plot_path);
      if (o.format != "json") std::cout << "plot written to " << o.plot_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage eval: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::offline
