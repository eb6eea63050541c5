#include "offline/eval_multi.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/clock.h"
#include "common/csv.h"
#include "config/config.h"
#include "engine/builtins.h"
#include "ml/fasttext_model.h"
#include "offline/split.h"
#include "offline/train_multi_router.h"
#include "offline/train_router.h"
#include "providers/provider.h"
#include "routes/multi_route.h"
#include "routes/route_table.h"

namespace triage::offline {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;

std::optional<double> parse_number(const CsvCell& cell) {
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

// The RouterBench model a replay model answers as, or "".
std::string dataset_model(const CsvTable& t, const config::ReplayOptions& r) {
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

struct Outcome {
  std::string model;  // empty on error
  double engine_cost_usd = 0.0;
  int64_t routing_us = 0;
};

std::vector<Outcome> run_route(routes::Route& route, const std::vector<Row>& rows) {
  std::vector<Outcome> out(rows.size());
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < rows.size(); ++i) {
          core::ChatRequest req;
          req.model = route.name();
          core::Message m;
          m.role = "user";
          m.text = rows[i].prompt;
          req.messages.push_back(std::move(m));
          req.meta.request_id = "eval_" + std::to_string(i);
          req.meta.category = rows[i].category;
          core::Trace trace;
          const SteadyTime start = SteadyClock::now();
          routes::ExecContext ctx{trace, start, start + std::chrono::hours(1)};
          Result<core::Completion> r = co_await route.run(req, ctx, nullptr);
          out[i].model = r ? r->model : std::string();
          out[i].engine_cost_usd = trace.cost_usd;
          out[i].routing_us = trace.routing_us;
        }
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return out;
}

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

MultiPoint summarize(const std::vector<Row>& rows, const std::vector<Outcome>& outcomes,
                     const std::vector<Baseline>& baselines, const std::vector<std::size_t>& cands) {
  MultiPoint p;
  p.n = static_cast<int64_t>(rows.size());
  std::map<std::string, int64_t> counts;
  double quality = 0.0;
  int64_t acc = 0, over = 0, under = 0, other = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Outcome& o = outcomes[i];
    p.routing_us += o.routing_us;
    if (o.model.empty()) {
      ++p.errors;
      p.cost_usd += o.engine_cost_usd;
      ++other;
      continue;
    }
    ++counts[o.model];
    auto it = std::find_if(baselines.begin(), baselines.end(),
                           [&](const Baseline& b) { return b.model == o.model; });
    if (it == baselines.end()) {
      ++p.ungraded;
      ++p.missing_cost;
      p.cost_usd += o.engine_cost_usd;
      ++other;
      continue;
    }
    const std::size_t b = static_cast<std::size_t>(it - baselines.begin());
    const Row& r = rows[i];
    quality += r.grade[b];
    if (r.cost[b]) {
      p.cost_usd += *r.cost[b];
    } else {
      ++p.missing_cost;
      p.cost_usd += o.engine_cost_usd;
    }
    const std::size_t orc = oracle_choice(r, cands);
    const bool ok = r.grade[b] >= 0.5;
    const double c = rank_cost(r, b), oc = rank_cost(r, orc);
    if (ok || r.grade[orc] < 0.5) {
      (c <= oc ? acc : over) += 1;
    } else {
      bool pricier_ok = false;
      for (std::size_t k : cands) pricier_ok = pricier_ok || (rank_cost(r, k) > c && r.grade[k] >= 0.5);
      (pricier_ok ? under : other) += 1;
    }
  }
  if (p.n > 0) {
    const double n = static_cast<double>(p.n);
    p.quality = quality / n;
    p.cpi_usd = p.cost_usd / n;
    for (const auto& [m, c] : counts) p.share[m] = static_cast<double>(c) / n;
    p.routing = {acc / n, over / n, under / n, other / n};
  }
  return p;
}

struct SplitInfo {
  std::optional<SplitRule> rule;
  std::vector<std::string> trained_sha;
};

SplitInfo predictor_split(const std::string& predictor_path) {
  SplitInfo s;
  std::ifstream in(ml::metadata_path_for(predictor_path));
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(buf.str(), ec);
  if (ec || !v.is_object()) return s;
  const auto* b = v.as_object().if_contains("multi_router");
  if (!b || !b->is_object()) return s;
  if (const auto* sp = b->as_object().if_contains("split"); sp && sp->is_object()) {
    s.rule = SplitRule::from_json(sp->as_object());
  }
  if (const auto* f = b->as_object().if_contains("data_files"); f && f->is_array()) {
    for (const auto& d : f->as_array()) {
      if (const auto* h = d.as_object().if_contains("sha256"); h && h->is_string()) {
        s.trained_sha.emplace_back(h->as_string());
      }
    }
  }
  return s;
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

bool is_multi_model_eval(const EvalOptions& o) {
  std::ifstream in(o.dataset);
  std::string header;
  if (!in || !std::getline(in, header)) return false;
  if (header.find("|score") == std::string::npos) return false;
  try {
    const config::Config cfg = config::load_config(o.config_path);
    for (const auto& r : cfg.routes) {
      if (r.name == o.route) return r.type != "threshold";
    }
  } catch (const std::exception&) {
    return false;  // let the generic path report the config error
  }
  return true;
}

MultiEvalResult evaluate_multi(const EvalOptions& o) {
  const SteadyTime t0 = SteadyClock::now();
  MultiEvalResult res;
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
  engine::register_builtins(registry);
  auto routes_table =
      routes::RouteTable::build(cfg, registry, [](const char* n) { return std::getenv(n); });
  routes::Route* route = routes_table->find(o.route);
  if (!route) throw std::runtime_error(o.config_path + ": no route or model named '" + o.route + "'");
  res.route_kind = std::string(route->kind());
  auto* predict = dynamic_cast<routes::PredictRoute*>(route);

  // Baselines: replay models that answer as a RouterBench model of this file.
  std::vector<Baseline> baselines;
  for (const auto& m : cfg.models) {
    if (m.provider != "replay") continue;
    const std::string dm = dataset_model(table, m.replay);
    if (dm.empty()) continue;
    const std::string score = m.replay.score_column.empty() ? dm + "|score" : m.replay.score_column;
    auto sc = table.column(score);
    if (!sc) continue;
    baselines.push_back({m.name, dm, *sc, table.column(dm + "|cost")});
  }
  if (baselines.empty()) {
    throw std::runtime_error(o.config_path + ": no replay model answers as a model of " +
                             o.dataset + " (response_column: a bare RouterBench model name)");
  }
  for (const auto& dm : routerbench_models(table.header)) {
    const auto col = *table.column(dm + "|score");
    int64_t n = 0;
    for (const auto& r : table.rows) n += parse_number(r[col]) ? 0 : 1;
    res.missing_cells_file[dm] = n;
  }
  std::vector<std::size_t> cands;
  if (predict) {
    for (const auto& c : predict->candidates()) {
      auto it = std::find_if(baselines.begin(), baselines.end(),
                             [&](const Baseline& b) { return b.model == c.model; });
      if (it == baselines.end()) {
        throw std::runtime_error("candidate '" + c.model + "' of route '" + o.route +
                                 "' has no grades in " + o.dataset);
      }
      cands.push_back(static_cast<std::size_t>(it - baselines.begin()));
    }
  } else {
    for (std::size_t b = 0; b < baselines.size(); ++b) cands.push_back(b);
  }
  for (std::size_t b : cands) res.candidates.push_back(baselines[b].model);

  // Split.
  std::optional<SplitRule> split;
  if (o.split != "all") {
    SplitInfo info;
    if (predict) info = predictor_split(predict->predictor().path());
    if (o.split == "test" && !info.rule) {
      throw std::runtime_error("--split test: the route has no predictor metadata with a split rule");
    }
    const bool trained_here = std::find(info.trained_sha.begin(), info.trained_sha.end(),
                                        res.dataset_sha256) != info.trained_sha.end();
    if (info.rule && (o.split == "test" || trained_here)) split = info.rule;
  }
  res.split_applied = split ? "test part of the predictor's split (" + split->key_column +
                                  " hash, seed " + std::to_string(split->seed) + ")"
                            : "none (all rows)";

  const auto prompt_col = table.column("prompt");
  if (!prompt_col) throw std::runtime_error(o.dataset + ": no 'prompt' column");
  auto cat_col = table.column("subject");
  if (!cat_col) cat_col = table.column("category");
  const std::optional<std::size_t> key_opt = split ? table.column(split->key_column) : std::nullopt;
  const bool has_key = key_opt.has_value();
  const std::size_t key_idx = key_opt.value_or(0);
  std::vector<Row> rows;
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
    Row row;
    bool complete = true;
    for (const auto& b : baselines) {
      auto g = parse_number(r[b.score_col]);
      if (!g) {
        ++res.missing_cells_part[b.dataset_model];
        complete = false;
        continue;
      }
      row.grade.push_back(*g);
      row.cost.push_back(b.cost_col ? parse_number(r[*b.cost_col]) : std::nullopt);
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
  const double n = static_cast<double>(rows.size());

  // Baselines, oracle, random: from the recorded grades and costs.
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

  // The route: as configured, then across the bar.
  const double configured = predict ? predict->bar() : 0.0;
  res.operating = summarize(rows, run_route(*route, rows), baselines, cands);
  res.operating.bar = configured;
  if (o.sweep && predict) {
    constexpr int kSteps = 100;
    for (int i = 0; i <= kSteps; ++i) {
      const double bar = static_cast<double>(i) / kSteps;
      predict->set_bar(bar);
      MultiPoint p = summarize(rows, run_route(*route, rows), baselines, cands);
      p.bar = bar;
      res.points.push_back(std::move(p));
    }
    predict->set_bar(configured);
  }
  res.swept = !res.points.empty();
  std::stable_sort(res.points.begin(), res.points.end(),
                   [](const MultiPoint& a, const MultiPoint& b) { return a.cost_usd < b.cost_usd; });

  std::vector<std::pair<double, double>> cq{{res.operating.cost_usd, res.operating.quality}};
  for (const auto& p : res.points) cq.emplace_back(p.cost_usd, p.quality);
  res.cost_ratio_at_best_quality = cost_ratio_at_quality(cq, res.best_quality - 0.01, res.best_cost_usd);
  for (const auto& [cost, quality] : cq) {
    if (cost <= 0.4 * res.best_cost_usd &&
        (!res.quality_at_40pct_cost || quality > *res.quality_at_40pct_cost)) {
      res.quality_at_40pct_cost = quality;
    }
  }
  res.seconds = static_cast<double>(micros_between(t0, SteadyClock::now())) / 1e6;
  return res;
}

namespace {

json::object point_json(const MultiPoint& p) {
  json::object share;
  for (const auto& [m, s] : p.share) share[m] = s;
  return json::object{{"bar", p.bar},
                      {"n", p.n},
                      {"quality", p.quality},
                      {"cost_usd", p.cost_usd},
                      {"cpi_usd", p.cpi_usd},
                      {"share", std::move(share)},
                      {"routing", json::object{{"accuracy", p.routing.accuracy},
                                               {"over_routing", p.routing.over},
                                               {"under_routing", p.routing.under},
                                               {"other_miss", p.routing.other}}},
                      {"errors", p.errors},
                      {"ungraded", p.ungraded},
                      {"missing_cost", p.missing_cost},
                      {"routing_us", p.routing_us}};
}

json::object baseline_json(const ModelBaseline& m) {
  return json::object{{"model", m.model},
                      {"dataset_model", m.dataset_model},
                      {"quality", m.quality},
                      {"cost_usd", m.cost_usd},
                      {"cpi_usd", m.cpi_usd}};
}

json::value opt(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

}  // namespace

json::object eval_multi_json(const MultiEvalResult& r) {
  json::array points, models, candidates;
  for (const auto& p : r.points) points.push_back(point_json(p));
  for (const auto& m : r.models) models.push_back(baseline_json(m));
  for (const auto& c : r.candidates) candidates.emplace_back(c);
  json::object mf, mp;
  for (const auto& [m, c] : r.missing_cells_file) mf[m] = c;
  for (const auto& [m, c] : r.missing_cells_part) mp[m] = c;
  return json::object{
      {"kind", "multi_model"},
      {"config", r.config_path},
      {"route", r.route},
      {"route_kind", r.route_kind},
      {"dataset", r.dataset},
      {"dataset_sha256", r.dataset_sha256},
      {"split", r.split_applied},
      {"n_rows_file", r.n_rows_file},
      {"n_rows", r.n_rows},
      {"n_excluded_train", r.n_excluded_train},
      {"n_missing_prompt", r.n_missing_prompt},
      {"n_excluded_missing", r.n_excluded_missing},
      {"missing_cells_file", std::move(mf)},
      {"missing_cells_evaluated_part", std::move(mp)},
      {"missing_rule", "rows with an empty grade for any baseline model are excluded from every "
                       "policy and baseline (complete cases) and counted; never read as 0"},
      {"cost_source", "recorded <model>|cost of the model that answered (real USD of the "
                      "original RouterBench call), not the engine's token estimate"},
      {"candidates", std::move(candidates)},
      {"best_model", r.best_model},
      {"best_quality", r.best_quality},
      {"best_cost_usd", r.best_cost_usd},
      {"cost_ratio_at_best_quality", opt(r.cost_ratio_at_best_quality)},
      {"quality_at_40pct_cost", opt(r.quality_at_40pct_cost)},
      {"operating", point_json(r.operating)},
      {"swept", r.swept},
      {"points", std::move(points)},
      {"models", std::move(models)},
      {"oracle", baseline_json(r.oracle)},
      {"random", baseline_json(r.random)},
      {"seconds", r.seconds}};
}

std::string eval_multi_text(const MultiEvalResult& r) {
  std::string out;
  out += fmt::format("route {} ({}) on {}: {} rows evaluated of {} ({}; {} excluded as train, "
                     "{} for a missing grade, {} without prompt)\n",
                     r.route, r.route_kind, r.dataset, r.n_rows, r.n_rows_file, r.split_applied,
                     r.n_excluded_train, r.n_excluded_missing, r.n_missing_prompt);
  int64_t missing = 0;
  for (const auto& [m, c] : r.missing_cells_file) missing += c;
  out += fmt::format("missing grade cells in the file: {} (counted, never read as 0); cost = "
                     "recorded <model>|cost of the answering model\n", missing);
  out += fmt::format("\n{:<36} {:>8} {:>12} {:>12}\n", "baseline", "quality", "cost $", "cost/best");
  auto line = [&](const ModelBaseline& m) {
    out += fmt::format("{:<36} {:>8.4f} {:>12.5f} {:>11.1f}%\n", m.model, m.quality, m.cost_usd,
                       100 * m.cost_usd / std::max(1e-12, r.best_cost_usd));
  };
  for (const auto& m : r.models) line(m);
  line(r.oracle);
  line(r.random);
  out += fmt::format("\n{:>6} {:>8} {:>12} {:>10} {:>8} {:>8} {:>8}  top models\n", "bar", "quality",
                     "cost $", "cost/best", "acc", "over", "under");
  auto pline = [&](const MultiPoint& p, const char* tag) {
    std::vector<std::pair<double, std::string>> s;
    for (const auto& [m, v] : p.share) s.emplace_back(v, m);
    std::sort(s.rbegin(), s.rend());
    std::string top;
    for (std::size_t i = 0; i < s.size() && i < 3; ++i) {
      top += fmt::format("{}{} {:.0f}%", i ? ", " : "", s[i].second, 100 * s[i].first);
    }
    out += fmt::format("{:>6.2f} {:>8.4f} {:>12.5f} {:>9.1f}% {:>8.3f} {:>8.3f} {:>8.3f}  {}{}\n",
                       p.bar, p.quality, p.cost_usd, 100 * p.cost_usd / std::max(1e-12, r.best_cost_usd),
                       p.routing.accuracy, p.routing.over, p.routing.under, top, tag);
  };
  pline(r.operating, "  (configured)");
  for (const auto& p : r.points) pline(p, "");
  out += fmt::format("\nbest single model: {} quality {:.4f}; ", r.best_model, r.best_quality);
  out += r.cost_ratio_at_best_quality
             ? fmt::format("route reaches {:.4f} at {:.1f}% of its cost\n", r.best_quality - 0.01,
                           100 * *r.cost_ratio_at_best_quality)
             : fmt::format("route never reaches {:.4f}\n", r.best_quality - 0.01);
  if (r.quality_at_40pct_cost) {
    out += fmt::format("best route quality at <= 40% of its cost: {:.4f}\n", *r.quality_at_40pct_cost);
  }
  return out;
}

std::string eval_multi_svg(const MultiEvalResult& r) {
  constexpr double kW = 760, kH = 500, kL = 70, kR = 230, kT = 40, kB = 60;
  double max_cost = r.best_cost_usd;
  double min_q = 1.0, max_q = 0.0;
  auto seen = [&](double c, double q) {
    max_cost = std::max(max_cost, c);
    min_q = std::min(min_q, q);
    max_q = std::max(max_q, q);
  };
  for (const auto& m : r.models) seen(m.cost_usd, m.quality);
  seen(r.oracle.cost_usd, r.oracle.quality);
  seen(r.random.cost_usd, r.random.quality);
  seen(r.operating.cost_usd, r.operating.quality);
  for (const auto& p : r.points) seen(p.cost_usd, p.quality);
  min_q = std::max(0.0, std::floor(min_q * 20 - 1) / 20);
  max_q = std::min(1.0, std::ceil(max_q * 20 + 0.5) / 20);
  max_cost = max_cost > 0 ? max_cost * 1.05 : 1.0;
  auto x = [&](double c) { return kL + (kW - kL - kR) * c / max_cost; };
  auto y = [&](double q) { return kH - kB - (kH - kT - kB) * (q - min_q) / std::max(1e-9, max_q - min_q); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"22\" font-size=\"14\">{}: route '{}' on {} rows (cost = recorded $)</text>\n",
      kW, kH, kL, fs::path(r.dataset).filename().string(), r.route, r.n_rows);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n"
                   "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"black\"/>\n",
                   kL, kH - kB, kW - kR, kT);
  for (int i = 0; i <= 5; ++i) {
    const double c = max_cost * i / 5, q = min_q + (max_q - min_q) * i / 5;
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.3f}</text>\n", x(c), kH - kB + 15, c);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.2f}</text>\n", kL - 5, y(q) + 4, q);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">total cost (USD)</text>\n",
                   (kL + kW - kR) / 2, kH - 20);
  s += fmt::format("<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" text-anchor=\"middle\">quality</text>\n",
                   (kT + kH - kB) / 2, (kT + kH - kB) / 2);
  // Target band: best - 0.01, and 40% of the best model's cost.
  s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
                   kL, y(r.best_quality - 0.01), kW - kR, y(r.best_quality - 0.01));
  s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
                   x(0.4 * r.best_cost_usd), kT, x(0.4 * r.best_cost_usd), kH - kB);
  if (!r.points.empty()) {
    std::string path;
    for (const auto& p : r.points) path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", x(p.cost_usd), y(p.quality));
    s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"" + path + "\"/>\n";
  }
  s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"#1f77b4\"/>\n", x(r.operating.cost_usd),
                   y(r.operating.quality));
  for (const auto& m : r.models) {
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"6\" height=\"6\" fill=\"#d62728\"/>"
                     "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\">{}</text>\n",
                     x(m.cost_usd) - 3, y(m.quality) - 3, x(m.cost_usd) + 5, y(m.quality) + 3,
                     m.dataset_model);
  }
  s += fmt::format("<path d=\"M{0:.1f},{1:.1f} l4,8 l-8,0 z\" fill=\"#2ca02c\"/>\n", x(r.oracle.cost_usd),
                   y(r.oracle.quality) - 5);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\">X</text>\n", x(r.random.cost_usd) - 3,
                   y(r.random.quality) + 3);
  const double lx = kW - kR + 15;
  s += fmt::format("<polyline points=\"{0},{1} {2},{1}\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
                   "<text x=\"{3}\" y=\"{4}\">route '{5}' (bar sweep; dot = configured)</text>\n",
                   lx, kT + 10, lx + 20, lx + 25, kT + 14, r.route);
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"6\" height=\"6\" fill=\"#d62728\"/><text x=\"{}\" y=\"{}\">single models</text>\n",
                   lx + 7, kT + 25, lx + 25, kT + 32);
  s += fmt::format("<path d=\"M{},{} l4,8 l-8,0 z\" fill=\"#2ca02c\"/><text x=\"{}\" y=\"{}\">oracle</text>\n",
                   lx + 10, kT + 41, lx + 25, kT + 50);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"9\">X</text><text x=\"{}\" y=\"{}\">random</text>\n",
                   lx + 7, kT + 68, lx + 25, kT + 68);
  s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#666\">dashed: best - 0.01, 40% of best cost</text>\n",
                   lx, kT + 86);
  s += "</svg>\n";
  return s;
}

int run_eval_multi(const EvalOptions& o) {
  try {
    if (o.format != "text" && o.format != "json") {
      throw std::runtime_error("--format must be text or json, got '" + o.format + "'");
    }
    MultiEvalResult r = evaluate_multi(o);
    if (o.format == "json") {
      std::cout << json::serialize(eval_multi_json(r)) << "\n";
    } else {
      std::cout << eval_multi_text(r);
    }
    if (!o.plot_path.empty()) {
      std::ofstream out(o.plot_path, std::ios::trunc);
      out << eval_multi_svg(r);
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
