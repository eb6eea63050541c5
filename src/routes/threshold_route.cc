#include "routes/threshold_route.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/csv.h"
#include "config/yaml_util.h"
#include "routes/eligibility.h"
#include "routes/route_table.h"

namespace triage::routes {

namespace {

std::string fmt_score(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", p);
  return buf;
}

}  // namespace

ThresholdRoute::ThresholdRoute(std::string name, std::shared_ptr<const ml::ThresholdScorer> scorer,
                               Route& weak, Route& strong, double threshold)
    : name_(std::move(name)),
      scorer_(std::move(scorer)),
      weak_(weak),
      strong_(strong),
      threshold_(threshold) {}

double ThresholdRoute::score(const core::ChatRequest& req) const {
  return scorer_->score(req.last_user_text(), req.meta.category);
}

boost::asio::awaitable<Result<core::Completion>> ThresholdRoute::run(const core::ChatRequest& req,
                                                                     ExecContext& ctx,
                                                                     core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  const double p = score(req);
  const double t = threshold();
  const Choice choice = decide(p, t);
  // The chosen model cannot be called for this request (circuit open, or it cannot take it):
  // the other one, when that one can.
  Route* next = choice == Choice::kStrong ? &strong_ : &weak_;
  Route* other = choice == Choice::kStrong ? &weak_ : &strong_;
  std::string skipped;
  if (std::optional<Refusal> refused = next->refusal(req); refused && !other->refusal(req)) {
    skipped = " (skipped " + next->name() + ": " + refused->text() + ")";
    record_refusal(ctx, *refused);
    next = other;
  }
  const SteadyTime t1 = SteadyClock::now();

  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = "p=" + fmt_score(p) + " -> " + (choice == Choice::kStrong ? "strong" : "weak") +
                " (t=" + fmt_score(t) + ", threshold/1)" + skipped;
  span.router_version = scorer_->version();
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, t1);
  ctx.trace.routing_us += span.duration_us;
  ctx.trace.spans.push_back(std::move(span));

  co_return co_await next->run(req, ctx, sink);
}

namespace {

std::vector<double> calibration_scores(const ml::ThresholdScorer& scorer, const std::string& path,
                                       const config::Field& where) {
  CsvTable table;
  try {
    table = read_csv_file(path);
  } catch (const CsvError& e) {
    where.fail(std::string("cannot read the calibration file: ") + e.what());
  }
  auto prompt = table.column("prompt");
  if (!prompt) {
    where.fail("calibration file " + path + " has no 'prompt' column (columns: " +
               table.columns_list() + ")");
  }
  auto category = table.column("subject");
  if (!category) category = table.column("category");
  std::vector<double> scores;
  for (const auto& row : table.rows) {
    if (!row[*prompt]) continue;  // no prompt: nothing to score (counted out, never as 0)
    std::string cat = category && row[*category] ? *row[*category] : std::string();
    scores.push_back(scorer.score(*row[*prompt], cat));
  }
  if (scores.empty()) where.fail("calibration file " + path + " has no prompts");
  return scores;
}

std::unique_ptr<Route> build_threshold_route(const config::RouteSpec& spec, size_t /*index*/,
                                             RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "scorer", "weak", "strong", "threshold", "strong_share",
          "calibration"});
  config::Field scorer_field = r["scorer"];
  const std::string scorer_path = cfg.resolve(scorer_field.as<std::string>());
  std::shared_ptr<const ml::ThresholdScorer> scorer;
  try {
    scorer = ml::ThresholdScorer::load(scorer_path);
  } catch (const ml::ModelError& e) {
    scorer_field.fail(e.what());
  }
  config::Field weak_field = r["weak"];
  config::Field strong_field = r["strong"];
  const std::string weak_name = weak_field.as<std::string>();
  const std::string strong_name = strong_field.as<std::string>();
  auto at = [&](const config::Field& f) {
    return f.file() + ":" + std::to_string(f.line()) + ": " + f.path();
  };
  Route& weak = table.child(weak_name, at(weak_field));
  Route& strong = table.child(strong_name, at(strong_field));

  config::Field threshold_field = r["threshold"];
  config::Field share_field = r["strong_share"];
  if (threshold_field.present() && share_field.present()) {
    share_field.fail("set either 'threshold' or 'strong_share', not both");
  }
  // A gain scorer's scores are differences of probabilities, in [-1, 1].
  const double lowest = scorer->gain() ? -1.0 : 0.0;
  double threshold = threshold_field.get<double>(0.5, config::Range::between(lowest, 1));
  config::Field calib_field = r["calibration"];
  if (share_field.present()) {
    const double share = share_field.as<double>(config::Range::between(0, 1));
    std::vector<double> scores;
    if (calib_field.present()) {
      scores = calibration_scores(*scorer, cfg.resolve(calib_field.as<std::string>()),
                                  calib_field);
    } else {
      scores = scorer->validation_scores();
      if (scores.empty()) {
        share_field.fail("the scorer " + scorer_path + " stores no validation scores; give a "
                         "'calibration' CSV with a 'prompt' column or set 'threshold'");
      }
    }
    threshold = ml::threshold_for_share(std::move(scores), share);
  } else if (calib_field.present()) {
    calib_field.fail("'calibration' is only used with 'strong_share'");
  }
  return std::make_unique<ThresholdRoute>(spec.name, std::move(scorer), weak, strong, threshold);
}

}  // namespace

EvalFamily ThresholdRoute::eval_family() {
  WeakStrongEval family{weak_.name(), strong_.name(), {}};
  if (const ml::GainRouter* gain = scorer_->gain()) {
    family.in_scorer_training = [gain](const std::string& prompt) {
      return gain->is_reference(prompt);
    };
  }
  return family;
}

void register_threshold_kind() { RouteTable::register_kind("threshold", build_threshold_route); }

}  // namespace triage::routes
