#include "routes/multi_route.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "config/yaml_util.h"
#include "core/tokens.h"
#include "ml/model_metadata.h"
#include "routes/eligibility.h"
#include "routes/kind_util.h"
#include "routes/route_table.h"

namespace triage::routes {

namespace {

std::string fmt3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string fmt_usd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

PredictRoute::PredictRoute(std::string name, std::shared_ptr<const ml::ScorePredictor> predictor,
                           std::vector<Candidate> candidates, double bar,
                           int64_t expected_output_tokens)
    : name_(std::move(name)),
      predictor_(std::move(predictor)),
      candidates_(std::move(candidates)),
      bar_(bar),
      expected_output_tokens_(expected_output_tokens) {}

std::size_t PredictRoute::decide(const std::vector<Option>& options, double bar) {
  std::optional<std::size_t> cheapest;
  std::size_t best = 0;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const Option& o = options[i];
    if (o.score >= bar) {
      if (!cheapest || o.cost_usd < options[*cheapest].cost_usd ||
          (o.cost_usd == options[*cheapest].cost_usd && o.score > options[*cheapest].score)) {
        cheapest = i;
      }
    }
    const Option& b = options[best];
    if (o.score > b.score || (o.score == b.score && o.cost_usd < b.cost_usd)) best = i;
  }
  return cheapest ? *cheapest : best;
}

std::vector<PredictRoute::Option> PredictRoute::options(const core::ChatRequest& req) const {
  const std::vector<double> scores = predictor_->predict(req.last_user_text());
  int64_t prompt_tokens = 0;
  for (const auto& m : req.messages) prompt_tokens += core::estimate_tokens(m.text);
  std::vector<Option> out;
  out.reserve(candidates_.size());
  for (const auto& c : candidates_) {
    Option o;
    o.score = scores[c.predictor_index];
    o.cost_usd = c.cost_usd ? *c.cost_usd
                            : config::cost_usd(c.config->prices, prompt_tokens,
                                               expected_output_tokens_);
    out.push_back(o);
  }
  return out;
}

boost::asio::awaitable<Result<core::Completion>> PredictRoute::run(const core::ChatRequest& req,
                                                                   ExecContext& ctx,
                                                                   core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  const std::vector<Option> opts = options(req);
  const double bar = this->bar();
  std::size_t pick = decide(opts, bar);
  // A candidate whose circuit is open or that cannot take the request is skipped: the
  // decision is made again over the ones that can be called (none: the first choice, which
  // fails fast with 503 or 400).
  std::string skipped;
  if (std::optional<Refusal> refused = candidates_[pick].route->refusal(req)) {
    std::vector<Option> callable;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < opts.size(); ++i) {
      if (candidates_[i].route->refusal(req)) continue;
      callable.push_back(opts[i]);
      index.push_back(i);
    }
    if (!callable.empty()) {
      skipped = refused->ineligible
                    ? "skipped " + candidates_[pick].model + ": " + refused->text()
                    : "circuit open: skipped " + candidates_[pick].model;
      record_refusal(ctx, *refused);
      pick = index[decide(callable, bar)];
    }
  }
  const SteadyTime t1 = SteadyClock::now();

  const Option& chosen = opts[pick];
  std::string detail = "-> " + candidates_[pick].model + " (p=" + fmt3(chosen.score) +
                       (chosen.score >= bar ? " >= " : " < ") + "bar " + fmt3(bar) + ", est $" +
                       fmt_usd(chosen.cost_usd) + (chosen.score >= bar ? "" : ", none cleared") +
                       "; p:";
  for (std::size_t i = 0; i < opts.size(); ++i) {
    detail += " " + candidates_[i].model + "=" + fmt3(opts[i].score);
  }
  detail += ", predict/1)";
  if (!skipped.empty()) detail += " (" + skipped + ")";
  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = std::move(detail);
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, t1);
  ctx.trace.routing_us += span.duration_us;
  ctx.trace.spans.push_back(std::move(span));

  Route& next = *candidates_[pick].route;
  co_return co_await next.run(req, ctx, sink);
}

namespace {

std::unique_ptr<Route> build_predict_route(const config::RouteSpec& spec, size_t /*index*/,
                                           RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "predictor", "candidates", "bar", "expected_output_tokens",
          "cost_estimates"});
  config::Field predictor_field = r["predictor"];
  const std::string predictor_path = cfg.resolve(predictor_field.as<std::string>());
  std::shared_ptr<const ml::ScorePredictor> predictor;
  try {
    predictor = ml::ScorePredictor::load(predictor_path);
  } catch (const ml::ModelError& e) {
    predictor_field.fail(e.what());
  }
  std::vector<std::string> known;
  for (const auto& m : predictor->models()) known.push_back(m.name);

  config::Field costs_field = r["cost_estimates"];
  std::map<std::string, double> costs;
  config::MapReader costs_map = costs_field.map();
  std::vector<std::pair<std::string, config::Field>> cost_entries = costs_map.entries();

  config::Field cands_field = r["candidates"];
  if (!cands_field.present()) cands_field.fail("missing required field 'candidates'");
  std::vector<PredictRoute::Candidate> candidates;
  for (const config::Field& item : cands_field.items()) {
    PredictRoute::Candidate c;
    c.model = item.as<std::string>();
    for (const auto& prev : candidates) {
      if (prev.model == c.model) item.fail("candidate '" + c.model + "' is listed twice");
    }
    c.config = cfg.find_model(c.model);
    if (!c.config) {
      std::vector<std::string> catalog;
      for (const auto& m : cfg.models) catalog.push_back(m.name);
      item.fail("unknown catalog model '" + c.model + "'" + config::suggest(c.model, catalog) +
                " (candidates of a predict route are catalog models: their prices rank them)");
    }
    auto idx = predictor->index_of(c.model);
    if (!idx) {
      item.fail("the predictor " + predictor_path + " has no model '" + c.model + "'" +
                config::suggest(c.model, known));
    }
    c.predictor_index = *idx;
    c.route = &resolve_child(table, item);
    candidates.push_back(std::move(c));
  }
  if (candidates.empty()) cands_field.fail("a predict route needs at least one candidate");
  for (auto& [model, field] : cost_entries) {
    auto it = std::find_if(candidates.begin(), candidates.end(),
                           [&](const auto& c) { return c.model == model; });
    if (it == candidates.end()) field.fail("'" + model + "' is not a candidate of this route");
    it->cost_usd = field.as<double>(config::Range::at_least(0));
  }
  const double bar = r["bar"].get<double>(0.8, config::Range::between(0, 1));
  const int64_t out_tokens =
      r["expected_output_tokens"].get<int64_t>(256, config::Range::at_least(0));
  return std::make_unique<PredictRoute>(spec.name, std::move(predictor), std::move(candidates),
                                        bar, out_tokens);
}

}  // namespace

EvalFamily PredictRoute::eval_family() {
  CandidatesEval family;
  for (const Candidate& c : candidates_) family.candidates.push_back(c.model);
  family.bar = &bar_knob_;
  return family;
}

void register_predict_kind() { RouteTable::register_kind("predict", build_predict_route); }

}  // namespace triage::routes
